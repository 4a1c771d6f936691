"""Step-level arithmetic reward: the share of a completion's written equations (`7 * 9 = 63`, `3 + 4 * 2 = 11`)
that hold, optionally only counting those whose operands are grounded in the question or earlier results.

A dense, rule-verifiable process signal: a binary correctness reward gives a group of eight wrong completions
no spread at all, while their equations are right to different degrees. Written here because neither TRL nor
math-verify checks the arithmetic *inside* a trace. Model output is hostile text: expressions are parsed by a
regular expression and a four-operation evaluator on `Fraction`s (never `eval`), numbers are capped in length,
and only the first `max_equations` equations are checked, so a reward call is linear in the text and cannot hang.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from .trl_rewards import completion_text

NUMBER = r"\d{1,18}(?:\.\d{1,12})?"
OPERATOR = r"[-+*/×÷]"
# a chain of numbers joined by operators, `=`, a number (a minus sign in front of the result is allowed)
EQUATION = re.compile(rf"(?<![\d.])({NUMBER}(?:\s*{OPERATOR}\s*{NUMBER}){{1,8}})\s*=\s*(-?{NUMBER})(?![\d])")
TOKEN = re.compile(rf"{NUMBER}|{OPERATOR}")
QUESTION_NUMBER = re.compile(NUMBER)


def evaluate(expression: str) -> Fraction | None:
    """The value of `a op b op c ...` with `*` `/` before `+` `-`; None on division by zero or a malformed chain."""
    tokens = TOKEN.findall(expression)
    if len(tokens) % 2 == 0:
        return None
    terms: list[Fraction] = []
    current = Fraction(tokens[0])
    pending_sign = 1
    for op, raw in zip(tokens[1::2], tokens[2::2]):
        value = Fraction(raw)
        if op in "*×":
            current *= value
        elif op in "/÷":
            if value == 0:
                return None
            current /= value
        else:
            terms.append(pending_sign * current)
            pending_sign = 1 if op == "+" else -1
            current = value
    terms.append(pending_sign * current)
    return sum(terms, Fraction(0))


def equation_checks(text: str, question: str | None = None, max_equations: int = 64) -> list[bool]:
    """For each distinct equation of `text` (first `max_equations`): does it hold (and, with a `question`, are its
    operands numbers of the question or results of earlier equations)?"""
    known = {Fraction(n) for n in QUESTION_NUMBER.findall(question)} if question is not None else None
    seen: set[str] = set()
    checks: list[bool] = []
    for match in EQUATION.finditer(text):
        key = re.sub(r"\s+", "", match.group(0))
        if key in seen:
            continue
        seen.add(key)
        left, right = match.group(1), Fraction(match.group(2))
        holds = evaluate(left) == right
        if known is not None:
            operands = {Fraction(n) for n in QUESTION_NUMBER.findall(left)}
            holds = holds and operands <= known
            known.add(right)
        checks.append(holds)
        if len(checks) >= max_equations:
            break
    return checks


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)):
        return "\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict) and m.get("role") == "user")
    return ""


def make_arithmetic_reward(
    grounded: bool = True, no_equation: float = 0.0, max_equations: int = 64, name: str = "arithmetic_reward"
) -> Callable[..., list]:
    """Reward = share of the completion's distinct equations that hold (`no_equation` when it writes none).
    `grounded`: an equation also needs every operand to be a number of the prompt or an earlier result (so
    correct but irrelevant equations, `1 + 1 = 2`, earn nothing; without `prompts` only the arithmetic is
    checked); use false where traces bring constants of their own (60 minutes, 100%)."""
    if max_equations < 1:
        raise ValueError(f"arithmetic reward: max_equations must be >= 1, got {max_equations}")

    def arithmetic_reward(completions: list, **kwargs: Any) -> list[float | None]:
        prompts = kwargs.get("prompts") or [None] * len(completions)
        out: list[float | None] = []
        for completion, prompt in zip(completions, prompts):
            question = _prompt_text(prompt) if grounded and prompt is not None else None  # no prompt: arithmetic only
            checks = equation_checks(completion_text(completion), question, max_equations)
            out.append(sum(checks) / len(checks) if checks else float(no_equation))
        return out

    arithmetic_reward.__name__ = arithmetic_reward.__qualname__ = name
    return arithmetic_reward


arithmetic_reward = make_arithmetic_reward()
