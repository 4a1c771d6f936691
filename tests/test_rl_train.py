"""rl.train end to end on the tiny model: a short GRPO run saves a loadable model and logs the learning signals;
LoRA starts from a merged SFT adapter and merges its own; pass-rate filtering measures before training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from launch.config_check import compose

SPEC = {
    "verify_timeout_s": 0.5,
    "funcs": [{"name": "correctness", "weight": 1.0, "answer_key": "answer"}, {"name": "format", "weight": 0.2}],
}
SMALL = [
    "rl.num_generations=2",
    "rl.per_device_train_batch_size=4",
    "rl.max_completion_length=16",
    "rl.logging_steps=1",
    "rl.max_steps=2",
    "rl.save_steps=2",
    "rl.learning_probe.n_prompts=4",  # the probe's 64 x 8 samples before and after are for real runs
    "rl.learning_probe.n_samples=2",
]


def grpo_rows(n: int) -> list[dict]:
    from data.records import prompt_messages
    from tests._sft_fixtures import toy_problems

    return [
        {"prompt": prompt_messages(p["question"]), "answer": p["final_answer"], "id": p["id"]} for p in toy_problems(n)
    ]


def rl_cfg(option: str = "grpo", *overrides: str) -> dict:
    return OmegaConf.to_container(compose([f"rl={option}", *SMALL, *overrides]).rl, resolve=True)


def test_short_grpo_run_saves_final_and_logs_signals(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rl.train import train_grpo

    summary = train_grpo(
        tiny_model_dir, grpo_rows(8), tmp_path, rl_cfg("grpo", "rl.beta=0.01"), SPEC, seed=1, use_cpu=True
    )
    assert (
        summary["steps"] == 2 and summary["model_path"] == str(tmp_path / "final") and summary["resumed_from"] is None
    )
    assert summary["reward_funcs"] == ["correctness_reward", "format_reward"] and summary["reward_weights"] == [
        1.0,
        0.2,
    ]
    AutoModelForCausalLM.from_pretrained(summary["model_path"])
    assert AutoTokenizer.from_pretrained(summary["model_path"]).eos_token == "<|im_end|>"
    log = summary["last_log"]
    for key in (
        "rewards/correctness_reward/mean",
        "rewards/correctness_reward/std",
        "rewards/format_reward/mean",
        "frac_reward_zero_std",
        "signals/reward/zero_std_frac",
        "signals/correctness_reward/solved_none_frac",
        "completions/mean_length",
        "completions/clipped_ratio",
        "clip_ratio/region_mean",
        "kl",
        "entropy",
    ):
        assert key in log, key
    assert (tmp_path / "checkpoints" / "checkpoint-2" / "trainer_state.json").exists()
    rollouts = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert {r["step"] for r in rollouts} == {0, 1} and all(len(r["ids"]) == 4 for r in rollouts)
    # a second call finds the finished checkpoint and does not train again
    again = train_grpo(
        tiny_model_dir, grpo_rows(8), tmp_path, rl_cfg("grpo", "rl.beta=0.01"), SPEC, seed=1, use_cpu=True
    )
    assert again["steps"] == 2 and again["resumed_from"].endswith("checkpoint-2")


def test_lora_grpo_merges_the_sft_adapter_first(tiny_model_dir, tmp_path, sft_cfg):
    from rl.start_point import is_adapter_dir
    from rl.train import train_grpo
    from sft.train import train_sft
    from tests._sft_fixtures import make_sft_rows

    sft = train_sft(
        tiny_model_dir,
        make_sft_rows(8),
        tmp_path / "sft",
        {**sft_cfg("lora", "sft.lora.r=4"), "max_steps": 1},
        use_cpu=True,
    )
    adapter = tmp_path / "sft" / "adapter"
    assert is_adapter_dir(adapter) and sft["steps"] == 1
    summary = train_grpo(
        str(adapter),
        grpo_rows(8),
        tmp_path / "rl",
        rl_cfg("grpo_lora", "rl.lora.r=4", "rl.max_steps=1", "rl.save_steps=1"),
        SPEC,
        use_cpu=True,
    )
    assert summary["start_path"] == str(tmp_path / "rl" / "start") and summary["lora"] is True
    assert is_adapter_dir(tmp_path / "rl" / "adapter") and not is_adapter_dir(summary["model_path"])
    assert (Path(summary["model_path"]) / "model.safetensors").exists()


def test_prompt_filter_measures_pass_rates_before_training(tiny_model_dir, tmp_path):
    from rl.train import build_trainer

    cfg = rl_cfg(
        "grpo",
        "rl.prompt_filter.enabled=true",
        "rl.prompt_filter.n_samples=2",
        "rl.prompt_filter.max_prompts=6",
        "rl.prompt_filter.drop_pass_rates=[1.0]",
    )
    trainer, info = build_trainer(tiny_model_dir, grpo_rows(10), tmp_path, cfg, SPEC, use_cpu=True)
    assert info["prompt_filter"]["n_measured"] == 6 and info["n_rows"] == info["prompt_filter"]["n_kept"] == 6
    assert len((tmp_path / "pass_rates.jsonl").read_text().splitlines()) == 6
    assert len(trainer.train_dataset) == 6
    # an untrained model never solves anything: dropping pass rate 0 too leaves nothing, which is an error
    with pytest.raises(ValueError, match="dropped every prompt"):
        build_trainer(
            tiny_model_dir,
            grpo_rows(10),
            tmp_path / "b",
            rl_cfg(
                "grpo",
                "rl.prompt_filter.enabled=true",
                "rl.prompt_filter.n_samples=2",
                "rl.prompt_filter.max_prompts=6",
            ),
            SPEC,
            use_cpu=True,
        )


def test_bad_rows_fail_clearly(tiny_model_dir, tmp_path):
    from rl.train import build_trainer

    rows = grpo_rows(4)
    with pytest.raises(ValueError, match="lacks \\['answer'\\]"):
        build_trainer(tiny_model_dir, [{"prompt": rows[0]["prompt"]}], tmp_path, rl_cfg(), SPEC, use_cpu=True)
    with pytest.raises(ValueError, match="prompt > rl.max_prompt_length=8"):
        build_trainer(tiny_model_dir, rows, tmp_path, rl_cfg("grpo", "rl.max_prompt_length=8"), SPEC, use_cpu=True)
