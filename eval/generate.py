"""Batched generation with left padding from a chat model (HF transformers backend; CPU or GPU).

Prompts are sorted by length so that a batch pads little, generated with `model.generate`, then put back
in their original order. Each output says how many tokens it used and whether it hit `max_new_tokens`
without an end-of-turn token (truncated reasoning reads as wrong, so it is counted, not hidden).
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator


def chat_prompt_text(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt string for `messages` with the assistant turn opened (the model's own chat template)."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _batches(order: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), size):
        yield order[start:start + size]


def generate_batched(model: Any, tokenizer: Any, prompts: list[str], *, max_new_tokens: int, batch_size: int = 64,
                     do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                     num_return_sequences: int = 1, progress: Iterable | None = None) -> list[list[dict[str, Any]]]:
    """Completions for each prompt string: a list (one per sample) of `{text, n_tokens, truncated}`."""
    import torch

    tokenizer.padding_side = "left"
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    results: list[list[dict[str, Any]]] = [[] for _ in prompts]
    eos_ids = {tokenizer.eos_token_id}
    model.eval()
    for batch in _batches(order, batch_size):
        encoded = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = {k: v.to(model.device) for k, v in encoded.items()}
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if do_sample else {"do_sample": False}
        with torch.inference_mode():
            output = model.generate(**encoded, max_new_tokens=max_new_tokens, num_return_sequences=num_return_sequences,
                                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                    **sampling)
        new_tokens = output[:, encoded["input_ids"].shape[1]:].tolist()
        for row, tokens in enumerate(new_tokens):
            item = batch[row // num_return_sequences]
            ended = next((j for j, t in enumerate(tokens) if t in eos_ids), None)
            kept = tokens[:ended] if ended is not None else [t for t in tokens if t != tokenizer.pad_token_id]
            results[item].append({
                "text": tokenizer.decode(kept, skip_special_tokens=True),
                "n_tokens": len(kept) + (1 if ended is not None else 0),
                "truncated": ended is None,
            })
        if progress is not None:
            progress.update(len(batch))
    return results
