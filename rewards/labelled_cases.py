"""The project's hand-labelled verification cases (shared by tests and the benchmark).

Each case is ``(completion, gold, expected, tag)``: ``completion`` is a full model
output (the final answer must be extracted from it), ``gold`` a gold answer or
solution, ``expected`` the verdict a careful human grader gives.  Both verdicts are
represented in every category.  The benchmark scores ``rewards.verify`` and plain
``math_verify.verify(parse(gold), parse(completion))`` on the same list.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Case", "LABELLED_CASES"]


class Case(NamedTuple):
    completion: str
    gold: str
    expected: bool
    tag: str


def _b(ans: str, think: str = "Let me work it out step by step.") -> str:
    return f"<think>{think}</think>\nSo the final answer is $\\boxed{{{ans}}}$."


_RAW: list[tuple[str, str, bool, str]] = [
    # --- integers, thousands separators ---------------------------------------------
    (_b("18"), "18", True, "integer"),
    (_b("19"), "18", False, "integer"),
    (_b("1,234"), "1234", True, "thousands"),
    (_b("1234"), "1,234", True, "thousands"),
    (_b("1{,}234"), "1234", True, "thousands"),
    (_b("1\\,234"), "1234", True, "thousands"),
    (_b("1 234 567"), "1234567", True, "thousands"),
    (_b("1,235"), "1234", False, "thousands"),
    (_b("12,34"), "1234", False, "thousands"),
    (_b("1,000,000"), "1000000", True, "thousands"),
    (_b("100,000"), "1000000", False, "thousands"),
    # --- signs, decimals, fractions --------------------------------------------------
    (_b("-5"), "-5", True, "sign"),
    (_b("5"), "-5", False, "sign"),
    (_b("\u22125"), "-5", True, "sign"),
    (_b("18.00"), "18", True, "decimal"),
    (_b("18.5"), "18", False, "decimal"),
    (_b("0.5"), "\\frac{1}{2}", True, "decimal_fraction"),
    (_b("0.333"), "\\frac{1}{3}", False, "decimal_fraction"),
    (_b("0.3333333"), "\\frac{1}{3}", False, "decimal_fraction"),
    (_b("\\frac{1}{3}"), "1/3", True, "fraction"),
    (_b("\\dfrac{3}{4}"), "\\frac{3}{4}", True, "fraction"),
    (_b("\\tfrac{6}{8}"), "\\frac{3}{4}", True, "fraction"),
    (_b("\\frac34"), "0.75", True, "fraction"),
    (_b("\\frac{4}{3}"), "\\frac{3}{4}", False, "fraction"),
    (_b("-\\frac{1}{2}"), "\\frac{-1}{2}", True, "fraction"),
    (_b("\\frac{1}{2}"), "-\\frac{1}{2}", False, "fraction"),
    (_b("7/2"), "3.5", True, "fraction"),
    # --- percentages (GSM8K convention: a % sign is a unit) --------------------------
    (_b("50\\%"), "50", True, "percent"),
    (_b("50%"), "50", True, "percent"),
    (_b("0.5"), "50\\%", True, "percent"),
    (_b("0.5"), "50", False, "percent"),
    (_b("25\\%"), "50", False, "percent"),
    # --- units and currency ---------------------------------------------------------
    (_b("\\$18"), "18", True, "currency"),
    (_b("\\$18.00"), "18", True, "currency"),
    (_b("18 dollars"), "18", True, "currency"),
    (_b("\\$1,080"), "1080", True, "currency"),
    (_b("\\$17"), "18", False, "currency"),
    (_b("18 \\text{ cm}"), "18", True, "units"),
    (_b("18\\text{ cm}^2"), "18", True, "units"),
    (_b("5 \\text{ hours}"), "5", True, "units"),
    (_b("6 \\text{ hours}"), "5", False, "units"),
    (_b("90^\\circ"), "90", True, "units"),
    (_b("80^\\circ"), "90", False, "units"),
    # --- scientific notation ------------------------------------------------------
    (_b("1.5\\times10^{3}"), "1500", True, "scientific"),
    (_b("1.5e3"), "1500", True, "scientific"),
    (_b("1.5 \\times 10^{4}"), "1500", False, "scientific"),
    (_b("10^{-2}"), "0.01", True, "scientific"),
    # --- extraction: nesting, several boxes, think blocks -----------------------------
    (_b("\\boxed{42}"), "42", True, "nested_boxed"),
    ("The answer is \\boxed{\\frac{\\sqrt{3}}{2}}.", "\\frac{\\sqrt{3}}{2}", True, "nested_boxed"),
    ("The answer is \\boxed{\\frac{\\sqrt{3}}{2}}.", "\\frac{\\sqrt{2}}{2}", False, "nested_boxed"),
    ("First \\boxed{3}, no wait: \\boxed{4}", "4", True, "last_boxed"),
    ("First \\boxed{4}, no wait: \\boxed{3}", "4", False, "last_boxed"),
    ("<think>I guess \\boxed{7}? The answer is 7.</think>\nThe answer is \\boxed{8}.", "8", True, "think"),
    ("<think>I guess \\boxed{7}? The answer is 7.</think>\nThe answer is \\boxed{8}.", "7", False, "think"),
    ("<think>Compute 6+1 = 7. So \\boxed{7}", "7", False, "think_unclosed"),
    ("6+1 = 7 so \\boxed{7} </think> The answer is \\boxed{7}", "7", True, "think_orphan_close"),
    ("<think>It is \\boxed{7}.</think> I am not sure.", "7", False, "think"),
    ("\\fbox{12}", "12", True, "fbox"),
    # --- other answer formats ----------------------------------------------------
    ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72", True, "gsm8k_hashes"),
    ("Natalia sold 48 + 24 = 72 clips.\n#### 71", "72", False, "gsm8k_hashes"),
    ("<answer>15</answer>", "15", True, "answer_tag"),
    ("<answer>16</answer>", "15", False, "answer_tag"),
    ("So, the final answer is 36.", "36", True, "phrase"),
    ("So, the final answer is 35.", "36", False, "phrase"),
    ("Final Answer: $\\frac{3}{4}$", "0.75", True, "phrase"),
    # --- GSM8K gold solutions --------------------------------------------------------
    (_b("5"), "She has 2 + 3 = <<2+3=5>>5 apples.\n#### 5", True, "gsm8k_gold"),
    (_b("6"), "She has 2 + 3 = <<2+3=5>>5 apples.\n#### 5", False, "gsm8k_gold"),
    (_b("1234"), "It costs 1,234.\n#### 1,234", True, "gsm8k_gold"),
    # --- sqrt, pi, expressions -------------------------------------------------------
    (_b("\\sqrt{2}/2"), "\\frac{\\sqrt{2}}{2}", True, "sqrt"),
    (_b("\\frac{1}{\\sqrt{2}}"), "\\frac{\\sqrt{2}}{2}", True, "sqrt"),
    (_b("2\\sqrt{3}"), "\\sqrt{12}", True, "sqrt"),
    (_b("\\sqrt{3}"), "\\sqrt{12}", False, "sqrt"),
    (_b("2\\pi"), "2\\pi", True, "pi"),
    (_b("\\frac{\\pi}{2}"), "\\frac{1}{2}\\pi", True, "pi"),
    (_b("\\pi"), "2\\pi", False, "pi"),
    (_b("3.14"), "\\pi", False, "pi"),
    (_b("x^2+2x+1"), "(x+1)^2", True, "expression"),
    (_b("x^2+1"), "(x+1)^2", False, "expression"),
    (_b("2^{10}"), "1024", True, "expression"),
    # --- intervals, sets, tuples, equations ---------------------------------------------
    (_b("[1, 2)"), "[1,2)", True, "interval"),
    (_b("(1, 2]"), "[1,2)", False, "interval"),
    (_b("(-\\infty, 3)"), "(-\\infty,3)", True, "interval"),
    (_b("\\{1, 2, 3\\}"), "\\{3,2,1\\}", True, "set"),
    (_b("\\{1, 2\\}"), "\\{1,2,3\\}", False, "set"),
    (_b("(3, \\frac{\\pi}{2})"), "\\left( 3, \\frac{\\pi}{2} \\right)", True, "tuple"),
    (_b("(3, \\pi)"), "\\left( 3, \\frac{\\pi}{2} \\right)", False, "tuple"),
    (_b("x = 2"), "2", True, "equation"),
    (_b("x = 3"), "2", False, "equation"),
    (_b("2"), "x=2", True, "equation"),
    (_b("y = 2x + 1"), "y=2x+1", True, "equation"),
    (_b("y = 2x - 1"), "y=2x+1", False, "equation"),
    (_b("\\text{Evelyn}"), "\\text{Evelyn}", True, "text"),
    (_b("Evelyn"), "\\text{Evelyn}", True, "text"),
    (_b("\\text{Bob}"), "\\text{Evelyn}", False, "text"),
    (_b("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"), "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", True, "matrix"),
    (_b("\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}"), "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", False, "matrix"),
    # --- no answer at all ------------------------------------------------------------
    ("I do not know.", "5", False, "no_answer"),
    ("<think>The answer is 5</think>", "5", False, "no_answer"),
    # --- unicode ------------------------------------------------------------------
    (_b("\uff11\uff12\uff13"), "123", True, "fullwidth"),
    (_b("\uff11\uff12\uff14"), "123", False, "fullwidth"),
]

LABELLED_CASES: list[Case] = [Case(*c) for c in _RAW]
