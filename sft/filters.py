"""Filters that decide which teacher traces a student may learn from, each one's drops counted in a report.

In order: `verified` (the record's final answer verified against the gold, `rewards.verify` when the record
has no `verified` field), `structure` (the trace format's layout, data/trace_format.py: for pre and adaptive
exactly one closed `<think>…</think>` block and one final `\\boxed{}` answer after it; for post one leading
`\\boxed{}` answer and no think block), `length` (token bounds on `tokens_out`, or whitespace words when
absent), `exact_dup` (same problem and same normalized trace), `near_dup` (same problem, word n-gram Jaccard
>= threshold with a kept trace), `decontam` (the problem shares an n-gram with an eval question). A record
dropped by one filter is not seen by later ones, so the counts add up to the number dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from data.ngrams import ngrams, normalize
from data.trace_format import TraceFormat

_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
FILTERS = ("verified", "structure", "length", "exact_dup", "near_dup", "decontam")


@dataclass(frozen=True)
class FilterConfig:
    """Which filters run, and their bounds."""

    verified: bool = True
    structure: bool = True
    min_tokens: int = 0
    max_tokens: int | None = None  # null: no upper bound
    exact_dup: bool = True
    near_dup_threshold: float | None = 0.9  # word n-gram Jaccard at or above this is a near duplicate; null: off
    near_dup_ngram: int = 3
    decontam_ngram: int | None = 8  # a problem sharing any word n-gram of this size with an eval question; null: off

    def __post_init__(self) -> None:
        if self.near_dup_threshold is not None and not 0 < self.near_dup_threshold <= 1:
            raise ValueError(f"near_dup_threshold must be in (0, 1] or null, got {self.near_dup_threshold}")
        if self.near_dup_ngram < 1 or (self.decontam_ngram is not None and self.decontam_ngram < 1):
            raise ValueError(f"n-gram sizes must be >= 1, got {self.near_dup_ngram}, {self.decontam_ngram}")
        if self.max_tokens is not None and self.max_tokens < self.min_tokens:
            raise ValueError(f"max_tokens {self.max_tokens} < min_tokens {self.min_tokens}")

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> FilterConfig:
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - valid)
        if unknown:
            raise ValueError(f"unknown filter config key(s) {unknown}; valid: {sorted(valid)}")
        return cls(**dict(cfg))


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def well_formed(trace: str, trace_format: TraceFormat | None = None) -> bool:
    """The layout of `trace_format` (default pre): one closed think block and exactly one `\\boxed{}` answer after it;
    for post, exactly one `\\boxed{}` answer, at the start, and no think block."""
    if trace_format is not None and trace_format.name == "post":
        return (
            _THINK_OPEN not in trace
            and _THINK_CLOSE not in trace
            and trace.count("\\boxed{") == 1
            and trace.lstrip().startswith("\\boxed{")
        )
    if trace.count(_THINK_OPEN) != 1 or trace.count(_THINK_CLOSE) != 1:
        return False
    head, _, tail = trace.partition(_THINK_CLOSE)
    return _THINK_OPEN in head and tail.count("\\boxed{") == 1


def is_verified(record: Mapping[str, Any]) -> bool:
    if "verified" in record and record["verified"] is not None:
        return bool(record["verified"])
    from rewards import verify

    return bool(verify(record["trace"], str(record["answer"])))


def n_tokens(record: Mapping[str, Any]) -> int:
    value = record.get("tokens_out")
    return int(value) if value is not None else len(record["trace"].split())


def apply_filters(
    records: Iterable[Mapping[str, Any]],
    cfg: FilterConfig | Mapping[str, Any] | None = None,
    eval_questions: Iterable[str] = (),
    trace_format: TraceFormat | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The records that pass every enabled filter, and `{n_in, n_kept, <filter>: n_dropped, ...}`; `structure`
    checks the layout of `trace_format` (default pre)."""
    config = cfg if isinstance(cfg, FilterConfig) else FilterConfig.from_mapping(cfg or {})
    report = {"n_in": 0, **{name: 0 for name in FILTERS}}
    eval_grams: set[tuple[str, ...]] = set()
    if config.decontam_ngram is not None:
        for question in eval_questions:
            eval_grams |= ngrams(normalize(question), config.decontam_ngram)
    contaminated: dict[str, bool] = {}
    seen_exact: set[tuple[str, str]] = set()
    kept_grams: dict[str, list[set]] = {}
    kept: list[dict[str, Any]] = []
    for record in records:
        report["n_in"] += 1
        problem = str(record.get("problem_id", record.get("problem", "")))
        if config.verified and not is_verified(record):
            report["verified"] += 1
            continue
        if config.structure and not well_formed(record["trace"], trace_format):
            report["structure"] += 1
            continue
        length = n_tokens(record)
        if length < config.min_tokens or (config.max_tokens is not None and length > config.max_tokens):
            report["length"] += 1
            continue
        words = normalize(record["trace"])
        key = (problem, " ".join(words))
        if config.exact_dup and key in seen_exact:
            report["exact_dup"] += 1
            continue
        seen_exact.add(key)
        if config.near_dup_threshold is not None:
            grams = ngrams(words, config.near_dup_ngram)
            if any(jaccard(grams, other) >= config.near_dup_threshold for other in kept_grams.get(problem, [])):
                report["near_dup"] += 1
                continue
        if eval_grams:
            question = str(record.get("problem", ""))
            if question not in contaminated:
                contaminated[question] = bool(ngrams(normalize(question), config.decontam_ngram) & eval_grams)
            if contaminated[question]:
                report["decontam"] += 1
                continue
        if config.near_dup_threshold is not None:
            kept_grams.setdefault(problem, []).append(grams)
        kept.append(dict(record))
    report["n_kept"] = len(kept)
    return kept, report
