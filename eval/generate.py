"""Batched generation with left padding from a chat model (HF transformers backend; CPU or GPU).

Prompts are sorted by length so that a batch pads little, generated with `model.generate`, then put back
in their original order. Optionally (`compact_every`) a batch is generated in segments and rows that have
ended are dropped between segments, so short completions do not pay for the batch's longest one. Each output
says how many tokens it used and whether it hit `max_new_tokens` without an end-of-turn token (truncated
reasoning reads as wrong, so it is counted, not hidden).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def chat_prompt_text(tokenizer: Any, messages: list[dict[str, str]], **template_kwargs: Any) -> str:
    """The prompt string for `messages` with the assistant turn opened (the model's own chat template);
    `template_kwargs` reach the template (e.g. Qwen3's `enable_thinking=False` for the post format; a template
    without the variable ignores it).

    A tokenizer without a chat template (a plain base model) gets the messages' text as it is."""
    if getattr(tokenizer, "chat_template", None) is None:
        return "\n\n".join(m["content"] for m in messages)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **template_kwargs)


def end_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The tokenizer's eos token plus the model's generation-config eos ids (Qwen lists `<|im_end|>` and
    `<|endoftext|>`); generation stops at any of them. The tokenizer's comes first."""
    ids = [tokenizer.eos_token_id]
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for extra in config_eos if isinstance(config_eos, (list, tuple)) else [config_eos]:
        if extra is not None and extra not in ids:
            ids.append(int(extra))
    return [i for i in ids if i is not None]


def _batches(order: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), size):
        yield order[start : start + size]


def generate_batched(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int = 64,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    compact_every: int | None = None,
    progress: Iterable | None = None,
) -> list[list[dict[str, Any]]]:
    """Completions for each prompt string: a list (one per sample) of `{text, n_tokens, truncated}`.

    `batch_size` counts prompts per batch; each yields `num_return_sequences` rows. `n_tokens` counts the end
    token when there is one; `truncated` is True when `max_new_tokens` ran out first. With `compact_every=K`
    a batch is generated K tokens at a time and rows that have ended are dropped (with their KV cache)
    between calls, so a batch does not keep computing for finished rows while its longest row runs on;
    greedy outputs are the same as without it."""
    import torch

    tokenizer.padding_side = "left"
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    results: list[list[dict[str, Any]]] = [[] for _ in prompts]
    eos_list = end_token_ids(model, tokenizer)
    eos_ids = set(eos_list)
    # top_k=0: only temperature / top_p shape the distribution (a hub generation_config's top_k is not applied)
    sampling = (
        {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}
        if do_sample
        else {"do_sample": False}
    )
    fixed = {
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": eos_list if len(eos_list) > 1 else eos_list[0],
        **sampling,
    }
    model.eval()
    for batch in _batches(order, batch_size):
        encoded = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = {k: v.to(model.device) for k, v in encoded.items()}
        with torch.inference_mode():
            rows = _generate_rows(
                model,
                encoded["input_ids"],
                encoded["attention_mask"],
                max_new_tokens,
                num_return_sequences,
                compact_every,
                eos_ids,
                fixed,
            )
        for row, tokens in enumerate(rows):
            item = batch[row // num_return_sequences]
            ended = next((j for j, t in enumerate(tokens) if t in eos_ids), None)
            kept = tokens[:ended] if ended is not None else tokens  # a row still running was never padded
            results[item].append(
                {
                    "text": tokenizer.decode(kept, skip_special_tokens=True),
                    "n_tokens": len(kept) + (1 if ended is not None else 0),
                    "truncated": ended is None,
                }
            )
        if progress is not None:
            progress.update(len(batch))
    return results


def _generate_rows(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    max_new_tokens: int,
    n: int,
    compact_every: int | None,
    eos_ids: set[int],
    fixed: dict[str, Any],
) -> list[list[int]]:
    """New token ids of every row (prompt-major, `n` rows per prompt), optionally compacting finished rows."""
    import torch

    if not compact_every or compact_every >= max_new_tokens:
        output = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            num_return_sequences=n,
            **fixed,
        )
        return output[:, input_ids.shape[1] :].tolist()
    generated: list[list[int]] = [[] for _ in range(input_ids.shape[0] * n)]
    alive = list(range(len(generated)))  # row index of each row still running
    sequences, mask, cache, left, first = input_ids, attention_mask, None, max_new_tokens, True
    while alive and left > 0:
        output = model.generate(
            input_ids=sequences,
            attention_mask=mask,
            past_key_values=cache,
            max_new_tokens=min(compact_every, left),
            num_return_sequences=n if first else 1,
            return_dict_in_generate=True,
            **fixed,
        )
        if first:
            mask = mask.repeat_interleave(n, dim=0)
            first = False
        new = output.sequences[:, sequences.shape[1] :]
        left -= new.shape[1]
        keep = []
        for position, (row, tokens) in enumerate(zip(alive, new.tolist())):
            ended = next((j for j, t in enumerate(tokens) if t in eos_ids), None)
            generated[row] += tokens if ended is None else tokens[: ended + 1]
            if ended is None:
                keep.append(position)
        cache = output.past_key_values
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], new.shape[1])], dim=1)
        sequences = output.sequences
        if len(keep) < len(alive) and keep:
            index = torch.tensor(keep, device=sequences.device)
            if cache is not None:
                cache.batch_select_indices(index)
            sequences, mask = sequences[index], mask[index]
        alive = [alive[p] for p in keep]
    return generated
