"""`python -m launch.pipeline condition=<name>`: run one condition's stages, in the order its YAML lists them, for
one seed.

`conf/condition/<name>.yaml` lists the stages (data, base, teacher, sft, kd, rl, rl_budget, sft_more,
policy_traces, redistill_sft, eval_round, eval; declared in launch/conditions.py). Every stage writes its own
folder and a `summary.json`; a stage whose output is complete for the same config is skipped, so a killed run
resumes where it stopped. Hydra multirun (`-m condition=a,b seed=0,1,2`, or `-m +sweep=toy`) sweeps conditions
and seeds; the `SweepResults` callback (launch/sweep_report.py) then writes the aggregated table. Every run summary
carries its stage seconds and cost (launch/cost.py).

Under torchrun / accelerate with several processes every rank runs this command: the training stages run on every
rank together, the others on global rank 0 while the rest wait (launch/conditions.py `run_on_ranks`); only rank 0
writes summaries, checkpoints and the W&B run.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from launch import stages
from launch.conditions import RunContext, plan_stages, run_on_ranks, select_stages
from launch.config_check import ConfigError, compose, validate_config
from launch.cost import run_cost
from launch.provenance import provenance
from launch.quiet_output import QUIET_ENV, local_multirun_job, output_to_file
from launch.stage_state import write_summary
from launch.sweep_report import config_fingerprint
from sft import distributed

log = logging.getLogger("launch.pipeline")


def run_condition(cfg: DictConfig) -> dict[str, Any]:
    """Run the stages of `cfg.condition` in order and return the run's summary (also written to its folder when
    every stage ran). The config and the stage list are checked before any stage starts."""
    import torch

    validate_config(cfg)
    plan = plan_stages(cfg)
    selected = select_stages(plan, list(cfg.only_stages or []), cfg)
    if distributed.init():  # torchrun / accelerate: every rank runs this command
        log.info("rank %d of %d", distributed.rank(), distributed.world_size())
    torch.manual_seed(int(cfg.seed))
    ctx = RunContext(cfg)
    ctx.result.update(condition=cfg.condition.name, seed=int(cfg.seed), config_fingerprint=config_fingerprint(cfg))
    for stage in selected:
        torch.set_num_threads(stage.threads(cfg))
        run_on_ranks(stage, ctx)
    torch.set_num_threads(int(cfg.threads))
    ctx.result.update(model_path=ctx.model_path, stage_seconds=ctx.seconds)
    ctx.result.update(
        run_cost(
            ctx.seconds,
            stages._plain(cfg.cost),
            threads=int(cfg.threads),
            teacher_accounting=ctx.result.get("teacher_accounting"),
        )
    )
    ctx.result["provenance"] = provenance(int(cfg.threads))  # commit, package versions, CPU, threads
    if len(selected) == len(plan) and distributed.is_main():
        write_summary(stages.run_dir(cfg), "run", ctx.result)
    log.info("result: %s", ctx.result)
    return ctx.result


def run_with_logger(cfg: DictConfig) -> dict[str, Any]:
    """`run_condition` inside one W&B run per condition and seed when `logger=wandb` (on the main rank only)."""
    if cfg.logger.report_to != "wandb":
        return run_condition(cfg)
    from launch.wandb_run import start_run

    stages.report_to(cfg)  # WANDB_* defaults (offline without a key, project, group)
    if not distributed.is_main():  # torchrun: the trainers' W&B callback and this run live on rank 0 only
        return run_condition(cfg)
    run = start_run(
        OmegaConf.to_container(cfg, resolve=True),
        project=cfg.logger.project,
        entity=cfg.logger.get("entity"),
        group=str(cfg.run_name),
        name=f"{cfg.condition.name}-seed{cfg.seed}",
        tags=[str(cfg.condition.name), f"seed{cfg.seed}"],
        out_dir=str(stages.run_dir(cfg).resolve()),
    )
    try:
        result = run_condition(cfg)
        if "accuracy" in result:
            run.summary.update(
                {
                    "eval/accuracy": result["accuracy"],
                    "cost/wall_seconds": result["wall_seconds"],
                    "cost/gpu_hours": result["gpu_hours"],
                    "cost/price_usd": result["price_usd"],
                    "cost/teacher_usd": result["teacher_usd"],
                    "cost/total_usd": result["total_usd"],
                }
            )
        return result
    finally:
        run.finish()


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, Any]:
    logging.getLogger().setLevel(logging.INFO)
    job = local_multirun_job()
    if job is None:
        return _run_logged(cfg)
    job_dir, label = job  # jobs of a local sweep share the terminal: each writes its output to its own folder
    with output_to_file(job_dir / "output.log", label):
        return _run_logged(cfg)


def _run_logged(cfg: DictConfig) -> dict[str, Any]:
    log.info("config:\n%s", OmegaConf.to_yaml(cfg))
    try:
        return run_with_logger(cfg)
    except Exception:  # the traceback lands in the job's own log too (a Slurm job's .err), not only the launcher's
        log.exception("run %s seed %s failed", cfg.condition.name, cfg.seed)
        raise


def cli() -> None:
    """Check the config and the condition's stage list first (one clear line, exit 2), then hand over to Hydra."""
    overrides = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]
    if "-m" in sys.argv or "--multirun" in sys.argv:  # each job checks its own config when it starts
        os.environ.update(QUIET_ENV)  # no progress bars in the jobs' output files (read by the worker processes)
    else:
        try:
            plan_stages(compose(overrides))
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
    main()


if __name__ == "__main__":
    cli()
