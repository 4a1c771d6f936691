"""How a completion reasons, not only whether it is right: how many equations it writes and whether any line
folds several operations into one (`(20 + 4) * 3 = 72`: a step skipped, its intermediate result computed in the
head). A student that skips steps it cannot do in its head is wrong more often; RL can teach it to write them out.

Read from the text with bounded regular expressions (model output is hostile text: nothing is evaluated, lines
and equations are capped in number and length); used by the eval summary (`trace_shape`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from rewards.arithmetic import NUMBER as _NUMBER  # the step reward's numbers and operators
from rewards.arithmetic import OPERATOR as _OPERATOR

_OPERAND = rf"\(?{_NUMBER}\)?"  # `(20` or `4)`: brackets touch their numbers, as written by the teacher
# a chain `a op b [op c ...]` followed by `= n`; each space has one place in the pattern (no backtracking blow-up)
_EQUATION = re.compile(
    rf"(?<![\d.])({_OPERAND}(?:\s{{0,3}}{_OPERATOR}\s{{0,3}}{_OPERAND}){{1,8}})\s{{0,3}}=\s{{0,3}}-?{_NUMBER}"
)
_OPERATOR_BETWEEN = re.compile(rf"(?<=[\d)])\s{{0,3}}{_OPERATOR}\s{{0,3}}(?=[\d(])")
MAX_CHARS = 20_000  # longer text is cut before it is read
MAX_EQUATIONS = 64  # equations read per completion


def reasoning_text(completion: str) -> str:
    """The thinking of a completion (before `</think>`, or all of it when the tag is missing), capped in length."""
    return completion[:MAX_CHARS].split("</think>", 1)[0]


def equation_operator_counts(completion: str) -> list[int]:
    """For each equation the completion's reasoning writes (first MAX_EQUATIONS), the operators on its left side."""
    counts = []
    for match in _EQUATION.finditer(reasoning_text(completion)):
        counts.append(len(_OPERATOR_BETWEEN.findall(match.group(1))))
        if len(counts) >= MAX_EQUATIONS:
            break
    return counts


def _folds(counts: list[int]) -> bool:
    """True when some equation (its operator count) combines two or more operations in one line."""
    return any(n >= 2 for n in counts)


def skips_a_step(completion: str) -> bool:
    """True when some equation of the reasoning combines two or more operations in one line."""
    return _folds(equation_operator_counts(completion))


def trace_shape(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`{n, equations_mean, skipped_step_share, accuracy_skipped, accuracy_step_by_step}` over eval records
    (`completion`, `correct`); an accuracy is None when no record falls in its class."""
    n = skipped = skipped_right = full_right = equations = 0
    for record in records:
        counts = equation_operator_counts(str(record.get("completion") or ""))
        n += 1
        equations += len(counts)
        right = bool(record.get("correct"))
        if _folds(counts):
            skipped += 1
            skipped_right += right
        else:
            full_right += right
    full = n - skipped
    return {
        "n": n,
        "equations_mean": equations / n if n else 0.0,
        "skipped_step_share": skipped / n if n else 0.0,
        "accuracy_skipped": skipped_right / skipped if skipped else None,
        "accuracy_step_by_step": full_right / full if full else None,
    }
