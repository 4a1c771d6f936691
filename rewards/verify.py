"""Is a completion's final answer equal to the gold answer?  One bounded call.

Pipeline per call (all before any sympy): extract the prediction's final answer
(:mod:`rewards.extract`), parse the gold, cap sizes, try the exact numeric fast path
and a structural string match (:mod:`rewards.fast_path`), refuse to *compute*
anything that looks too big (exponent towers, huge factorials, very deep nesting,
TeX primitives -- compared structurally only), and only then ask math-verify in a
bounded worker process (:mod:`rewards.symbolic`).  Every call is recorded in
:data:`rewards.metrics.STATS`.

Why by hand: math-verify's ``verify(parse(gold), parse(pred))`` does the symbolic
part well, but has no think-block-aware extraction, no thread-safe hard timeout,
no guard against answers that are expensive to evaluate, and is ~50x slower than
needed on plain numbers.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .extract import MAX_ANSWER_CHARS, clean_answer, extract_final_answer, match_braces, parse_gold
from .fast_path import is_non_scalar, numbers_equal, parse_number, structural_key
from .metrics import STATS
from .symbolic import symbolic_check

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "REASONS",
    "VerifyResult",
    "compare_answers",
    "configure",
    "is_too_expensive",
    "verify",
    "verify_answer",
    "verify_batch",
    "verify_detailed",
    "verify_answer_detailed",
]

#: Default wall-clock bound of one verification (seconds).
DEFAULT_TIMEOUT_S = 0.5
REASONS = ("correct", "wrong", "no_answer", "bad_gold", "timeout")
_settings = {"timeout_s": DEFAULT_TIMEOUT_S}

MAX_BRACE_DEPTH = 24
MAX_INT_EXPONENT = 10_000
MAX_FACTORIAL = 1_000


@dataclass(frozen=True)
class VerifyResult:
    """Verdict of one verification.

    ``reason`` is one of :data:`REASONS`; ``fast_path`` is True when no sympy was
    needed; ``seconds`` is the wall-clock time of the call.
    """

    correct: bool
    reason: str
    fast_path: bool
    pred_answer: str | None = None
    gold_answer: str | None = None
    seconds: float = 0.0

    def __bool__(self) -> bool:
        return self.correct


def configure(timeout_s: float | None = None, workers: int | None = None) -> None:
    """Set the process-wide default per-call bound (seconds) and, before the pool
    starts, its number of worker processes."""
    if timeout_s is not None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        _settings["timeout_s"] = float(timeout_s)
    if workers is not None:
        from .symbolic import get_pool

        pool = get_pool()
        if not pool._started:
            pool.n_workers = max(1, int(workers))


_TOWER_FLAT = re.compile(r"\^\s*\d+\s*\^")
_SYMBOL = re.compile(r"[a-df-zA-Z]")  # a letter other than e (Euler's number)
_COMMAND = re.compile(r"\\[a-zA-Z]+")
_INT_EXP = re.compile(r"\^\s*\{?\s*(\d{5,})")
_FACT = re.compile(r"(\d+)\s*!")
_FACT_GROUP = re.compile(r"[)}\]]\s*!")
_BIG_ARG = re.compile(r"\\(?:binom|choose)\s*\{\s*\d{6,}|\\(?:[dt]?binom)\s*\d{6,}")
_TEX_PRIMITIVE = re.compile(
    r"\\(?:input|include|write|immediate|openout|openin|read|def|edef|gdef|let|newcommand|"
    r"renewcommand|catcode|csname|expandafter|usepackage|begin\s*\{\s*verbatim)\b"
)


def is_too_expensive(ans: str) -> bool:
    """True when ``ans`` should only be compared structurally, never evaluated."""
    if len(ans) > MAX_ANSWER_CHARS:
        return True
    if _TEX_PRIMITIVE.search(ans) or _TOWER_FLAT.search(ans) or _BIG_ARG.search(ans) or _FACT_GROUP.search(ans):
        return True
    for m in _INT_EXP.finditer(ans):
        if int(m.group(1)) > MAX_INT_EXPONENT:
            return True
    for m in _FACT.finditer(ans):
        if len(m.group(1)) > 4 or int(m.group(1)) > MAX_FACTORIAL:
            return True
    if "{" in ans:
        # depth, and towers written with braces: an exponent group containing '^'
        depth = 0
        for ch in ans:
            if ch == "{":
                depth += 1
                if depth > MAX_BRACE_DEPTH:
                    return True
            elif ch == "}":
                depth -= 1
        if "^" in ans:
            pairs = match_braces(ans, 0)
            for m in re.finditer(r"\^\s*\{", ans):
                close = pairs.get(m.end() - 1)
                exponent = ans[m.end() : close] if close is not None else ""
                # a numeric tower (9^{9^{9}}) would be evaluated; x^{y^2} stays symbolic
                if "^" in exponent and not _SYMBOL.search(_COMMAND.sub("", exponent)):
                    return True
    return False


def _sanitize(ans: str | None) -> str | None:
    if ans is None:
        return None
    if not isinstance(ans, str):
        ans = str(ans)
    ans = ans.replace("\x00", "")
    if not ans.isascii():
        ans = unicodedata.normalize("NFKC", ans)
    ans = ans.strip()
    return ans or None


def compare_answers(
    pred: str | None, gold: str | None, timeout_s: float | None = None, symbolic: bool = True
) -> tuple[str, bool]:
    """(reason, fast_path) for two already-extracted answers.

    With ``symbolic=False`` a case that needs math-verify returns ``("defer", False)``."""
    gold = _sanitize(gold)
    if gold is None:
        return "bad_gold", True
    pred = _sanitize(pred)
    if pred is None:
        return "no_answer", True
    g = parse_number(gold)
    if g is not None:
        p = parse_number(pred)
        if p is not None:
            return ("correct" if numbers_equal(g, p) else "wrong"), True
        if "\\" not in pred and not any(c.isdigit() for c in pred):
            return "wrong", True  # a rational gold needs a digit or a LaTeX command
        if is_non_scalar(pred):
            return "wrong", True
    elif is_non_scalar(gold) and parse_number(pred) is not None:
        return "wrong", True
    gk, pk = structural_key(gold), structural_key(pred)
    if gk and gk == pk:
        return "correct", True
    if is_too_expensive(gold) or is_too_expensive(pred):
        return "wrong", True
    if not symbolic:
        return "defer", False
    budget = _settings["timeout_s"] if timeout_s is None else float(timeout_s)
    verdict = symbolic_check(gold, pred, budget)
    return verdict, False


def verify_answer_detailed(
    pred_answer: str | None, gold_answer: str | None, *, timeout_s: float | None = None, record: bool = True
) -> VerifyResult:
    """Detailed verdict on already-extracted answers (math delimiters are trimmed)."""
    t0 = time.perf_counter()
    pred = clean_answer(pred_answer) if isinstance(pred_answer, str) else None
    gold = clean_answer(gold_answer) if isinstance(gold_answer, str) else None
    reason, fast = compare_answers(pred, gold, timeout_s)
    dt = time.perf_counter() - t0
    if record:
        STATS.record(reason, fast, dt)
    return VerifyResult(reason == "correct", reason, fast, pred, gold, dt)


def verify_detailed(
    prediction: str | None,
    gold: str | None,
    *,
    timeout_s: float | None = None,
    record: bool = True,
    last_number_fallback: bool = False,
) -> VerifyResult:
    """Detailed verdict on a full completion against a gold answer or gold solution."""
    return _verify_one(prediction, gold, timeout_s, record, last_number_fallback, True)


def _verify_one(
    prediction: object, gold: object, timeout_s: float | None, record: bool, fallback: bool, symbolic: bool
) -> VerifyResult:
    t0 = time.perf_counter()
    gold_ans = parse_gold(gold) if gold is not None else None  # type: ignore[arg-type]
    pred_ans = extract_final_answer(prediction, fallback) if isinstance(prediction, str) else None
    if gold_ans is None:
        reason, fast = "bad_gold", True
    else:
        budget = _settings["timeout_s"] if timeout_s is None else float(timeout_s)
        reason, fast = compare_answers(pred_ans, gold_ans, budget - (time.perf_counter() - t0), symbolic)
    dt = time.perf_counter() - t0
    if record and reason != "defer":
        STATS.record(reason, fast, dt)
    return VerifyResult(reason == "correct", reason, fast, pred_ans, gold_ans, dt)


def verify_batch(
    predictions: Sequence[str | None],
    golds: Sequence[str | None],
    *,
    timeout_s: float | None = None,
    last_number_fallback: bool = False,
) -> list[VerifyResult]:
    """:func:`verify_detailed` over pairs; the fast-path cases run inline, the ones
    needing math-verify run concurrently on the worker pool (one thread each worker)."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} golds")
    out = [_verify_one(p, g, timeout_s, True, last_number_fallback, False) for p, g in zip(predictions, golds)]
    deferred = [i for i, r in enumerate(out) if r.reason == "defer"]
    if not deferred:
        return out
    from .symbolic import get_pool

    def run(i: int) -> VerifyResult:
        return _verify_one(predictions[i], golds[i], timeout_s, True, last_number_fallback, True)

    threads = min(len(deferred), get_pool().n_workers)
    if threads <= 1:
        for i in deferred:
            out[i] = run(i)
        return out
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="verify") as ex:
        for i, res in zip(deferred, ex.map(run, deferred)):
            out[i] = res
    return out


def verify(prediction: str, gold: str, *, timeout_s: float | None = None) -> bool:
    """True iff the completion's final answer equals the gold (answer or solution)."""
    return verify_detailed(prediction, gold, timeout_s=timeout_s).correct


def verify_answer(pred_answer: str, gold_answer: str, *, timeout_s: float | None = None) -> bool:
    """True iff two already-extracted answers are equivalent."""
    return verify_answer_detailed(pred_answer, gold_answer, timeout_s=timeout_s).correct
