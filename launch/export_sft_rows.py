"""`python -m launch.export_sft_rows --out rows.jsonl condition=trace_sft [overrides]`: write a condition's SFT rows.

Runs the pipeline's data stage (and, for trace conditions, its teacher stage), cached under
`${output_root}/shared/` exactly as `launch.pipeline` would, and writes the condition's SFT rows as the JSONL that
`launch.ds_sft_entry --rows` reads. The sft_multinode Slurm recipe runs it on the first node when `recipe.rows`
is null.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from data.jsonl_io import write_jsonl_atomic
from launch.config_check import ConfigError, compose, group_options

SFT_DATA = ("answer_only", "trace")


def export_rows(cfg: DictConfig, out: str | Path) -> int:
    """Build the data (and teacher) stage for `cfg`, write `cfg.condition`'s SFT rows to `out`; return the count."""
    from launch import stages

    mode = cfg.condition.get("sft_data")
    if mode not in SFT_DATA:
        raise ConfigError(
            f"condition {cfg.condition.name!r} has no SFT rows (condition.sft_data={mode!r}); "
            f"valid: a condition whose sft_data is one of {list(SFT_DATA)}, e.g. answer_only_sft, trace_sft"
        )
    data_dir = stages.stage_data(cfg)
    traces_dir = stages.stage_teacher(cfg, data_dir) if mode == "trace" else None
    rows = stages.sft_rows(cfg, data_dir, traces_dir)
    if not rows:
        raise ValueError(
            f"condition {cfg.condition.name!r} produced no SFT rows (teacher {cfg.teacher.name!r} "
            "verified no trace?); nothing to train on"
        )
    return write_jsonl_atomic(out, rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSONL to write (its parent folder is created)")
    args, overrides = parser.parse_known_args(argv)
    bad = [o for o in overrides if "=" not in o]
    try:
        if bad:
            raise ConfigError(
                f"unexpected arguments {bad}; valid: --out PATH and key=value overrides "
                f"(e.g. condition=<{' | '.join(group_options('condition'))}>)"
            )
        n = export_rows(compose(overrides), args.out)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"wrote {n} SFT rows to {args.out}")


if __name__ == "__main__":
    main()
