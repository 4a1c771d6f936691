"""`python -m launch.pipeline condition=<name>`: run one condition's stages in order for one seed.

data → base → teacher → sft → (kd) → rl → (redistill) → eval, as listed in `conf/condition/<name>.yaml`. Every stage writes its own
folder and a `summary.json`; a stage whose output is complete for the same config is skipped, so a killed
run resumes where it stopped. Hydra multirun (`-m condition=a,b seed=0,1,2`, or `-m +sweep=toy`) sweeps conditions
and seeds; the `SweepResults` callback (launch/sweep_report.py) then writes the aggregated table. Every run summary
carries its stage seconds and cost (launch/cost.py).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from launch import stages
from launch.config_check import ConfigError, compose
from launch.cost import run_cost
from launch.stage_state import read_summary, write_summary
from launch.sweep_report import config_fingerprint

log = logging.getLogger("launch.pipeline")
KNOWN_STAGES = ("data", "base", "teacher", "sft", "kd", "sft_more", "rl", "redistill", "eval")


def _check_stages(cfg: DictConfig) -> list[str]:
    wanted = list(cfg.condition.stages)
    unknown = [s for s in wanted if s not in KNOWN_STAGES]
    if unknown:
        raise ConfigError(
            f"condition {cfg.condition.name!r} lists unknown stages {unknown}; valid: {list(KNOWN_STAGES)}"
        )
    if "kd" in wanted and "sft" not in wanted and not cfg.kd.teacher:
        raise ConfigError(
            f"condition {cfg.condition.name!r} runs 'kd' without an 'sft' stage to train its teacher; "
            "set kd.teacher=<model path or hub id>"
        )
    if "redistill" in wanted and "rl" not in wanted:
        raise ConfigError(f"condition {cfg.condition.name!r} runs 'redistill' without an 'rl' stage before it")
    return wanted


def run_condition(cfg: DictConfig) -> dict[str, Any]:
    """Run the stages of `cfg.condition` and return the run's summary (also written to its folder)."""
    import torch

    torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(int(cfg.seed))
    wanted = _check_stages(cfg)
    only = list(cfg.only_stages) if cfg.only_stages else wanted
    result: dict[str, Any] = {
        "condition": cfg.condition.name,
        "seed": int(cfg.seed),
        "config_fingerprint": config_fingerprint(cfg),
    }
    seconds: dict[str, float] = {}

    data_dir = stages.stage_data(cfg)
    if not any(s in only for s in KNOWN_STAGES[1:]):
        return result
    model_path = stages.stage_base(cfg, data_dir) if "base" in wanted else str(cfg.model.name_or_path)
    base_path = model_path
    traces_dir = None
    if "teacher" in wanted and ("teacher" in only or "sft" in only or "kd" in only):
        traces_dir = stages.stage_teacher(cfg, data_dir)
        teacher_summary = read_summary(traces_dir) or {}
        seconds["teacher"] = float(teacher_summary.get("seconds") or 0.0)
        if teacher_summary.get("accounting"):  # tokens and estimated price per teacher
            result["teacher_accounting"] = teacher_summary["accounting"]
    if "sft" in wanted and "sft" in only:
        rows, filter_report = stages.sft_examples(cfg, data_dir, traces_dir)
        if filter_report is not None:
            result["filter_report"] = filter_report
        sft = stages.stage_sft(cfg, model_path, rows)
        model_path = sft["model_path"]
        seconds["sft"] = float(sft.get("seconds") or sft["train_seconds"])
        result["train_seconds"] = sft["train_seconds"]
        result["sft_steps"] = sft["steps"]
        if "kd" in wanted and "kd" in only:  # the trace-SFT model is the KD teacher unless kd.teacher names one
            kd = stages.stage_kd(cfg, base_path, str(cfg.kd.teacher or model_path), rows)
            model_path = kd["model_path"]
            seconds["kd"] = float(kd.get("seconds") or kd["train_seconds"])
            result["kd_teacher"] = str(cfg.kd.teacher or sft["model_path"])
            result["train_seconds"] += kd["train_seconds"]
            result["kd_steps"] = kd["steps"]
        if "sft_more" in wanted and "sft_more" in only:  # the equal-compute control of sft_grpo
            more = stages.stage_sft_more(cfg, sft, rows, data_dir)
            model_path = more["model_path"]
            seconds["sft_more"] = float(more.get("seconds") or more["train_seconds"])
            result["train_seconds"] += more["train_seconds"]
            result["sft_more_steps"] = more["extra_steps"]
            result["matched_rl_seconds"] = more["matched_rl_seconds"]
    if "rl" in wanted and "rl" in only:
        rl = stages.stage_rl(cfg, model_path, data_dir)
        model_path = rl["model_path"]
        seconds["rl"] = float(rl.get("seconds") or rl["train_seconds"])
        result["rl_seconds"] = rl["train_seconds"]
        result["train_seconds"] = result.get("train_seconds", 0.0) + rl["train_seconds"]  # SFT + GRPO
        result["rl_steps"] = rl["steps"]
        result["rl_path"] = rl["model_path"]
        result["rl_learning"] = rl.get("learning")  # did the training pass rate rise? (rl.learning_check)
    if "redistill" in wanted and "redistill" in only:
        redistill = stages.stage_redistill(cfg, base_path, model_path, data_dir, traces_dir)
        model_path = redistill["model_path"]
        result["rounds"] = redistill["rounds"]
        for entry in redistill["rounds"]:
            r = entry["round"]
            seconds[f"redistill:sample{r}"] = float(entry["seconds"])
            seconds[f"redistill:sft{r}"] = float(entry["sft_seconds"])
        result["train_seconds"] = result.get("train_seconds", 0.0) + sum(e["sft_seconds"] for e in redistill["rounds"])
    if "eval" in wanted and "eval" in only:
        summary = stages.stage_eval(cfg, model_path, data_dir)
        seconds["eval"] = float(summary.get("seconds") or 0.0)
        result.update(
            accuracy=summary["accuracy"], n_eval=summary["n_eval"], truncation_rate=summary["truncation_rate"]
        )
        if summary.get("trace_shape"):  # equations written and steps skipped (eval.trace_shape)
            result["trace_shape"] = summary["trace_shape"]
    result["model_path"] = model_path
    result["stage_seconds"] = seconds
    result.update(run_cost(seconds, stages._plain(cfg.cost), threads=int(cfg.threads)))
    if set(only) >= set(wanted):
        write_summary(stages.run_dir(cfg), "run", result)
    log.info("result: %s", result)
    return result


def run_with_logger(cfg: DictConfig) -> dict[str, Any]:
    """`run_condition` inside one W&B run per condition and seed when `logger=wandb`."""
    if cfg.logger.report_to != "wandb":
        return run_condition(cfg)
    from launch.wandb_run import start_run

    stages.report_to(cfg)  # WANDB_* defaults (offline without a key, project, group)
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
                }
            )
        return result
    finally:
        run.finish()


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, Any]:
    logging.getLogger().setLevel(logging.INFO)
    log.info("config:\n%s", OmegaConf.to_yaml(cfg))
    try:
        return run_with_logger(cfg)
    except Exception:  # the traceback lands in the job's own log too (a Slurm job's .err), not only the launcher's
        log.exception("run %s seed %s failed", cfg.condition.name, cfg.seed)
        raise


def cli() -> None:
    """Validate the overrides first (clear errors), then hand over to Hydra."""
    overrides = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]
    if "-m" not in sys.argv and "--multirun" not in sys.argv:
        try:
            compose(overrides)
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
    main()


if __name__ == "__main__":
    cli()
