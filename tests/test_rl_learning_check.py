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
    probe = summary["learning"]["probe"]  # the preset's learning probe, on all 4 prompts (fewer than n_prompts)
    assert probe["n_prompts"] == 4 and probe["verdict"] in ("improving", "flat", "declining")
    cached = json.loads((tmp_path / "learning_probe.json").read_text())
    assert len(cached["start"]) == len(cached["end"]) == 4
    assert summary["learning"] == json.loads(json.dumps(learning_verdict(logged, probe=probe)))
    assert summary["learning"]["n_points"] == 2 and summary["learning"]["log_verdict"] == "too_short"
    assert summary["learning"]["verdict"] == probe["verdict"]


def test_paired_probe_sees_a_rise_that_prompt_difficulty_hides():
    """Per-prompt pass rates spread over 0..1 (difficulty) with every prompt up 6 points: the paired verdict reads
    `improving`, while the same numbers as unpaired thirds of a log history read `flat`."""
    from rl.learning_probe import paired_verdict

    rng = random.Random(0)
    before = [rng.choice([0.0, 0.125, 0.25, 0.5, 0.875]) for _ in range(64)]
    after = [min(1.0, b + rng.choice([0.0, 0.125])) for b in before]
    rise = paired_verdict(before, after)
    assert rise["verdict"] == "improving" and rise["n_prompts"] == 64 and rise["delta"] > 0
    assert learning_verdict(history(before[:30] + after[:30]))["verdict"] == "flat"
    assert paired_verdict(before, before)["verdict"] == "flat"
    assert paired_verdict(after, before)["verdict"] == "declining"
    assert paired_verdict([0.5], [0.6])["verdict"] == "too_short"
    with pytest.raises(ValueError, match="3 start rates against 2 end rates"):
        paired_verdict([0.1] * 3, [0.1] * 2)


def test_probe_verdict_replaces_the_log_verdict_and_both_are_described():
    from rl.learning_probe import paired_verdict

    probe = paired_verdict([0.1, 0.2, 0.0, 0.3] * 8, [0.3, 0.4, 0.25, 0.5] * 8)
    verdict = learning_verdict(history(noisy(0.065, 0.065)), probe=probe)
    assert verdict["verdict"] == "improving" and verdict["log_verdict"] == "flat" and verdict["probe"] == probe
    line = describe(verdict)
    assert "probe pass rate improving: 0.150 -> 0.362" in line and "training pass rate flat" in line
    assert learning_verdict(history(noisy(0.065, 0.065)), probe={"verdict": "missing"})["verdict"] == "flat"


def test_probe_leaves_the_rng_alone_and_a_resumed_run_keeps_its_start(tiny_model_dir, tmp_path):
    """Sampling the probe does not move torch's RNG (GRPO samples what it would without it); a resumed run does not
    measure its already-trained model as the start."""
    import torch

    from data.hub import load_model, load_tokenizer
    from rewards import build_reward_funcs
    from rl.learning_probe import LearningProbe
    from tests.test_rl_train import grpo_rows, rl_cfg

    cfg = rl_cfg("grpo", "rl.max_completion_length=8", "rl.learning_probe.n_samples=2")
    (reward,), _ = build_reward_funcs({"funcs": [{"name": "correctness"}]})
    model, tokenizer = load_model(tiny_model_dir), load_tokenizer(tiny_model_dir, padding_side="left")
    probe = LearningProbe(grpo_rows(3), reward, cfg, tmp_path, seed=0)
    fresh = LearningProbe(grpo_rows(3), reward, cfg, tmp_path / "resumed", seed=0)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    probe.start(model, tokenizer, resuming=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert len(json.loads((tmp_path / "learning_probe.json").read_text())["start"]) == 3
    fresh.start(model, tokenizer, resuming=True)
    assert fresh.finish(model, tokenizer) == {"n_prompts": 3, "verdict": "missing"}
    result = probe.finish(model, tokenizer)
    assert result["verdict"] == "flat" and result["delta"] == 0.0 and result["n_samples"] == 2
