"""The `grpo` and `sft_grpo` conditions through launch.pipeline on a tiny budget: the rl stage runs from the right
start point, writes its (shared, per-seed) folder and summary, feeds eval, and is skipped when re-run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests._presets import TINY_PIPELINE

ROOT = Path(__file__).resolve().parents[1]
SMALL = TINY_PIPELINE


@pytest.mark.slow
@pytest.mark.parametrize("condition", ["grpo", "sft_grpo"])
def test_rl_conditions_run_and_resume(condition, tmp_path):
    cmd = [sys.executable, "-m", "launch.pipeline", f"condition={condition}", f"output_root={tmp_path}", *SMALL]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "default" / condition / "seed0"
    result = json.loads((run / "summary.json").read_text())
    rl_dir = Path(result["rl_path"]).parent
    assert rl_dir.parent == tmp_path / "shared" / "rl"
    rl = json.loads((rl_dir / "summary.json").read_text())
    assert result["rl_steps"] == rl["steps"] == 2 and result["model_path"] == rl["model_path"]
    assert result["rl_learning"] == rl["learning"] and rl["learning"]["log_verdict"] == "too_short"  # 2 logged steps
    assert rl["learning"]["verdict"] == rl["learning"]["probe"]["verdict"] in ("improving", "flat", "declining")
    assert result["n_eval"] == 8 and 0.0 <= result["accuracy"] <= 1.0
    assert json.loads((run / "eval" / "summary.json").read_text())["model_path"] == rl["model_path"]
    if condition == "grpo":  # pure GRPO starts from the toy base model
        assert "/shared/base/" in rl["start_path"] and "sft_steps" not in result
    else:  # SFT -> GRPO starts from the SFT stage's model
        sft_dirs = list((tmp_path / "shared" / "sft").glob("*/final"))
        assert [rl["start_path"]] == [str(d) for d in sft_dirs] and result["sft_steps"] == 2
        teacher = result["teacher_accounting"]["total"]  # the teacher's traces and tokens reach the run summary
        assert teacher["n_traces"] == 2 * 60 and 0 < teacher["n_verified"] < teacher["n_traces"]
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((rl_dir / "summary.json").read_text()) == rl  # complete: not trained again
    assert result["stage_seconds"]["rl"] > 0 and result["wall_seconds"] >= result["stage_seconds"]["rl"]
    assert result["gpu_hours"] == 0.0 and result["price_usd"] == 0.0  # CPU: no GPU-hours charged


@pytest.mark.slow
def test_sft_control_continues_sft_for_the_seconds_grpo_took(tmp_path):
    import math

    from launch.config_check import compose
    from launch.pipeline import run_condition
    from launch.stage_state import read_summary

    cfg = compose(["condition=sft_control", f"output_root={tmp_path}", *SMALL])
    result = run_condition(cfg)
    sft_dirs = sorted((tmp_path / "shared" / "sft").iterdir(), key=lambda p: p.stat().st_mtime)
    first, more = [read_summary(p) for p in sft_dirs if p.is_dir()]
    rl = read_summary(next(p for p in (tmp_path / "shared" / "rl").iterdir() if p.is_dir()))
    assert rl["start_path"] == first["model_path"]  # the GRPO run it is matched against: sft_grpo's
    expected = math.ceil(rl["train_seconds"] / (first["train_seconds"] / first["steps"]))
    assert result["sft_more_steps"] == more["steps"] == max(1, expected)
    assert result["model_path"] == more["model_path"] and "accuracy" in result
    assert result["stage_seconds"].keys() >= {"sft", "sft_more", "eval"} and "rl" not in result["stage_seconds"]
    # sft_grpo of the same seed reuses that GRPO run instead of training again
    again = run_condition(compose(["condition=sft_grpo", f"output_root={tmp_path}", *SMALL]))
    assert again["rl_path"] == rl["model_path"]


def test_continue_sft_changes_only_the_control_sft_recipe(tmp_path):
    """`condition.continue_sft` keys reach the continued SFT's config (with the GRPO-matched step count); the
    first SFT's recipe is untouched and an unknown key is refused, naming it."""
    from launch import stages
    from launch.config_check import compose

    cfg = compose(
        [
            "condition=sft_control",
            "+condition.continue_sft.learning_rate=6e-4",
            "+condition.continue_sft.warmup_steps=0",
            f"output_root={tmp_path}",
        ]
    )
    first = {"model_path": "sft", "train_seconds": 4.0, "steps": 8}  # 0.5 s per step -> 20 steps for 10 s of GRPO
    more, extra = stages.continued_sft_config(cfg, first, 10.0)
    assert extra == 20 == more.sft.max_steps and more.sft.save_steps == min(cfg.sft.save_steps, 20)
    assert more.sft.learning_rate == 6e-4 and more.sft.warmup_steps == 0
    assert more.sft.lr_scheduler_type == cfg.sft.lr_scheduler_type and cfg.sft.learning_rate == 2e-3
    resumed = {**first, "steps": 16, "steps_this_run": 8}  # a resumed run: seconds per step of its last run
    assert stages.continued_sft_config(cfg, resumed, 10.0)[1] == 20
    with pytest.raises(ValueError, match="learnig_rate"):  # refused when the config is composed
        compose(["condition=sft_control", "+condition.continue_sft.learnig_rate=1e-4", f"output_root={tmp_path}"])
    cfg.condition.continue_sft = {"learnig_rate": 1e-4}  # and by the stage, for a config built in code
    with pytest.raises(ValueError, match="learnig_rate"):
        stages.continued_sft_config(cfg, first, 10.0)
