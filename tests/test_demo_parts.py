"""The demo's pieces that need no training: which stages are shared, GRPO's pass-rate curve read from the rl stage's
log history, the PNG with both panels, and the child processes' quiet environment."""

from __future__ import annotations

import json
from pathlib import Path

from launch import demo
from launch.config_check import compose


def test_demo_runs_base_and_redistill_by_default():
    conditions = list(compose([]).demo.conditions)
    assert conditions[0] == "base" and {"redistill", "trace_sft", "answer_only_sft", "grpo", "sft_grpo"} <= set(
        conditions
    )


def test_shared_stages_are_those_some_condition_needs():
    assert demo.shared_stages({"base": ["data", "base", "eval"]}) == ["data", "base"]
    plans = {"base": ["data", "base", "eval"], "trace_sft": ["data", "base", "teacher", "sft", "eval"]}
    assert demo.shared_stages(plans) == ["data", "base", "teacher"]


def test_pass_rate_curve_reads_the_rl_log_history(tmp_path: Path):
    rl = tmp_path / "rl" / "abc"
    (rl / "final").mkdir(parents=True)
    history = [
        {"step": 1, "reward": 0.2, "signals/correctness_reward/pass_rate": 0.1},
        {"step": 2, "loss": 0.3},  # not a GRPO training log
        {"step": 3, "reward": 0.4, "signals/correctness_reward/pass_rate": 0.25},
    ]
    (rl / "log_history.json").write_text(json.dumps(history))
    assert demo.pass_rate_curve(str(rl / "final")) == [(1, 0.1), (3, 0.25)]
    assert demo.pass_rate_curve(None) == [] and demo.pass_rate_curve(str(tmp_path / "nowhere" / "final")) == []


def test_plot_has_accuracy_and_pass_rate(tmp_path: Path):
    row = {"accuracy": 0.3, "n_eval": 40}
    table = {"base": {**row, "accuracy": 0.0}, "trace_sft": row, "sft_grpo": row}
    png = tmp_path / "results.png"
    demo.plot_results(table, png, {"redistill, sft_grpo": [(1, 0.1), (2, 0.2)]})
    with_curve = png.stat().st_size
    demo.plot_results(table, png)
    assert with_curve > png.stat().st_size > 1000  # the second panel is drawn only when a GRPO run logged


def test_children_run_without_progress_bars():
    assert demo.QUIET_ENV["TQDM_DISABLE"] == "1" and demo.QUIET_ENV["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1"
