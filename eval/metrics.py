"""Evaluation metrics over sampled completions: pass@k, maj@k, mean@n, bootstrap CIs, and their roll-up.

Pure Python + numpy. Inputs are per-item lists of per-sample verdicts (bool), extracted answers
(str or None), generated token counts and truncation flags; sample 0 is the greedy / first sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Normalizer = Callable[[str], "str | None"]


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return int(value)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator ``1 - C(n-c, k) / C(n, k)`` (Chen et al. 2021, product form).

    ``n`` samples, ``c`` of them correct. Computed as ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, which
    avoids huge binomials. ``c == 0`` → 0.0; ``n - c < k`` → 1.0.
    """
    n, c, k = _check_int("n", n), _check_int("c", c), _check_int("k", k)
    if n < 1:
        raise ValueError(f"n must be >= 1, got n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"k must satisfy 1 <= k <= n, got k={k}, n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"c must satisfy 0 <= c <= n, got c={c}, n={n}")
    if c == 0:
        return 0.0
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def majority_index(answers: Sequence[str | None], k: int, normalize: Normalizer | None = None) -> int | None:
    """Index (within the first ``k``) of the sample whose answer wins the vote, or None if none voted.

    ``None`` answers (and answers the normaliser maps to None) do not vote. Ties are broken
    deterministically: among the tied answers, the one that appears EARLIEST in the samples wins,
    and the returned index is that answer's first occurrence.
    """
    counts: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for i, answer in enumerate(answers[:k]):
        if answer is None:
            continue
        key = normalize(answer) if normalize is not None else answer
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first_seen.setdefault(key, i)
    if not counts:
        return None
    top = max(counts.values())
    return min(first_seen[key] for key, count in counts.items() if count == top)


def maj_at_k(
    answers: Sequence[str | None],
    verdicts: Sequence[bool],
    k: int,
    normalize: Normalizer | None = None,
) -> float:
    """1.0 if the majority answer among the first ``k`` samples is correct, else 0.0.

    The voted answer's correctness is the verdict of its first occurrence (see :func:`majority_index`
    for voting and tie-breaking: earliest-appearing answer among the tied wins). No votes → 0.0.
    ``normalize`` maps raw answers to vote keys (e.g. strip spaces, canonical numbers).
    """
    k = _check_int("k", k)
    if len(answers) != len(verdicts):
        raise ValueError(f"answers and verdicts differ in length: {len(answers)} vs {len(verdicts)}")
    if not 1 <= k <= len(answers):
        raise ValueError(f"k must satisfy 1 <= k <= n, got k={k}, n={len(answers)}")
    index = majority_index(answers, k, normalize)
    return 0.0 if index is None else float(bool(verdicts[index]))


def maj_at_k_normalized(
    answers: Sequence[str | None], verdicts: Sequence[bool], k: int, normalize: Normalizer
) -> float:
    """:func:`maj_at_k` with a required answer normaliser (votes are counted on ``normalize(answer)``)."""
    return maj_at_k(answers, verdicts, k, normalize=normalize)


def mean_at_n(verdicts: Sequence[bool]) -> float:
    """Fraction of the ``n`` samples that are correct (mean@n)."""
    if len(verdicts) == 0:
        raise ValueError("mean_at_n needs at least one verdict, got an empty list")
    return float(np.mean(np.asarray(verdicts, dtype=np.float64)))


def bootstrap_ci(
    values: Sequence[float], n_resamples: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap ``(low, high)`` for the mean of ``values``, resampling items with replacement.

    Deterministic for a given ``seed``. Resamples are drawn in chunks so memory stays bounded.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError(f"bootstrap_ci needs a non-empty 1-D list of values, got shape {data.shape}")
    n_resamples = _check_int("n_resamples", n_resamples)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    rng = np.random.default_rng(seed)
    n = data.size
    chunk = max(1, min(n_resamples, 4_000_000 // n))
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = data[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


_ITEM_KEYS = ("verdicts", "answers", "n_tokens", "truncated")


def aggregate(
    items: Sequence[dict[str, Any]],
    ks: Sequence[int] | None = None,
    normalize: Normalizer | None = None,
    n_resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """Roll per-item samples up into benchmark metrics.

    Each item needs ``verdicts``, ``answers``, ``n_tokens`` and ``truncated`` (equal-length lists,
    sample 0 = greedy). Returns ``accuracy`` (mean of ``verdicts[0]``), ``pass@k`` and ``maj@k`` for
    every k in ``ks`` (default: 1..n, n = the smallest sample count), ``mean@n``, ``mean_tokens`` and
    ``truncation_rate`` (over all samples), ``ci_low``/``ci_high`` (percentile bootstrap of accuracy
    over items), ``n_items`` and ``n_samples``.
    """
    if len(items) == 0:
        raise ValueError("aggregate needs at least one item, got none")
    for i, item in enumerate(items):
        missing = [key for key in _ITEM_KEYS if key not in item]
        if missing:
            raise ValueError(f"item {i} lacks {missing}; each item needs {list(_ITEM_KEYS)}")
        lengths = {key: len(item[key]) for key in _ITEM_KEYS}
        if len(set(lengths.values())) != 1 or lengths["verdicts"] == 0:
            raise ValueError(f"item {i}: per-sample lists must be equal-length and non-empty, got {lengths}")
    n_min = min(len(item["verdicts"]) for item in items)
    if ks is None:
        ks = list(range(1, n_min + 1))
    ks = sorted({_check_int("k", k) for k in ks})
    bad = [k for k in ks if not 1 <= k <= n_min]
    if bad:
        raise ValueError(f"ks {bad} are outside 1..{n_min} (the smallest number of samples per item)")

    greedy = [float(bool(item["verdicts"][0])) for item in items]
    low, high = bootstrap_ci(greedy, n_resamples=n_resamples, alpha=alpha, seed=seed)
    result: dict[str, Any] = {
        "n_items": len(items),
        "n_samples": n_min,
        "accuracy": float(np.mean(greedy)),
        "ci_low": low,
        "ci_high": high,
    }
    for k in ks:
        result[f"pass@{k}"] = float(
            np.mean([pass_at_k(len(item["verdicts"]), sum(bool(v) for v in item["verdicts"]), k) for item in items])
        )
    for k in ks:
        result[f"maj@{k}"] = float(
            np.mean([maj_at_k(item["answers"], item["verdicts"], k, normalize=normalize) for item in items])
        )
    result["mean@n"] = float(np.mean([mean_at_n(item["verdicts"]) for item in items]))
    all_tokens = [int(t) for item in items for t in item["n_tokens"]]
    all_truncated = [bool(t) for item in items for t in item["truncated"]]
    result["mean_tokens"] = float(np.mean(all_tokens))
    result["truncation_rate"] = float(np.mean(all_truncated))
    return result
