"""conf/rl composes for the CPU and vLLM variants, every key reaches GRPOConfig, and the vLLM path refuses to
start on a machine without CUDA / vllm / a server with a message that says what to do instead."""

from __future__ import annotations

import socket

import pytest
from omegaconf import OmegaConf

from launch.config_check import compose, group_options
from rl.grpo_config import OUR_KEYS, TRAINER_KEYS, build_grpo_config, check_rl_config
from rl.vllm_guard import GenerationBackendError, check_server, generation_kwargs

# Settings that drifted across TRL versions: each must be set explicitly in conf/rl/grpo.yaml.
DRIFTED = (
    "beta",
    "loss_type",
    "scale_rewards",
    "num_generations",
    "epsilon",
    "epsilon_high",
    "mask_truncated_completions",
    "temperature",
    "max_prompt_length",
    "max_completion_length",
    "learning_rate",
    "lr_scheduler_type",
    "steps_per_generation",
)


def _rl(option: str = "grpo", *overrides: str) -> dict:
    return OmegaConf.to_container(compose([f"rl={option}", *overrides]).rl, resolve=True)


def _gen(**keys) -> dict:
    """conf/rl/grpo.yaml's `generation:` block with `keys` replaced."""
    return {**_rl()["generation"], **keys}


def test_rl_options_and_defaults():
    assert set(group_options("rl")) >= {"grpo", "grpo_lora", "grpo_vllm_colocate", "grpo_vllm_server"}
    cfg = compose([])
    assert cfg.rl.name == "grpo" and cfg.reward.funcs[0].name == "correctness" and cfg.reward.funcs[1].name == "format"
    for key in DRIFTED:  # set explicitly (not left to the installed TRL's default)
        assert cfg.rl[key] is not None, key


def test_conditions_grpo_and_sft_grpo():
    pure = compose(["condition=grpo"]).condition
    assert list(pure.stages) == ["data", "base", "rl", "eval"] and pure.sft_data is None
    chained = compose(["condition=sft_grpo"]).condition
    assert list(chained.stages) == ["data", "base", "teacher", "sft", "rl", "eval"] and chained.sft_data == "trace"


@pytest.mark.parametrize("option", ["grpo", "grpo_lora"])
def test_every_rl_key_reaches_grpo_config_on_cpu(option, tmp_path):
    rl = _rl(option)
    assert set(rl) <= set(TRAINER_KEYS) | set(OUR_KEYS)
    args = build_grpo_config(rl, tmp_path, report_to="none", seed=5, reward_weights=[1.0, 0.2], use_cpu=True)
    for key in set(rl) & set(TRAINER_KEYS):
        assert getattr(args, key) == rl[key], key
    assert args.use_cpu and args.bf16 is False and args.use_vllm is False and args.seed == 5
    assert args.reward_weights == [1.0, 0.2] and args.remove_unused_columns is False
    assert args.output_dir == str(tmp_path / "checkpoints")
    if option == "grpo_lora":
        assert rl["learning_rate"] > _rl("grpo")["learning_rate"] and rl["lora"]["r"] == 64


@pytest.mark.parametrize("option", ["grpo_vllm_colocate", "grpo_vllm_server"])
def test_vllm_variants_refuse_cpu_with_a_clear_message(option, tmp_path):
    rl = _rl(option)
    assert rl["generation"]["backend"] == "vllm"
    with pytest.raises(GenerationBackendError, match="needs a CUDA GPU.*rl=grpo"):
        build_grpo_config(rl, tmp_path, report_to="none", seed=0, reward_weights=[1.0], use_cpu=True)


def test_vllm_missing_package_is_named(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(GenerationBackendError, match="'vllm' package is not installed.*0.22.0-0.31.0"):
        generation_kwargs(_gen(backend="vllm"), use_cpu=False, cuda_available=True)


def _fake_vllm(monkeypatch, version: str = "0.30.1"):
    import importlib.util
    from importlib import metadata

    real_spec, real_version = importlib.util.find_spec, metadata.version
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name == "vllm" else real_spec(name, *a)
    )
    monkeypatch.setattr(metadata, "version", lambda name: version if name == "vllm" else real_version(name))


def test_vllm_kwargs_are_valid_grpo_config_fields(monkeypatch):
    """With CUDA and vllm present (faked), both modes give kwargs that TRL 1.16's GRPOConfig accepts."""
    from trl import GRPOConfig

    _fake_vllm(monkeypatch)
    colocate = generation_kwargs(
        _rl("grpo_vllm_colocate")["generation"], use_cpu=False, cuda_available=True, max_model_length=416
    )
    assert colocate["use_vllm"] and colocate["vllm_mode"] == "colocate" and colocate["vllm_enable_sleep_mode"] is True
    assert colocate["vllm_max_model_length"] == 416 and colocate["vllm_gpu_memory_utilization"] == 0.3
    server = generation_kwargs(
        _rl("grpo_vllm_server")["generation"], use_cpu=False, cuda_available=True, check_server_up=False
    )
    assert server["vllm_mode"] == "server" and server["vllm_server_port"] == 8000
    for kwargs in (colocate, server):
        args = GRPOConfig(output_dir="/tmp/unused", use_cpu=True, bf16=False, report_to="none", **kwargs)
        assert all(getattr(args, k) == v for k, v in kwargs.items())
    _fake_vllm(monkeypatch, "0.11.0")
    with pytest.raises(GenerationBackendError, match="vllm 0.11.0 is installed but TRL 1.16 supports"):
        generation_kwargs(_gen(backend="vllm"), use_cpu=False, cuda_available=True)


def test_vllm_server_not_running_points_at_the_recipe():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GenerationBackendError, match=f"nothing answers at 127.0.0.1:{port}.*launch/vllm_serve.sh"):
        check_server("127.0.0.1", port, wait_s=0)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"loss_type": "ppo"}, "unknown rl.loss_type 'ppo'; valid: \\['grpo'"),
        ({"scale_rewards": True}, "unknown rl.scale_rewards True; valid"),
        ({"num_generations": 3}, "num_generations=3 must be >= 2 and divide the generation batch"),
        ({"steps_per_generation": 4, "save_steps": 6}, "save_steps=6 x gradient_accumulation_steps must be a multiple"),
        ({"beta_kl": 0.1}, "unknown rl config keys \\['beta_kl'\\]"),
    ],
)
def test_bad_rl_values_fail_clearly(override, message):
    with pytest.raises(ValueError, match=message):
        check_rl_config({**_rl(), **override})


def test_unknown_backend_and_mode_name_the_choices():
    with pytest.raises(ValueError, match="unknown rl.generation.backend 'sglang'; valid: \\['hf', 'vllm'\\]"):
        generation_kwargs(_gen(backend="sglang"), use_cpu=True)
    with pytest.raises(ValueError, match="vllm_mode 'remote'; valid: \\['colocate', 'server'\\]"):
        generation_kwargs(_gen(backend="vllm", vllm_mode="remote"), use_cpu=False, cuda_available=True)


def test_vllm_serve_recipe_exists_and_uses_trl_vllm_serve():
    from pathlib import Path

    script = (Path(__file__).resolve().parents[1] / "launch" / "vllm_serve.sh").read_text()
    assert "trl vllm-serve --model" in script and "CUDA_VISIBLE_DEVICES" in script
