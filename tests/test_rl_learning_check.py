"""rl.learning_check: the verdict on a GRPO run's training pass rate, from synthetic and real log histories."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from rl.learning_check import PASS_RATE, describe, learning_verdict


def history(values, key=PASS_RATE, zero_std=None):
    logs = [{"step": 5 * (i + 1), "reward": 0.2 + v, key: v} for i, v in enumerate(values)]
    if zero_std is not None:
        for entry in logs:
            entry["signals/reward/zero_std_frac"] = zero_std
    return [{"step": 0, "train_runtime": 1.0}] + logs + [{"train_loss": 0.1}]


def noisy(mean_start, mean_end, n=30, noise=0.015, seed=0):
    rng = random.Random(seed)
    return [mean_start + (mean_end - mean_start) * i / (n - 1) + rng.gauss(0, noise) for i in range(n)]


def test_rising_pass_rate_is_improving_and_noise_around_a_constant_is_flat():
    up = learning_verdict(history(noisy(0.04, 0.34), zero_std=0.6))
    assert up["verdict"] == "improving" and up["metric"] == PASS_RATE and up["n_points"] == 30
    assert up["late"] - up["early"] == pytest.approx(up["delta"]) and up["delta"] > 0.15 and up["zero_std_frac"] == 0.6
    for seed in range(10):
        assert learning_verdict(history(noisy(0.065, 0.065, seed=seed)))["verdict"] == "flat", seed
    assert learning_verdict(history(noisy(0.3, 0.05)))["verdict"] == "declining"


def test_short_or_signal_free_runs_get_no_false_verdict():
    assert learning_verdict(history([0.1, 0.2, 0.3]))["verdict"] == "too_short"
    assert learning_verdict([])["verdict"] == "too_short"
    # every group all-wrong (pure GRPO from the toy base): constant 0 is flat, not an error
    zero = learning_verdict(history([0.0] * 12, zero_std=1.0))
    assert zero["verdict"] == "flat" and zero["t"] == 0.0 and zero["zero_std_frac"] == 1.0
    step = learning_verdict(history([0.0] * 6 + [0.5] * 6))  # zero variance inside each third, a real rise
    assert step["verdict"] == "improving" and math.isinf(step["t"])
    assert "improving" in describe(step) and "too_short" not in describe(step)
    assert "no verdict" in describe(learning_verdict(history([0.1])))


def test_falls_back_to_the_summed_reward_without_the_pass_rate_signal():
    verdict = learning_verdict(history(noisy(0.1, 0.6), key="unused"))
    assert verdict["metric"] == "reward" and verdict["verdict"] == "improving"
    assert "reward improving" in describe(verdict)


def test_verdict_of_a_real_short_grpo_run_is_in_its_summary(tiny_model_dir, tmp_path):
    from rl.train import train_grpo
    from tests.test_rl_train import SPEC, grpo_rows, rl_cfg

    summary = train_grpo(
        tiny_model_dir, grpo_rows(4), tmp_path, rl_cfg("grpo", "rl.max_steps=2", "rl.save_steps=2"), SPEC, use_cpu=True
    )
    logged = json.loads(Path(tmp_path / "log_history.json").read_text())
    assert summary["learning"] == json.loads(json.dumps(learning_verdict(logged)))
    assert summary["learning"]["n_points"] == 2 and summary["learning"]["verdict"] == "too_short"
