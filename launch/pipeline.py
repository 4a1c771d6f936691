"""`python -m launch.pipeline condition=<name>`: run one condition's stages in order for one seed.

data → base → teacher → sft → rl → eval, as listed in `conf/condition/<name>.yaml`. Every stage writes its own
folder and a `summary.json`; a stage whose output is complete for the same config is skipped, so a killed
run resumes where it stopped. Hydra multirun (`-m condition=a,b seed=0,1,2`) sweeps conditions and seeds.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from launch import stages
from launch.config_check import ConfigError, compose
from launch.stage_state import write_summary

log = logging.getLogger("launch.pipeline")
KNOWN_STAGES = ("data", "base", "teacher", "sft", "rl", "eval")


def run_condition(cfg: DictConfig) -> dict[str, Any]:
    """Run the stages of `cfg.condition` and return the run's summary (also written to its folder)."""
    import torch

    torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(int(cfg.seed))
    wanted = list(cfg.condition.stages)
    unknown = [s for s in wanted if s not in KNOWN_STAGES]
    if unknown:
        raise ConfigError(f"condition {cfg.condition.name!r} lists unknown stages {unknown}; valid: {list(KNOWN_STAGES)}")
    only = list(cfg.only_stages) if cfg.only_stages else wanted
    result: dict[str, Any] = {"condition": cfg.condition.name, "seed": int(cfg.seed)}

    data_dir = stages.stage_data(cfg)
    if "base" not in only and "sft" not in only and "eval" not in only and "teacher" not in only and "rl" not in only:
        return result
    model_path = stages.stage_base(cfg, data_dir) if "base" in wanted else str(cfg.model.name_or_path)
    traces_dir = stages.stage_teacher(cfg, data_dir) if "teacher" in wanted and ("teacher" in only or "sft" in only) else None
    if "sft" in wanted and "sft" in only:
        sft = stages.stage_sft(cfg, model_path, stages.sft_rows(cfg, data_dir, traces_dir))
        model_path = sft["model_path"]
        result["train_seconds"] = sft["train_seconds"]
        result["sft_steps"] = sft["steps"]
    if "rl" in wanted and "rl" in only:
        rl = stages.stage_rl(cfg, model_path, data_dir)
        model_path = rl["model_path"]
        result["rl_seconds"] = rl["train_seconds"]
        result["train_seconds"] = result.get("train_seconds", 0.0) + rl["train_seconds"]  # SFT + GRPO
        result["rl_steps"] = rl["steps"]
    if "eval" in wanted and "eval" in only:
        summary = stages.stage_eval(cfg, model_path, data_dir)
        result.update(accuracy=summary["accuracy"], n_eval=summary["n_eval"],
                      truncation_rate=summary["truncation_rate"])
    result["model_path"] = model_path
    if set(only) >= set(wanted):
        write_summary(stages.run_dir(cfg), "run", result)
    log.info("result: %s", result)
    return result


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, Any]:
    logging.getLogger().setLevel(logging.INFO)
    log.info("config:\n%s", OmegaConf.to_yaml(cfg))
    return run_condition(cfg)


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
