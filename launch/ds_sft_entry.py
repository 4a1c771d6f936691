"""Torchrun entry for one SFT run under DeepSpeed: `train_sft` on a JSONL of rows with a composed `deepspeed=` group.

    python -m torch.distributed.run --nproc_per_node 2 -m launch.ds_sft_entry \
        --model DIR --rows rows.jsonl --out OUT --deepspeed zero2 --max-steps 4 [hydra overrides ...]

Rows are TRL SFT rows, one JSON object per line (`{"prompt": [...], "completion": [...]}` or `{"text": ...}`).
The `sft` and `deepspeed` groups come from `launch.config_check.compose`, so extra arguments are ordinary
overrides (`sft.per_device_train_batch_size=2`). Every rank writes its summary to `OUT/summary_rank<R>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; anything unrecognised is passed to Hydra as an override."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model directory or hub id")
    parser.add_argument("--rows", required=True, help="JSONL of SFT rows")
    parser.add_argument("--out", required=True, help="output directory (checkpoints/, final/, summaries)")
    parser.add_argument("--deepspeed", default="zero2", help="conf/deepspeed option: none | zero2 | zero3")
    parser.add_argument("--max-steps", type=int, default=None, help="override sft.max_steps")
    parser.add_argument("--sft", default="full", help="conf/sft option")
    parser.add_argument("--dtype", default="float32", help="model load dtype")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    args, overrides = parser.parse_known_args(argv)
    args.overrides = overrides
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Compose the config, train, and write this rank's summary; returns it."""
    import torch

    from launch.config_check import compose
    from sft.train import train_sft

    torch.set_num_threads(args.threads)
    overrides = [f"deepspeed={args.deepspeed}", f"sft={args.sft}", *args.overrides]
    if args.max_steps is not None:
        overrides.append(f"sft.max_steps={args.max_steps}")
    cfg = compose(overrides)
    rows = [json.loads(line) for line in Path(args.rows).read_text(encoding="utf-8").splitlines() if line.strip()]
    sft_cfg = OmegaConf.to_container(cfg.sft, resolve=True)
    ds_cfg = OmegaConf.to_container(cfg.deepspeed.config, resolve=True) if cfg.deepspeed.config is not None else None
    summary = train_sft(
        args.model, rows, args.out, sft_cfg, seed=int(cfg.seed), report_to="none", deepspeed=ds_cfg, dtype=args.dtype
    )
    rank = int(os.environ.get("RANK", "0"))
    summary["rank"] = rank
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"summary_rank{rank}.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    run(parse_args(argv))


if __name__ == "__main__":
    main()
