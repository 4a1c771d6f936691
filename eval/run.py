"""`python -m eval.run model=<checkpoint dir or hub id> benchmark=<name>`: evaluate any checkpoint on one benchmark.

A Hydra entry point with its own config (conf/eval_run.yaml, composing the `benchmark`, `eval` and `logger`
groups). `model=<path>` is an alias of `model_path=<path>` (in the pipeline `model` is a config group; here
it is only the path or hub id to load). One run writes `items.jsonl`, `metrics.json`, `report.md` and
`report.png` to `${out_dir}/<label>/<benchmark>/<eval.name>/`, then rebuilds `${out_dir}/report.{md,png}`
from every run below `${out_dir}`, and sends the table to W&B with `logger=wandb`. Re-running the same
command resumes a killed run at its first unfinished item.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from data.benchmarks import BENCHMARKS, get_spec, load_benchmark
from eval.evaluate import evaluate_items
from eval.report import collect_rows, markdown_table, summary_row, write_report

log = logging.getLogger("eval.run")
USAGE = "python -m eval.run model=<checkpoint dir or hub id> benchmark=<name> [eval=greedy|sample] [key=value ...]"


_GENERIC = re.compile(r"^(final|sft|model|checkpoints)$")
_CHECKPOINT = re.compile(r"^checkpoint-\d+$")


def default_label(model_path: str) -> str:
    """A folder-safe name for a model: a hub id's `org__name`; for a local checkpoint the last two path parts
    before generic ones (`outputs/shared/sft/ab12/final` -> `sft__ab12`), plus the step of a
    trainer checkpoint, so checkpoints of one run get their own labels (`.../rl/ab12/checkpoints/checkpoint-150`
    -> `rl__ab12__checkpoint-150`)."""
    path = Path(model_path).expanduser()
    if path.exists():
        parts = [p for p in path.resolve().parts if p != "/"]
        step = [parts.pop()] if len(parts) > 1 and _CHECKPOINT.match(parts[-1]) else []
        while len(parts) > 1 and _GENERIC.match(parts[-1]):
            parts.pop()
        parts = parts[-2:] + step
    else:
        parts = [p for p in model_path.split("/") if p]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(parts)) or "model"


def eval_config(cfg: DictConfig) -> dict[str, Any]:
    """The eval settings of this run: the `eval` group, the benchmark's token budget and limit filled in."""
    settings = OmegaConf.to_container(cfg.eval, resolve=True)
    bench = cfg.benchmark
    if settings["max_new_tokens"] is None:
        settings["max_new_tokens"] = int(bench.max_new_tokens)
    limits = [v for v in (settings["limit"], bench.limit) if v is not None]
    settings["limit"] = min(limits) if limits else None
    settings.update(benchmark=str(bench.name), label=cfg.label or default_label(str(cfg.model_path)), report=False)
    return settings


def run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate `cfg.model_path` on `cfg.benchmark`; write the run's and the gathered reports; return the summary."""
    if cfg.threads:
        import torch

        torch.set_num_threads(int(cfg.threads))
    get_spec(str(cfg.benchmark.name))  # an unknown name fails here, listing the valid ones
    settings = eval_config(cfg)
    items = load_benchmark(str(cfg.benchmark.name), path=cfg.benchmark.path)
    run_dir = Path(cfg.out_dir) / settings["label"] / settings["benchmark"] / str(settings["name"])
    log.info(
        "evaluating %s on %s (%d items, limit %s%s) into %s",
        cfg.model_path,
        settings["benchmark"],
        len(items),
        settings["limit"],
        ", quick: 5 items" if settings["quick"] else "",
        run_dir,
    )
    summary = evaluate_items(str(cfg.model_path), items, run_dir, settings)
    row = summary_row(summary)
    write_report([row], run_dir, title=f"{settings['label']} on {settings['benchmark']}")
    rows = collect_rows(cfg.out_dir)
    paths = write_report(rows, cfg.out_dir, title=f"eval: {cfg.run_name}")
    if cfg.logger.report_to == "wandb":
        from eval.wandb_log import log_eval_table

        mode = log_eval_table(
            [row],
            project=str(cfg.logger.project),
            entity=cfg.logger.entity,
            run_name=f"eval-{settings['label']}-{settings['benchmark']}-{settings['name']}",
            out_dir=run_dir,
            config={**settings, "model_path": str(cfg.model_path)},
        )
        log.info("W&B (%s): table eval/results logged", mode)
    print(markdown_table([row]), end="")
    log.info("gathered report of %d runs: %s", len(rows), paths["markdown"])
    return summary


@hydra.main(config_path="../conf", config_name="eval_run", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, Any]:
    logging.getLogger().setLevel(logging.INFO)
    return run(cfg)


def rewrite_argv(argv: list[str]) -> list[str]:
    """`model=<x>` (and `+model=<x>`) becomes `model_path=<x>`; every other argument is kept."""
    return [re.sub(r"^\+?model=", "model_path=", arg) for arg in argv]


def cli() -> None:
    """Check that a model is named, map the `model=` alias, then hand over to Hydra."""
    argv = rewrite_argv(sys.argv[1:])
    if not any(arg.startswith("model_path=") for arg in argv) and not any(
        a in ("--help", "-h", "--cfg", "-c", "--info") for a in argv
    ):
        print(
            f"error: name the checkpoint to evaluate: {USAGE}\nvalid benchmarks: {sorted(BENCHMARKS)}", file=sys.stderr
        )
        raise SystemExit(2)
    sys.argv = [sys.argv[0], *argv]
    main()


if __name__ == "__main__":
    cli()
