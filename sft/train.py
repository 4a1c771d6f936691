"""Supervised fine-tuning on TRL's `SFTTrainer`: answer-only, trace, or plain-text (toy base pretraining).

Rows are either `{"prompt": [...], "completion": [...]}` (conversational prompt-completion: the loss is on the
completion only) or `{"text": ...}` (language modelling on the whole text). Full fine-tuning or PEFT
LoRA / rsLoRA, DeepSpeed ZeRO from config, checkpoints every `save_steps` that a re-run resumes from.
The finished model (LoRA merged) and tokenizer are saved to `<out_dir>/final`, loadable by path
(`sft.checkpoints`, shared with KD and GRPO).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data.hub import load_model, load_tokenizer
from sft import distributed
from sft.checkpoints import last_checkpoint, lora_config, save_final_model

# SFTConfig keys a `conf/sft/*.yaml` may set directly (anything else there is ours, e.g. `name`, `lora`).
_TRAINER_KEYS = (
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_steps",
    "num_train_epochs",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_length",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "max_grad_norm",
    "adam_beta1",
    "adam_beta2",
    "gradient_checkpointing",
    "bf16",
    "packing",
    "packing_strategy",
    "dataset_num_proc",
    "loss_type",
    "optim",
)


def build_sft_config(
    cfg: Mapping[str, Any],
    out_dir: Path,
    report_to: str,
    seed: int,
    deepspeed: Mapping[str, Any] | None = None,
    use_cpu: bool | None = None,
) -> Any:
    """TRL `SFTConfig` from a `conf/sft` group (CPU-safe defaults: fp32, no gradient checkpointing)."""
    import torch
    from trl import SFTConfig

    if use_cpu is None:
        use_cpu = not torch.cuda.is_available()
    kwargs = {k: cfg[k] for k in _TRAINER_KEYS if k in cfg and cfg[k] is not None}
    kwargs.setdefault("bf16", not use_cpu)  # `bf16` is in no conf/sft preset
    kwargs.setdefault("gradient_checkpointing", False)  # the base stage's `model.pretrain` config does not set it
    if use_cpu:
        kwargs["bf16"] = False  # CPU: fp32 (TRL defaults to bf16)
    return SFTConfig(
        output_dir=str(out_dir / "checkpoints"),
        report_to=report_to,
        seed=seed,
        data_seed=seed,
        use_cpu=use_cpu,
        dataloader_num_workers=0,
        save_strategy="steps",
        logging_strategy="steps",
        disable_tqdm=False,
        deepspeed=dict(deepspeed) if deepspeed else None,
        eos_token=None,
        completion_only_loss=None,
        **kwargs,
    )


def train_sft(
    model_path: str,
    rows: list[dict[str, Any]],
    out_dir: str | Path,
    cfg: Mapping[str, Any],
    *,
    seed: int = 0,
    report_to: str = "none",
    deepspeed: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    use_cpu: bool | None = None,
    attn_implementation: str | None = None,
) -> dict[str, Any]:
    """Fine-tune `model_path` on `rows`; resumes from the last checkpoint in `out_dir`; returns a summary. Under
    several processes every rank calls this (the trainer is distributed): rank 0 picks the checkpoint all resume
    from and alone writes checkpoints and final/."""
    from datasets import Dataset
    from trl import SFTTrainer

    out_dir = Path(out_dir)
    tokenizer = load_tokenizer(model_path, padding_side="right")
    model = load_model(model_path, dtype=dtype, attn_implementation=attn_implementation)
    args = build_sft_config(cfg, out_dir, report_to, seed, deepspeed, use_cpu)
    # `lora` is in every conf/sft preset; the base stage's pretraining config (conf/model/*.yaml `pretrain`) has none
    peft_config = lora_config(cfg["lora"]) if cfg.get("lora") else None
    dataset = Dataset.from_list(rows)
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config
    )
    resume = distributed.broadcast(last_checkpoint(out_dir / "checkpoints"))  # rank 0 decides for every rank
    distributed.allow_indexed_cpu_location()  # several CPU ranks resume optimizer state mapped to `cpu:<rank>`
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    train_seconds = time.perf_counter() - start
    final_dir = save_final_model(
        trainer, out_dir, lora=peft_config is not None, tokenizer=tokenizer, base_model_path=model_path, dtype=dtype
    )
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    return {
        "model_path": str(final_dir),
        "steps": trainer.state.global_step,
        "train_seconds": train_seconds,
        "steps_this_run": trainer.state.global_step - (int(Path(resume).name.rsplit("-", 1)[-1]) if resume else 0),
        "resumed_from": resume,
        "n_rows": len(rows),
        "final_loss": logs[-1]["loss"] if logs else None,
        "num_tokens": next((e["num_tokens"] for e in reversed(trainer.state.log_history) if "num_tokens" in e), None),
        "train_loss": result.training_loss,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
