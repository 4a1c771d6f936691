"""Reward functions with TRL 1.16's ``reward_funcs`` signature.

``f(completions, **kwargs) -> list[float | None]``: completions are strings or
conversational lists (``[{"role": "assistant", "content": ...}]``); dataset columns
(``answer``, ...) arrive as keyword lists, one entry per completion; TRL also passes
``prompts``, ``completion_ids``, ``trainer_state``, ``log_metric``, ... which are
used when useful and otherwise ignored.  ``None`` means "no reward for this row"
(TRL turns it into NaN and skips it) and is what an unparseable *gold* gets, so a
broken dataset row never rewards or punishes the policy.

Factories (``make_*``) carry the knobs; module-level instances use the defaults.
Written here because TRL ships no verifier-backed rewards and open-r1's versions
call math-verify with its signal-based timeout (breaks off the main thread).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from data.trace_format import EMPTY_THINK, FORMATS, trace_format

from .extract import box_spans
from .verify import verify_batch

__all__ = [
    "RewardFunc",
    "completion_text",
    "make_correctness_reward",
    "make_format_reward",
    "make_tag_count_reward",
    "make_length_penalty",
    "correctness_reward",
    "format_reward",
    "tag_count_reward",
    "length_penalty",
]

RewardFunc = Callable[..., list]
GOLD_KEYS = ("answer", "solution", "gold", "ground_truth")


def completion_text(completion: Any) -> str:
    """Text of one completion: a string, or the assistant turns of a conversation."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, Sequence):
        parts: list[str] = []
        for msg in completion:
            if not isinstance(msg, dict) or msg.get("role", "assistant") != "assistant":
                continue
            content = msg.get("content", "")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, Sequence):  # multimodal-style [{"type": "text", "text": ...}]
                parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
        return "\n".join(parts)
    return "" if completion is None else str(completion)


def _golds(kwargs: dict, key: str | None, n: int) -> list:
    keys = (key,) if key else GOLD_KEYS
    for k in keys:
        if k in kwargs and kwargs[k] is not None:
            golds = kwargs[k]
            if isinstance(golds, (str, bytes)) or not isinstance(golds, Sequence):
                golds = [golds] * n
            if len(golds) != n:
                raise ValueError(f"reward: column {k!r} has {len(golds)} entries for {n} completions")
            return list(golds)
    raise KeyError(f"reward: no gold column among {list(keys)}; got columns {sorted(kwargs)}")


def _named(fn: Callable, name: str) -> Callable:
    fn.__name__ = name
    fn.__qualname__ = name
    return fn


def make_correctness_reward(
    answer_key: str | None = None,
    timeout_s: float | None = None,
    correct: float = 1.0,
    wrong: float = 0.0,
    no_answer: float = 0.0,
    log_metrics: bool = True,
    warmup: bool = True,
    strict: bool = False,
    trace_format: str = "pre",
    name: str = "correctness_reward",
) -> RewardFunc:
    """1.0 if the final answer verifies against the gold, else 0.0; None for a bad gold.

    ``answer_key``: dataset column with the gold (default: first of answer/solution/
    gold/ground_truth present).  ``timeout_s``: per-completion bound (default
    :data:`rewards.verify.DEFAULT_TIMEOUT_S`); a timeout scores ``wrong``.
    ``log_metrics``: report batch no-answer/bad-gold/timeout/fast-path rates through
    TRL's ``log_metric`` kwarg.  ``warmup``: start the bounded math-verify workers now
    (warm, so that no call during training pays for it).  ``strict``: only a marked
    answer (``\\boxed{}``, ``<answer>``, ``####``, an answer phrase) counts; by default a
    bare answer or the completion's last expression or number does too (see
    :mod:`rewards.extract`; the format reward is what rewards the format).
    ``trace_format`` (data/trace_format.py): ``post`` reads only the completion's leading
    answer (the first ``\\boxed{}``, else its first line), never a number of the justification.
    """
    fmt = _format(trace_format)
    if warmup:
        from .symbolic import warmup as _warm

        _warm()

    def correctness_reward(completions: list, **kwargs: Any) -> list[float | None]:
        golds = _golds(kwargs, answer_key, len(completions))
        out: list[float | None] = []
        counts = {"no_answer": 0, "bad_gold": 0, "timeout": 0, "fast": 0}
        texts = [fmt.answer_region(completion_text(c)) for c in completions]
        results = verify_batch(texts, golds, timeout_s=timeout_s, strict=strict)
        for res in results:
            counts["fast"] += res.fast_path
            if res.reason in counts:
                counts[res.reason] += 1
            if res.reason == "bad_gold":
                out.append(None)
            elif res.correct:
                out.append(correct)
            elif res.reason == "no_answer":
                out.append(no_answer)
            else:
                out.append(wrong)
        log = kwargs.get("log_metric")
        if log_metrics and callable(log) and completions:
            n = len(completions)
            for k, v in counts.items():
                log(f"verify/{k}_frac", v / n)
        return out

    return _named(correctness_reward, name)


_BOX_WORD = re.compile(r"\\(?:boxed|fbox)\b")


def _format_ok(text: str, allow_missing_open: bool, max_tail_chars: int, min_think_chars: int) -> bool:
    s = text.strip()
    n_open, n_close = s.count("<think>"), s.count("</think>")
    if n_close != 1:
        return False
    if n_open == 1:
        if not s.startswith("<think>"):
            return False
        think = s[len("<think>") : s.index("</think>")]
    elif n_open == 0 and allow_missing_open:
        think = s[: s.index("</think>")]
    else:
        return False
    if len(think.strip()) < min_think_chars:
        return False
    tail = s[s.index("</think>") + len("</think>") :]
    if len(_BOX_WORD.findall(tail)) != 1:
        return False
    spans = box_spans(tail)
    if len(spans) != 1:
        return False
    start, end = spans[0]
    if not tail[start:end].strip():
        return False
    outside = len(tail) - (end - start)
    return outside <= max_tail_chars


def _format(name: str) -> Any:
    if name not in FORMATS:
        raise ValueError(f"unknown trace_format {name!r}; valid: {list(FORMATS)}")
    return trace_format(name)


def _post_format_ok(text: str, min_think_chars: int) -> bool:
    """The post format: (an optional empty think block, as a Qwen3 template writes under enable_thinking=False)
    one non-empty leading ``\\boxed{}``, then a justification of at least ``min_think_chars``, no other box and
    no think block."""
    s = text.strip()
    if s.startswith(EMPTY_THINK.strip()):
        s = s[len(EMPTY_THINK.strip()) :].lstrip()
    if "<think>" in s or "</think>" in s or not s.startswith("\\boxed") or len(_BOX_WORD.findall(s)) != 1:
        return False
    spans = box_spans(s)
    if len(spans) != 1 or not s[spans[0][0] : spans[0][1]].strip():
        return False
    justification = s[spans[0][1] :].lstrip("}")
    return len(justification.strip()) >= min_think_chars


def make_format_reward(
    allow_missing_open_tag: bool = False,
    max_tail_chars: int = 300,
    min_think_chars: int = 1,
    trace_format: str = "pre",
    name: str = "format_reward",
) -> RewardFunc:
    """1.0 iff the completion is ``<think>...</think>`` then exactly one non-empty
    ``\\boxed{}`` and at most ``max_tail_chars`` of other text after the thinking.

    ``trace_format`` (data/trace_format.py): ``adaptive`` also accepts an empty think block
    (the short answer to an easy problem); ``post`` asks for the leading ``\\boxed{}`` then a
    justification of at least ``min_think_chars`` (no think block; ``max_tail_chars`` unused).

    ``allow_missing_open_tag``: accept a completion without ``<think>`` (when the
    chat template already put it in the prompt).  Note TRL decodes with
    ``skip_special_tokens=True``: if the tokenizer marks ``<think>`` special, the
    tags vanish and this reward is always 0 -- keep them as normal tokens.
    """

    fmt = _format(trace_format)
    think_chars = 0 if fmt.name == "adaptive" else min_think_chars

    def ok(text: str) -> bool:
        if fmt.name == "post":
            return _post_format_ok(text, min_think_chars)
        return _format_ok(text, allow_missing_open_tag, max_tail_chars, think_chars)

    def format_reward(completions: list, **kwargs: Any) -> list[float | None]:
        return [1.0 if ok(completion_text(c)) else 0.0 for c in completions]

    return _named(format_reward, name)


def make_tag_count_reward(name: str = "tag_count_reward") -> RewardFunc:
    """Partial credit (0.25 each) for: one ``<think>`` at the start, one ``</think>``,
    exactly one ``\\boxed`` after it, and none inside the thinking.  A denser signal
    than :func:`make_format_reward` early in training (open-r1's tag_count idea)."""

    def tag_count_reward(completions: list, **kwargs: Any) -> list[float | None]:
        out: list[float | None] = []
        for c in completions:
            s = completion_text(c).strip()
            score = 0.0
            if s.startswith("<think>") and s.count("<think>") == 1:
                score += 0.25
            if s.count("</think>") == 1:
                score += 0.25
                head, tail = s.split("</think>", 1)
                if len(_BOX_WORD.findall(tail)) == 1:
                    score += 0.25
                if not _BOX_WORD.search(head):
                    score += 0.25
            out.append(score)
        return out

    return _named(tag_count_reward, name)


def make_length_penalty(
    soft_tokens: int = 3072,
    max_tokens: int = 4096,
    scale: float = 1.0,
    chars_per_token: float = 4.0,
    name: str = "length_penalty",
) -> RewardFunc:
    """DAPO-style soft overlong penalty: 0 up to ``soft_tokens``, then linear down to
    ``-scale`` at ``max_tokens``.  Uses TRL's ``completion_ids`` when passed, else
    ``len(text) / chars_per_token``."""
    if not 0 < soft_tokens < max_tokens:
        raise ValueError("length_penalty needs 0 < soft_tokens < max_tokens")

    def length_penalty(completions: list, **kwargs: Any) -> list[float | None]:
        ids = kwargs.get("completion_ids")
        out: list[float | None] = []
        for i, c in enumerate(completions):
            if ids is not None and i < len(ids) and ids[i] is not None:
                n = len(ids[i])
            else:
                n = len(completion_text(c)) / chars_per_token
            over = (n - soft_tokens) / (max_tokens - soft_tokens)
            out.append(-scale * min(1.0, over) if over > 0 else 0.0)
        return out

    return _named(length_penalty, name)


correctness_reward = make_correctness_reward(warmup=False)
format_reward = make_format_reward()
tag_count_reward = make_tag_count_reward()
length_penalty = make_length_penalty()
