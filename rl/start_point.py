"""Where GRPO starts: a full model folder or hub id as it is, or a PEFT adapter folder merged into its base first
(so a LoRA GRPO run trains a new adapter on top of the merged SFT model, never on top of the SFT adapter)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from data.hub import load_model, load_tokenizer

log = logging.getLogger(__name__)


def is_adapter_dir(path: str | Path) -> bool:
    """True for a folder holding a PEFT adapter (adapter_config.json) rather than a full model."""
    return (Path(path) / "adapter_config.json").exists()


def resolve_start(model_path: str, out_dir: str | Path, dtype: str = "float32") -> str:
    """`model_path`, or (for an adapter) the adapter merged into its base, saved once to `<out_dir>/start`."""
    if not is_adapter_dir(model_path):
        return model_path
    merged = Path(out_dir) / "start"
    if (merged / "config.json").exists():
        return str(merged)
    from peft import PeftModel

    base = json.loads((Path(model_path) / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(
            f"adapter {model_path!r} names no base_model_name_or_path; merge it first or pass the full model"
        )
    log.info("start point: merging adapter %s into %s", model_path, base)
    model = PeftModel.from_pretrained(load_model(base, dtype=dtype), model_path).merge_and_unload()
    model.save_pretrained(str(merged))
    tokenizer_src = model_path if (Path(model_path) / "tokenizer_config.json").exists() else base
    load_tokenizer(tokenizer_src).save_pretrained(str(merged))
    return str(merged)
