"""Send an eval report table to Weights & Biases (`logger=wandb`): offline unless WANDB_API_KEY is set.

`wandb` is imported inside the function, so nothing else in `eval/` needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eval.report import COLUMNS, table_cells


def log_eval_table(
    rows: list[Mapping[str, Any]],
    *,
    project: str,
    run_name: str,
    out_dir: str | Path,
    entity: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> str:
    """Log the report rows as the table `eval/results` plus per-row scalars; returns the W&B mode used."""
    import wandb

    mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=project,
        entity=entity,
        name=run_name,
        dir=str(out_dir),
        mode=mode,
        config=dict(config or {}),
        job_type="eval",
    )
    try:
        table = wandb.Table(columns=list(COLUMNS), data=[table_cells(row) for row in rows])
        scalars: dict[str, Any] = {"eval/results": table}
        for row in rows:
            prefix = f"eval/{row['benchmark']}"
            scalars[f"{prefix}/accuracy"] = row["accuracy"]
            scalars[f"{prefix}/ci_low"] = row["ci_low"]
            scalars[f"{prefix}/ci_high"] = row["ci_high"]
            scalars[f"{prefix}/truncation_rate"] = row["truncation_rate"]
            if row.get("k"):
                scalars[f"{prefix}/pass@{row['k']}"] = row["pass@k"]
                scalars[f"{prefix}/maj@{row['k']}"] = row["maj@k"]
        run.log(scalars)
    finally:
        run.finish()
    return mode
