"""Qwen3 chat specifics GRPO depends on: end-of-turn eos, `<think>` tags that survive decoding, and whether the
chat template already opens `<think>` in the prompt (then completions start inside the thinking).

TRL decodes completions with `skip_special_tokens=True` and ends a completion at the first of the model's eos
ids; a Qwen3 *base* tokenizer's eos is `<|endoftext|>` while a chat turn ends with `<|im_end|>`. Everything
here works on any tokenizer that uses ChatML (`<|im_end|>`) and is a no-op on one that does not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)
END_OF_TURN = "<|im_end|>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class ChatAlignmentError(ValueError):
    """The tokenizer would corrupt what the rewards read (e.g. `<think>` tags erased by decoding)."""


def _token_id(tokenizer: Any, token: str) -> int | None:
    ids = tokenizer.convert_tokens_to_ids([token])
    token_id = ids[0] if ids else None
    return None if token_id is None or token_id == tokenizer.unk_token_id else int(token_id)


def align_eos(model: Any, tokenizer: Any) -> list[int]:
    """Make `<|im_end|>` (when the vocabulary has it) the tokenizer's eos and the first of the model's generation
    eos ids, keeping any others; return the eos ids a completion may end at."""
    end_id = _token_id(tokenizer, END_OF_TURN)
    if end_id is not None and tokenizer.eos_token_id != end_id:
        log.info("eos: %r -> %r (chat turns end with it)", tokenizer.eos_token, END_OF_TURN)
        tokenizer.eos_token = END_OF_TURN
    declared = model.generation_config.eos_token_id
    declared = [] if declared is None else [declared] if isinstance(declared, int) else list(declared)
    ids = [tokenizer.eos_token_id] + [i for i in declared if i != tokenizer.eos_token_id]
    model.generation_config.eos_token_id = ids if len(ids) > 1 else ids[0]
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return ids


def check_think_tags(tokenizer: Any) -> None:
    """ChatAlignmentError when decoding with `skip_special_tokens=True` (as GRPO does) erases `<think>` tags."""
    text = f"{THINK_OPEN}\n1+1=2\n{THINK_CLOSE}\n\\boxed{{2}}"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    if THINK_OPEN not in decoded or THINK_CLOSE not in decoded:
        special = [t for t in (THINK_OPEN, THINK_CLOSE) if t in getattr(tokenizer, "all_special_tokens", [])]
        raise ChatAlignmentError(
            f"the tokenizer's decode(skip_special_tokens=True) drops the think tags ({decoded!r}); {special or 'they'} "
            "must be normal added tokens (special=False), or the format reward never sees them"
        )


def prompt_opens_think(tokenizer: Any, chat_template_kwargs: Mapping[str, Any] | None = None) -> bool:
    """True when the chat template's generation prompt already ends with `<think>` (Qwen3 thinking-only models):
    completions then hold only the thinking's body and its closing tag."""
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "1+1?"}],
        tokenize=False,
        add_generation_prompt=True,
        **dict(chat_template_kwargs or {}),
    )
    return rendered.rstrip().endswith(THINK_OPEN)


def keep_raw_completions(tokenizer: Any) -> Any:
    """Drop a `response_template` (transformers >= 5 response parser) for training and return it (put it back
    before saving): with one, TRL would hand the rewards a parsed message whose thinking sits outside `content`,
    and the format / correctness rewards read `content`."""
    template = getattr(tokenizer, "response_template", None)
    if template is not None:
        log.info("tokenizer response_template set aside: rewards read the raw completion text")
        tokenizer.response_template = None
    return template


def adapt_reward_spec(spec: Mapping[str, Any], opens_think: bool) -> dict[str, Any]:
    """A copy of a conf/reward spec; when the prompt already opens `<think>`, format rewards accept a completion
    without its own opening tag (otherwise no completion could ever earn the format reward)."""
    spec = {**spec, "funcs": [dict(f) for f in spec["funcs"]]}
    if opens_think:
        for func in spec["funcs"]:
            if func.get("name") == "format" and not func.get("allow_missing_open_tag", False):
                log.info("format reward: allow_missing_open_tag=true (the chat template opens <think>)")
                func["allow_missing_open_tag"] = True
    return spec
