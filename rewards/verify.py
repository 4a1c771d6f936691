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
from fractions import Fraction

from .extract import MAX_ANSWER_CHARS, _last_rhs, clean_answer, extract_final_answer, match_braces, parse_gold
from .fast_path import Number, is_non_scalar, numbers_equal, parse_number, structural_key
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

    In order: multiple-choice letters (with their option text), text answers (compared
    as text, never as a partial number), lists and sets (order-free unless the gold is a
    tuple), then one value (exact numbers, structure, math-verify).  With
    ``symbolic=False`` a case that needs math-verify returns ``("defer", False)``."""
    gold = _sanitize(gold)
    if gold is None:
        return "bad_gold", True
    pred = _sanitize(pred)
    if pred is None:
        return "no_answer", True
    budget = _settings["timeout_s"] if timeout_s is None else float(timeout_s)
    ctx = _Ctx(time.monotonic() + budget, symbolic)
    reason = _compare(pred, gold, ctx, 0)
    return reason, ctx.fast


class _Ctx:
    """Deadline and bookkeeping of one comparison (its parts share the budget)."""

    __slots__ = ("deadline", "symbolic", "fast")

    def __init__(self, deadline: float, symbolic: bool) -> None:
        self.deadline = deadline
        self.symbolic = symbolic
        self.fast = True


_WRAP_CMD = re.compile(r"^\\(?:text\w*|mathrm|mathbf|mbox|operatorname)\s*\{(.*)\}$", re.DOTALL)
_CHOICE = re.compile(r"^\(([A-E])\)\s*(.*)$|^([A-E])(?:[.:)]\s*(.*))?$", re.DOTALL)
_TIME = re.compile(r"(\d{1,2}):(\d{2})\s*(?:\\[ ,;]|~|\\text\s*\{)?\s*([ap])\.?\s*m\b\.?", re.IGNORECASE)
_MATH_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "sqrt", "pi", "max", "min", "det"}


def _unwrap_text(s: str) -> tuple[str, bool]:
    """``$\\text{(C)}$`` -> ``(C)``; True when a text command wrapped the whole answer."""
    s = s.replace("$", " ").strip()
    wrapped = False
    for _ in range(4):
        m = _WRAP_CMD.match(s)
        if not m or "{" in m.group(1) or "}" in m.group(1):
            break
        s, wrapped = m.group(1).strip(), True
    return s, wrapped


def _choice(s: str) -> tuple[str, str] | None:
    """(letter, option text) of a multiple-choice answer ``C`` / ``(C)`` / ``(B) 12``."""
    core, _ = _unwrap_text(s)
    core = re.sub(r"\\text\w*\s*\{([^{}]*)\}", r"\1", core).strip()
    m = _CHOICE.match(core)
    if not m:
        return None
    if m.group(1):
        return m.group(1), m.group(2).strip()
    return m.group(3), (m.group(4) or "").strip()


def _text_key(s: str) -> str:
    s = re.sub(r"\\(?:text\w*|mathrm|mbox)\s*\{([^{}]*)\}", r"\1", s.replace("$", " "))
    s = re.sub(r"\\[,;:! ]|~", " ", s)
    return " ".join(s.casefold().replace(".", " ").split())


def _is_text(s: str) -> bool:
    """A word answer (``\\text{Evelyn}``, ``odd``): no digits, no mathematics."""
    core, wrapped = _unwrap_text(s)
    if not core or any(c.isdigit() for c in core) or "\\" in core:
        return False
    if not re.fullmatch(r"[^\W\d_]+(?:[ \-'][^\W\d_]+)*\.?", core):
        return False
    words = re.findall(r"[^\W\d_]{3,}", core)
    return wrapped or any(w.casefold() not in _MATH_WORDS for w in words)


def _time_key(s: str) -> str | None:
    m = _TIME.search(s)
    if m is None:
        return None
    return f"{int(m.group(1))}:{m.group(2)}{m.group(3).lower()}m"


_THOUSANDS_COMMA = re.compile(r"(?<![\d.])\d,\d{3}(?![\d])|(?<=\d{2}),\d{3}(?!\d)")
_SPLIT_WORD = re.compile(r"\\text\s*\{\s*(?:and|or|,)\s*\}|\\q?quad\b|\b(?:and|or)\b")
_ITEM_LHS = re.compile(r"^[A-Za-z][A-Za-z0-9_{}\\]*(?:\([^()]*\))?\s*=(?!=)")
MAX_ITEMS = 32


def _split_top(s: str) -> list[str]:
    """Split at top-level ``,`` / ``;`` (brackets, braces and ``\\{ \\}`` nest)."""
    parts, depth, start = [], 0, 0
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and s[i + 1 : i + 2] in ("{", "}"):
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch in ",;" and depth == 0 and not _THOUSANDS_COMMA.match(s, i - 1):
            parts.append(s[start:i])
            start = i + 1
        i += 1
    parts.append(s[start:])
    return parts


def _items(s: str) -> tuple[str, list[str]]:
    """(shape, elements) of an answer: ``set`` (``\\{..\\}`` or a list of two or more),
    ``tuple`` (one ``(a, b, ..)``), or ``one``."""
    s = s.replace("$", " ").replace("\\left", "").replace("\\right", "").strip()
    s = re.sub(r"\\[,;:! ]|~", " ", s).strip()
    shape = None
    if s.startswith("\\{") and s.endswith("\\}") and len(_split_top(s)) == 1:
        s, shape = s[2:-2].strip(), "set"
    elif s.startswith("{") and s.endswith("}") and len(_split_top(s)) == 1 and "," in s:
        s, shape = s[1:-1].strip(), "set"
    if len(s) > MAX_ANSWER_CHARS * 2:
        return "one", [s]
    parts = [p.strip() for chunk in _split_top(_SPLIT_WORD.sub(",", s)) for p in [chunk] if p.strip()]
    out: list[str] = []
    for p in parts:
        m = _ITEM_LHS.match(p)
        if m and len(parts) > 1:
            p = p[m.end() :].strip()  # "a_3 = 2, a_{37} = 19" -> values
        if "=" in p or "\\approx" in p:
            p = _last_rhs(p, computation=False)
        if p.count("\\pm") == 1:  # 1 \pm \sqrt{2}: two values
            out += [p.replace("\\pm", "+"), p.replace("\\pm", "-")]
        elif p:
            out.append(p)
    if shape == "set" or len(out) > 1:
        return "set", out
    one = out[0] if out else s
    if one.startswith("(") and one.endswith(")") and len(_split_top(one[1:-1])) > 1:
        return "tuple", [x.strip() for x in _split_top(one[1:-1])]
    return "one", [one]


def _match_sets(p_items: list[str], g_items: list[str], ctx: _Ctx, depth: int) -> str:
    """Order-free equality of two lists of answers (duplicates ignored)."""

    def dedupe(items: list[str]) -> list[str]:
        seen, out = set(), []
        for x in items:
            k = structural_key(x)
            if k not in seen:
                seen.add(k)
                out.append(x)
        return out

    p_items, g_items = dedupe(p_items), dedupe(g_items)
    if len(g_items) == 1 and 1 < len(p_items) <= 4:  # "\\boxed{0.5} or \\boxed{1/2}": one answer, two forms
        for p in p_items:
            verdict = "correct" if _cheap_equal(p, g_items[0]) else _compare(p, g_items[0], ctx, depth + 1)
            if verdict != "correct":
                return verdict
        return "correct"
    if len(p_items) != len(g_items) or len(g_items) > MAX_ITEMS:
        return "wrong"
    left = list(range(len(p_items)))
    pending = []
    for g in g_items:  # cheap pass: exact numbers and identical structure
        hit = next((j for j in left if _cheap_equal(p_items[j], g)), None)
        if hit is None:
            pending.append(g)
        else:
            left.remove(hit)
    for g in pending:  # the rest through the full comparison, sharing the deadline
        for j in left:
            verdict = _compare(p_items[j], g, ctx, depth + 1)
            if verdict in ("timeout", "defer"):
                return verdict
            if verdict == "correct":
                left.remove(j)
                break
        else:
            return "wrong"
    return "correct"


def _cheap_equal(p: str, g: str) -> bool:
    gn, pn = parse_number(g), parse_number(p)
    if gn is not None and pn is not None:
        return numbers_equal(gn, pn)
    gk = structural_key(g)
    return bool(gk) and gk == structural_key(p)


def _compare(pred: str, gold: str, ctx: _Ctx, depth: int) -> str:
    g = parse_number(gold)
    if g is not None:  # the common GSM8K case first: two plain numbers, decided exactly
        p = parse_number(pred)
        if p is not None:
            equal = numbers_equal(g, p) or _long_decimal_equal(pred, p, g) or _long_decimal_equal(gold, g, p)
            return "correct" if equal else "wrong"
    pred, gold = _prep(pred), _prep(gold)
    if not pred:
        return "no_answer"
    if not gold:
        return "bad_gold"
    gc = _choice(gold)
    if gc is not None:
        pc = _choice(pred)
        if pc is not None:
            return "correct" if pc[0] == gc[0] else "wrong"
        return _compare(pred, gc[1], ctx, depth + 1) if gc[1] and depth < 3 else "wrong"
    gt, pt = _time_key(gold), _time_key(pred)
    if gt is not None or pt is not None:  # 4:30 p.m.: a time, never a partial number
        return "correct" if gt == pt else "wrong"
    if _is_text(gold):
        return "correct" if _text_key(pred) == _text_key(gold) else "wrong"
    if depth < 2:
        number = parse_number(gold) is not None or _DECIMAL_COMMA.fullmatch(gold)
        g_shape, g_items = ("one", [gold]) if number else _items(gold)  # 1,234 is one number
        p_one = parse_number(pred) is not None or (number and _DECIMAL_COMMA.fullmatch(pred))
        p_shape, p_items = ("one", [pred]) if p_one else _items(pred)
        if g_shape == "set" or p_shape == "set":
            if g_shape == "tuple" and len(p_items) == len(g_items):  # (1,3) vs {1,3}: the gold's order
                return _match_ordered(p_items, g_items, ctx, depth)
            if len(g_items) > 1 or len(p_items) > 1:
                return _match_sets(p_items, g_items, ctx, depth)
        elif g_shape == "tuple" and p_shape == "tuple" and len(p_items) == len(g_items):
            verdict = _match_ordered(p_items, g_items, ctx, depth)
            numeric = all(parse_number(x) is not None for x in p_items + g_items)
            if verdict == "correct" or numeric:  # tuples of numbers: decided here
                return verdict
        elif g_shape == "tuple" and p_shape == "tuple":
            return "wrong"  # (1, 2) vs (1, 2, 3)
    return _compare_one(_last_rhs(pred, False), _last_rhs(gold, False), ctx)


def _match_ordered(p_items: list[str], g_items: list[str], ctx: _Ctx, depth: int) -> str:
    for p, g in zip(p_items, g_items):
        if not _cheap_equal(p, g):
            verdict = _compare(p, g, ctx, depth + 1)
            if verdict != "correct":
                return verdict
    return "correct"


def _prep(s: str) -> str:
    s = s.strip()
    s = re.sub(r"\\!\s*", "", s)
    return clean_answer(s) or ""


_DECIMAL_COMMA = re.compile(r"([+-]?\d+),(\d+)")
_LONG_DECIMAL = re.compile(r"\.(\d{10,})\s*$")


def _comma_decimal(raw: str, other) -> Fraction | None:
    """``1000,99`` read as 1000.99 when the other side is a non-integer number."""
    m = _DECIMAL_COMMA.fullmatch(raw.replace("$", "").strip())
    if m is None or other is None or other.value.denominator == 1:
        return None
    return Fraction(f"{m.group(1)}.{m.group(2)}")


def _long_decimal_equal(p_raw: str, p, g) -> bool:
    """``0.0833333333333333`` == 1/12: a decimal of 10+ digits that rounds or truncates
    a rational at its last digit.  Shorter decimals stay exact (0.333 != 1/3)."""
    m = _LONG_DECIMAL.search(p_raw)
    if m is None:
        return False
    return abs(p.value - g.value) <= Fraction(1, 10 ** len(m.group(1)))


def _compare_one(pred: str, gold: str, ctx: _Ctx) -> str:
    g = parse_number(gold)
    p = parse_number(pred)
    if g is None and p is not None:
        v = _comma_decimal(gold, p)
        if v is not None:
            return "correct" if numbers_equal(Number(v), p) else "wrong"
    if g is not None and p is None:
        v = _comma_decimal(pred, g)
        if v is not None:
            return "correct" if numbers_equal(g, Number(v)) else "wrong"
    if g is not None:
        if p is not None:
            if numbers_equal(g, p) or _long_decimal_equal(pred, p, g) or _long_decimal_equal(gold, g, p):
                return "correct"
            return "wrong"
        if "\\" not in pred and not any(c.isdigit() for c in pred):
            return "wrong"  # a rational gold needs a digit or a LaTeX command
        if is_non_scalar(pred):
            return "wrong"
    elif is_non_scalar(gold) and p is not None:
        return "wrong"
    gk, pk = structural_key(gold), structural_key(pred)
    if gk and gk == pk:
        return "correct"
    if is_too_expensive(gold) or is_too_expensive(pred):
        return "wrong"
    if not ctx.symbolic:
        return "defer"
    ctx.fast = False
    remaining = ctx.deadline - time.monotonic()
    if remaining <= 0.005:
        return "timeout"
    return symbolic_check(gold, pred, remaining)


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
    strict: bool = False,
) -> VerifyResult:
    """Detailed verdict on a full completion against a gold answer or gold solution.

    ``strict``: only a marked answer counts (``\\boxed{}``, ``<answer>``, ``####``, an
    answer phrase); otherwise a bare answer or the text's last expression or number
    does too (see :mod:`rewards.extract`)."""
    return _verify_one(prediction, gold, timeout_s, record, strict, True)


def _verify_one(
    prediction: object, gold: object, timeout_s: float | None, record: bool, strict: bool, symbolic: bool
) -> VerifyResult:
    t0 = time.perf_counter()
    gold_ans = parse_gold(gold) if gold is not None else None  # type: ignore[arg-type]
    pred_ans = extract_final_answer(prediction, strict) if isinstance(prediction, str) else None
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
    strict: bool = False,
) -> list[VerifyResult]:
    """:func:`verify_detailed` over pairs; the fast-path cases run inline, the ones
    needing math-verify run concurrently on the worker pool (one thread each worker)."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} golds")
    out = [_verify_one(p, g, timeout_s, True, strict, False) for p, g in zip(predictions, golds)]
    deferred = [i for i, r in enumerate(out) if r.reason == "defer"]
    if not deferred:
        return out
    from .symbolic import get_pool

    def run(i: int) -> VerifyResult:
        return _verify_one(predictions[i], golds[i], timeout_s, True, strict, True)

    threads = min(len(deferred), get_pool().n_workers)
    if threads <= 1:
        for i in deferred:
            out[i] = run(i)
        return out
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="verify") as ex:
        for i, res in zip(deferred, ex.map(run, deferred)):
            out[i] = res
    return out


def verify(prediction: str, gold: str, *, timeout_s: float | None = None, strict: bool = False) -> bool:
    """True iff the completion's final answer equals the gold (answer or solution).

    ``prediction`` may be a full completion or a bare answer (``'-5'``); ``strict``
    requires a marked answer (see :func:`verify_detailed`)."""
    return verify_detailed(prediction, gold, timeout_s=timeout_s, strict=strict).correct


def verify_answer(pred_answer: str, gold_answer: str, *, timeout_s: float | None = None) -> bool:
    """True iff two already-extracted answers are equivalent."""
    return verify_answer_detailed(pred_answer, gold_answer, timeout_s=timeout_s).correct
