"""One W&B run per condition and seed (`logger=wandb`): grouped by run name, tagged, resolved config redacted.

The run is opened before the trainers start, so TRL's and transformers' W&B callbacks log into it (SFT, GRPO
completions tables) and the eval stage adds its table; offline unless `WANDB_API_KEY` is set. Secrets never
reach W&B: any config key that names a key, token, secret or password is replaced, and so is any value equal
to a secret-looking environment variable.
"""

from __future__ import annotations

import os
import re
from typing import Any

SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential)", re.IGNORECASE)
REDACTED = "***redacted***"


def _secret_values() -> set[str]:
    return {v for k, v in os.environ.items() if SECRET_KEY.search(k) and len(v) >= 8}


def redact(value: Any, secrets: set[str] | None = None) -> Any:
    """`value` (nested dicts / lists) with secret-named keys and secret environment values replaced."""
    secrets = _secret_values() if secrets is None else secrets
    if isinstance(value, dict):
        return {
            k: (
                REDACTED
                if SECRET_KEY.search(str(k)) and not str(k).endswith("_env") and v is not None
                else redact(v, secrets)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str) and any(s in value for s in secrets):
        for s in secrets:
            value = value.replace(s, REDACTED)
    return value


def start_run(
    config: dict[str, Any], *, project: str, entity: str | None, group: str, name: str, tags: list[str], out_dir: str
) -> Any:
    """Open the condition's W&B run with the redacted resolved `config`; returns the run (call `.finish()`)."""
    import wandb

    mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    os.makedirs(out_dir, exist_ok=True)
    return wandb.init(
        project=project,
        entity=entity,
        group=group,
        name=name,
        tags=tags,
        dir=out_dir,
        mode=mode,
        config=redact(config),
        reinit="finish_previous",
    )
