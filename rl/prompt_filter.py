"""Pass-rate filtering of GRPO prompts, measured with the start model before training: a prompt it always or
never solves gives every completion of its group the same reward, hence zero advantage and no learning signal.

Pass rates are sampled (n completions per prompt at the rollout temperature), scored with the same correctness
reward GRPO uses, and cached in `<out>/pass_rates.jsonl` so a resumed run does not measure again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from data.atomic_io import write_text_atomic

log = logging.getLogger(__name__)


def measure_pass_rates(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Mapping[str, Any]],
    reward: Callable[..., list],
    *,
    n_samples: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 64,
    chat_template_kwargs: Mapping[str, Any] | None = None,
    seed: int = 0,
    answer_key: str = "answer",
) -> list[float]:
    """Share of `n_samples` sampled completions per row that `reward` scores above 0.5 (HF generate, left padded)."""
    import torch

    if n_samples < 1:
        raise ValueError(f"prompt_filter.n_samples must be >= 1, got {n_samples}")
    torch.manual_seed(seed)
    tokenizer.padding_side = "left"
    eos = model.generation_config.eos_token_id
    rates: list[float] = []
    model.eval()
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        texts = [
            tokenizer.apply_chat_template(
                list(r["prompt"]), tokenize=False, add_generation_prompt=True, **dict(chat_template_kwargs or {})
            )
            for r in batch
        ]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **encoded,
                do_sample=True,
                temperature=temperature,
                top_p=top_p,
                top_k=0,
                max_new_tokens=max_new_tokens,
                num_return_sequences=n_samples,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = out[:, encoded["input_ids"].shape[1] :]
        completions = [
            [{"role": "assistant", "content": t}] for t in tokenizer.batch_decode(new, skip_special_tokens=True)
        ]
        golds = [r[answer_key] for r in batch for _ in range(n_samples)]
        scores = reward(completions, **{answer_key: golds})
        for i in range(len(batch)):
            group = scores[i * n_samples : (i + 1) * n_samples]
            rates.append(sum(1 for s in group if s is not None and s > 0.5) / n_samples)
    return rates


def filter_rows(
    rows: Sequence[Mapping[str, Any]], rates: Sequence[float], drop_pass_rates: Sequence[float] = (0.0, 1.0)
) -> list[Mapping[str, Any]]:
    """The rows whose measured pass rate is not one of `drop_pass_rates`; rows beyond `rates` are dropped."""
    drop = {float(r) for r in drop_pass_rates}
    return [row for row, rate in zip(rows, rates) if float(rate) not in drop]


def cached_pass_rates(
    path: str | Path, rows: Sequence[Mapping[str, Any]], measure: Callable[[], list[float]], id_key: str = "id"
) -> list[float]:
    """Pass rates from `path` when it holds one per row (same ids, same order), else `measure()` written there."""
    path = Path(path)
    ids = [r.get(id_key) for r in rows]
    if path.exists():
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if [r["id"] for r in records] == ids:
            return [r["pass_rate"] for r in records]
    rates = measure()
    write_text_atomic(path, "".join(json.dumps({"id": i, "pass_rate": r}) + "\n" for i, r in zip(ids, rates)))
    return rates


def summarize(rates: Sequence[float]) -> dict[str, float]:
    """Share of prompts never / always solved and the mean pass rate."""
    n = len(rates) or 1
    return {
        "pass_rate_mean": sum(rates) / n,
        "never_solved_frac": sum(r == 0.0 for r in rates) / n,
        "always_solved_frac": sum(r == 1.0 for r in rates) / n,
    }
