"""GRPO on TRL's `GRPOTrainer`: from an SFT checkpoint (SFT -> GRPO) or from a base model (pure GRPO).

Rows are `{"prompt": [chat messages], "answer": gold, "id": ...}`; rewards come from the registry by name and
weight (`rewards.build_reward_funcs`); every algorithm knob comes from a `conf/rl` group (rl.grpo_config).
Full fine-tuning or a fresh LoRA adapter (merged at the end); checkpoints every `save_steps` that a re-run
resumes from at the same step with the same data order. The finished model and tokenizer are saved to
`<out_dir>/final`, loadable by path. The summary's `learning` block says whether the training pass rate rose
(rl.learning_check); a flat or falling one is logged as a warning.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from data.hub import load_model, load_tokenizer
from rl.chat_alignment import adapt_reward_spec, align_eos, check_think_tags, keep_raw_completions, prompt_opens_think
from rl.grpo_config import build_grpo_config, check_rl_config
from rl.learning_check import describe, learning_verdict
from rl.learning_probe import LearningProbe
from rl.signals import wrap_reward_funcs
from rl.start_point import resolve_start
from sft import distributed
from sft.checkpoints import last_checkpoint, lora_config, save_final_model

log = logging.getLogger(__name__)


def check_rows(
    rows: Sequence[Mapping[str, Any]],
    tokenizer: Any,
    max_prompt_length: int | None,
    chat_template_kwargs: Mapping[str, Any] | None = None,
) -> int:
    """ValueError for a row without `prompt` / `answer` or a prompt over `max_prompt_length` tokens; returns the
    longest prompt's length."""
    if not rows:
        raise ValueError("GRPO got no training rows")
    longest = 0
    for i, row in enumerate(rows):
        missing = [k for k in ("prompt", "answer") if k not in row]
        if missing:
            raise ValueError(f"GRPO row {i} lacks {missing}; rows need 'prompt' (chat messages) and 'answer' (gold)")
        text = tokenizer.apply_chat_template(
            list(row["prompt"]), tokenize=False, add_generation_prompt=True, **dict(chat_template_kwargs or {})
        )
        n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if max_prompt_length and n > max_prompt_length:
            raise ValueError(
                f"GRPO row {i} (id {row.get('id')!r}) has a {n}-token prompt > rl.max_prompt_length="
                f"{max_prompt_length}; raise it or drop long prompts"
            )
        longest = max(longest, n)
    return longest


def correctness_reward(reward_spec: Mapping[str, Any]) -> Any:
    """The spec's correctness reward alone, built as GRPO builds it (what pass rates are scored by); None if absent."""
    from rewards import build_reward_funcs

    correctness = [f for f in reward_spec["funcs"] if f["name"] == "correctness"]
    if not correctness:
        return None
    (reward,), _ = build_reward_funcs({**reward_spec, "funcs": correctness})
    return reward


def _filter_prompts(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    cfg: Mapping[str, Any],
    reward_spec: Mapping[str, Any],
    out_dir: Path,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from rl.prompt_filter import cached_pass_rates, filter_rows, measure_pass_rates, summarize

    pf = cfg["prompt_filter"]
    candidates = rows[: pf["max_prompts"]] if pf["max_prompts"] else rows
    reward = correctness_reward(reward_spec)
    if reward is None:
        raise ValueError("rl.prompt_filter needs a 'correctness' reward in the reward spec")
    rates = distributed.main_first(  # several ranks: rank 0 measures and caches, the others read its cache
        lambda: cached_pass_rates(
            out_dir / "pass_rates.jsonl",
            candidates,
            lambda: measure_pass_rates(
                model,
                tokenizer,
                candidates,
                reward,
                n_samples=int(pf["n_samples"]),
                max_new_tokens=int(cfg["max_completion_length"]),
                temperature=float(cfg["temperature"]),
                top_p=float(cfg["top_p"]),
                batch_size=int(pf["batch_size"]),
                chat_template_kwargs=cfg["chat_template_kwargs"],
                seed=seed,
            ),
        )
    )
    kept = filter_rows(candidates, rates, pf["drop_pass_rates"])
    stats = {**summarize(rates), "n_measured": len(candidates), "n_kept": len(kept)}
    log.info("prompt filter: %s", stats)
    if not kept:
        raise ValueError(f"rl.prompt_filter dropped every prompt ({stats}); disable it or lower drop_pass_rates")
    return [dict(r) for r in kept], stats


def _checkpoint_step(checkpoint: str | Path) -> int:
    return int(json.loads((Path(checkpoint) / "trainer_state.json").read_text())["global_step"])


def build_trainer(
    model_path: str,
    rows: list[dict[str, Any]],
    out_dir: str | Path,
    cfg: Mapping[str, Any],
    reward_spec: Mapping[str, Any],
    *,
    seed: int = 0,
    report_to: str = "none",
    dtype: str = "float32",
    use_cpu: bool | None = None,
    callbacks: Sequence[Any] | None = None,
    attn_implementation: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The configured `GRPOTrainer` (start point resolved, Qwen3 chat alignment applied, prompts checked and
    optionally pass-rate filtered, rewards wrapped with signals) and facts for the summary."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from rewards import build_reward_funcs

    check_rl_config(cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start_path = distributed.main_first(lambda: resolve_start(model_path, out_dir, dtype))  # rank 0 merges once
    tokenizer = load_tokenizer(start_path, padding_side="left")
    # the reference model (beta > 0) copies the policy's attention implementation (TRL GRPOTrainer)
    model = load_model(start_path, dtype=dtype, attn_implementation=attn_implementation)
    eos_ids = align_eos(model, tokenizer)
    check_think_tags(tokenizer)
    response_template = keep_raw_completions(tokenizer)
    template_kwargs = cfg["chat_template_kwargs"]
    opens_think = prompt_opens_think(tokenizer, template_kwargs)
    spec = adapt_reward_spec(reward_spec, opens_think)

    rows = [dict(r) for r in (rows[: cfg["n_prompts"]] if cfg["n_prompts"] else rows)]
    longest = check_rows(rows, tokenizer, cfg["max_prompt_length"], template_kwargs)
    filter_stats = None
    if cfg["prompt_filter"]["enabled"]:
        rows, filter_stats = _filter_prompts(model, tokenizer, rows, cfg, spec, out_dir, seed)

    funcs, weights = build_reward_funcs(spec)
    # each rank scores its own completions: rank 0 logs to rollouts.jsonl, rank R > 0 to rollouts.rank<R>.jsonl
    name = "rollouts.jsonl" if distributed.is_main() else f"rollouts.rank{distributed.rank()}.jsonl"
    rollout_log = out_dir / name if cfg["log_rollouts"] else None
    funcs = wrap_reward_funcs(funcs, weights, int(cfg["num_generations"]), rollout_log=rollout_log)
    max_model_length = (cfg["max_prompt_length"] or longest) + int(cfg["max_completion_length"])
    args = build_grpo_config(
        cfg,
        out_dir,
        report_to=report_to,
        seed=seed,
        reward_weights=weights,
        use_cpu=use_cpu,
        max_model_length=max_model_length,
    )
    peft_config = lora_config(cfg["lora"]) if cfg["lora"] else None
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks or []),
    )
    reward = correctness_reward(spec) if cfg.get("learning_probe") else None
    probe = LearningProbe(rows, reward, cfg, out_dir, seed) if reward is not None else None
    info = {
        "learning_probe": probe,  # popped by train_grpo (not a summary value)
        "start_path": start_path,
        "n_rows": len(rows),
        "eos_token_ids": eos_ids,
        "prompt_opens_think": opens_think,
        "prompt_filter": filter_stats,
        "reward_funcs": [f.__name__ for f in funcs],
        "reward_weights": weights,
        "lora": peft_config is not None,
        "response_template": response_template,
    }
    return trainer, info


def train_grpo(
    model_path: str,
    rows: list[dict[str, Any]],
    out_dir: str | Path,
    cfg: Mapping[str, Any],
    reward_spec: Mapping[str, Any],
    *,
    seed: int = 0,
    report_to: str = "none",
    dtype: str = "float32",
    use_cpu: bool | None = None,
    callbacks: Sequence[Any] | None = None,
    attn_implementation: str | None = None,
) -> dict[str, Any]:
    """GRPO-train `model_path` on `rows`; resumes from the last checkpoint in `out_dir`; returns a summary whose
    `model_path` is `<out_dir>/final` (LoRA merged). Under several processes every rank calls this: rank 0 picks
    the checkpoint all resume from; every rank takes part in the final save (ZeRO-3 gathers), rank 0 writes it."""
    out_dir = Path(out_dir)
    trainer, info = build_trainer(
        model_path,
        rows,
        out_dir,
        cfg,
        reward_spec,
        seed=seed,
        report_to=report_to,
        dtype=dtype,
        use_cpu=use_cpu,
        callbacks=callbacks,
        attn_implementation=attn_implementation,
    )
    resume = distributed.broadcast(last_checkpoint(out_dir / "checkpoints"))  # rank 0 decides for every rank
    distributed.allow_indexed_cpu_location()  # several CPU ranks resume optimizer state mapped to `cpu:<rank>`
    if resume:
        log.info("GRPO: resuming from %s", resume)
    probe = info.pop("learning_probe")
    if probe is not None and distributed.world_size() > 1:
        probe = None  # several processes: one rank's generate() on a sharded model would hang; log-history check only
    if probe is not None:
        probe.start(trainer.model, trainer.processing_class, resuming=resume is not None)
    start = time.perf_counter()
    if resume and _checkpoint_step(resume) >= trainer.args.max_steps:
        # transformers would train one step past max_steps when resuming at it: load the finished state instead
        from transformers import TrainerState

        trainer._load_from_checkpoint(resume)
        trainer.state = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json"))
        training_loss = None
    else:
        training_loss = trainer.train(resume_from_checkpoint=resume).training_loss
    train_seconds = time.perf_counter() - start

    template = info.pop("response_template")
    if template is not None:  # set aside for training only (rl.chat_alignment.keep_raw_completions)
        trainer.processing_class.response_template = template
    # every rank calls the save (ZeRO-3 gathers the weights: a collective); only the main process writes final/
    final_dir = save_final_model(trainer, out_dir, lora=info["lora"], base_model_path=info["start_path"], dtype=dtype)
    history = trainer.state.log_history
    train_logs = [e for e in history if "reward" in e]
    learning = learning_verdict(history, probe=probe.finish(trainer.model, trainer.processing_class) if probe else None)
    (log.warning if learning["verdict"] in ("flat", "declining") else log.info)(describe(learning))
    if trainer.is_world_process_zero():
        (out_dir / "log_history.json").write_text(json.dumps(history, indent=1, default=str))
    return {
        "model_path": str(final_dir),
        "steps": trainer.state.global_step,
        "train_seconds": train_seconds,
        "resumed_from": resume,
        "world_size": distributed.world_size(),
        "train_loss": training_loss,
        **info,
        "first_log": train_logs[0] if train_logs else None,
        "last_log": train_logs[-1] if train_logs else None,
        "learning": learning,
    }
