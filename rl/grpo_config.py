"""TRL `GRPOConfig` from a `conf/rl` group: every algorithm knob passed explicitly, CPU-safe defaults, the
generation backend validated (rl.vllm_guard), and the resume invariant checked (checkpoints on generation
boundaries)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rl.vllm_guard import generation_kwargs

# GRPOConfig keys a `conf/rl/*.yaml` may set directly; the rest there is ours (name, n_prompts, lora, ...).
TRAINER_KEYS = (
    "beta",
    "loss_type",
    "scale_rewards",
    "num_generations",
    "epsilon",
    "epsilon_high",
    "mask_truncated_completions",
    "importance_sampling_level",
    "num_iterations",
    "multi_objective_aggregation",
    "temperature",
    "top_p",
    "top_k",
    "max_completion_length",
    "chat_template_kwargs",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "steps_per_generation",
    "gradient_checkpointing",
    "disable_dropout",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "bf16",
    "optim",
    "log_completions",
    "shuffle_dataset",
)
OUR_KEYS = (
    "name",
    "n_prompts",
    "max_prompt_length",
    "prompt_filter",
    "learning_probe",
    "lora",
    "generation",
    "log_rollouts",
)
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
SCALE_REWARDS = ("group", "batch", "none")


def check_rl_config(cfg: Mapping[str, Any]) -> None:
    """ValueError naming the key and the valid choices for an unknown key or a value TRL would reject late."""
    unknown = sorted(set(cfg) - set(TRAINER_KEYS) - set(OUR_KEYS))
    if unknown:
        raise ValueError(f"unknown rl config keys {unknown}; valid: {sorted(TRAINER_KEYS + OUR_KEYS)}")
    if cfg["loss_type"] not in LOSS_TYPES:
        raise ValueError(f"unknown rl.loss_type {cfg['loss_type']!r}; valid: {list(LOSS_TYPES)}")
    if cfg["scale_rewards"] not in SCALE_REWARDS:
        raise ValueError(f"unknown rl.scale_rewards {cfg['scale_rewards']!r}; valid: {list(SCALE_REWARDS)}")
    gens = int(cfg["num_generations"])
    steps_per_generation = int(cfg["steps_per_generation"] or cfg["gradient_accumulation_steps"])
    batch = int(cfg["per_device_train_batch_size"]) * steps_per_generation
    if gens < 2 or batch % gens:
        raise ValueError(
            f"rl.num_generations={gens} must be >= 2 and divide the generation batch "
            f"(per_device_train_batch_size x steps_per_generation = {batch})"
        )
    generate_every = steps_per_generation * int(cfg["num_iterations"])
    micro_per_save = int(cfg["save_steps"]) * int(cfg["gradient_accumulation_steps"])
    if micro_per_save % generate_every:
        raise ValueError(
            f"rl.save_steps={cfg['save_steps']} x gradient_accumulation_steps must be a multiple of "
            f"steps_per_generation x num_iterations ({generate_every}): a checkpoint in the middle of a "
            "generation batch cannot resume with the same data"
        )


def build_grpo_config(
    cfg: Mapping[str, Any],
    out_dir: str | Path,
    *,
    report_to: str,
    seed: int,
    reward_weights: Sequence[float],
    use_cpu: bool | None = None,
    max_model_length: int | None = None,
) -> Any:
    """GRPOConfig for `cfg` (a plain dict of a conf/rl group) writing checkpoints under `<out_dir>/checkpoints`."""
    import torch
    from trl import GRPOConfig

    check_rl_config(cfg)
    if use_cpu is None:
        use_cpu = not torch.cuda.is_available()
    kwargs = {k: cfg[k] for k in TRAINER_KEYS if k in cfg and cfg[k] is not None}
    if isinstance(kwargs.get("chat_template_kwargs"), Mapping):
        kwargs["chat_template_kwargs"] = dict(kwargs["chat_template_kwargs"])
    kwargs["bf16"] = False if use_cpu else kwargs.get("bf16", True)  # CPU: fp32; `bf16` is in no conf/rl preset
    kwargs.update(generation_kwargs(cfg["generation"], use_cpu=use_cpu, max_model_length=max_model_length))
    return GRPOConfig(
        output_dir=str(Path(out_dir) / "checkpoints"),
        report_to=report_to,
        seed=seed,
        data_seed=seed,
        use_cpu=use_cpu,
        dataloader_num_workers=0,
        save_strategy="steps",
        logging_strategy="steps",
        reward_weights=list(reward_weights),
        remove_unused_columns=False,
        **kwargs,
    )
