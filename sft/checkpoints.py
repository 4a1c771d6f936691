"""Checkpoints shared by every trainer of ours (SFT, KD, GRPO): where a re-run resumes, the LoRA config, and the
finished model's save.

* `last_checkpoint(dir)`  -- the newest complete `checkpoint-N` a re-run resumes from.
* `lora_config(block)`    -- PEFT `LoraConfig` from a `lora:` block (conf/sft/lora.yaml, conf/rl/grpo_lora.yaml).
* `save_final_model(...)` -- `<out_dir>/final`: the trained model (a LoRA adapter saved to `<out_dir>/adapter`,
  then merged) and its tokenizer (left padding, for generation), loadable by path; ZeRO-3 shards are gathered.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def last_checkpoint(checkpoint_dir: str | Path) -> str | None:
    """The newest complete `checkpoint-N` under `checkpoint_dir` (one with its trainer state), or None."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        return None
    done = [p for p in checkpoint_dir.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return str(max(done, key=lambda p: int(p.name.split("-")[1]))) if done else None


def lora_config(lora: Mapping[str, Any]) -> Any:
    """PEFT `LoraConfig` from a `lora:` block (every key set there: r, alpha, dropout, use_rslora, target_modules)."""
    from peft import LoraConfig

    return LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        use_rslora=lora["use_rslora"],
        target_modules=lora["target_modules"],
        task_type="CAUSAL_LM",
    )


def save_final_model(
    trainer: Any,
    out_dir: str | Path,
    *,
    lora: bool,
    tokenizer: Any = None,
    base_model_path: str | None = None,
    dtype: str = "float32",
    every_rank: bool = False,
) -> Path:
    """Save the trained model and its tokenizer to `<out_dir>/final` and return that path.

    With `lora` the adapter goes to `<out_dir>/adapter` first and is merged into the weights saved to final/.
    Under DeepSpeed ZeRO-3 the full weights are gathered on every rank (a collective: every rank must call this)
    and DeepSpeed's hold on `from_pretrained` is released; a LoRA adapter is then merged into a fresh copy of
    `base_model_path` (loaded in `dtype`), since the trained module is sharded. The tokenizer (default: the
    trainer's `processing_class`) is saved with left padding, for generation. Only the main process writes
    unless `every_rank`.
    """
    out_dir = Path(out_dir)
    final_dir = out_dir / "final"
    tokenizer = trainer.processing_class if tokenizer is None else tokenizer
    # ZeRO-3 leaves only shards in trainer.model: gather the full weights on every rank (a collective).
    zero3 = trainer.is_deepspeed_enabled and trainer.accelerator.deepspeed_config["zero_optimization"]["stage"] == 3
    state_dict = trainer.accelerator.get_state_dict(trainer.model_wrapped) if zero3 else None
    if zero3:  # training is over: later from_pretrained calls (fresh base below, eval) must not shard under zero.Init
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
    if not (every_rank or trainer.is_world_process_zero()):
        return final_dir
    model = trainer.model
    if lora:
        model.save_pretrained(str(out_dir / "adapter"), state_dict=state_dict)
        if zero3:  # merge the saved adapter into a fresh copy of the base (the trained module is sharded)
            from peft import PeftModel

            from data.hub import load_model

            if base_model_path is None:
                raise ValueError("save_final_model: a LoRA run under ZeRO-3 needs base_model_path to merge into")
            model, state_dict = (
                PeftModel.from_pretrained(load_model(base_model_path, dtype=dtype), str(out_dir / "adapter")),
                None,
            )
        model = model.merge_and_unload()
    model.save_pretrained(str(final_dir), state_dict=state_dict)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(str(final_dir))
    return final_dir
