"""Final-answer extraction and gold parsing (rewards.extract)."""

from __future__ import annotations

import pytest

from rewards import extract_final_answer, parse_gold
from rewards.extract import MAX_COMPLETION_CHARS, last_boxed, strip_thinking


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so \\boxed{42}.", "42"),
        ("\\boxed{1} then \\boxed{2}", "2"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\boxed{5}}", "5"),
        ("\\boxed {7}", "7"),
        ("\\fbox{8}", "8"),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
        ("$\\boxed{x^{2}}$", "x^{2}"),
        ("<think>maybe \\boxed{3}</think> so \\boxed{4}", "4"),
        ("<think>\\boxed{3}</think>", None),
        ("<think>unclosed \\boxed{3}", None),
        ("<think>a</think>x<think>b \\boxed{1}", "x"),  # issue 19: the bare visible text is the answer
        ("<think>a</think>\\boxed{9}<think>b \\boxed{1}", "9"),
        ("reasoning \\boxed{1}</think> answer \\boxed{2}", "2"),  # Qwen3: <think> was in the prompt
        ("reasoning \\boxed{1}</think> no answer", None),
        ("\\boxed{5} <think>check: \\boxed{6}</think>", "5"),  # answer-first ("post-thinking")
        ("<answer> 7 </answer>", "7"),
        ("<answer>1</answer> and <answer>2</answer>", "2"),
        ("blah\n#### 1,234", "1,234"),
        ("The answer is 42.", "42"),
        ("The answer is 4.5 now", "4.5 now"),
        ("**Final Answer:** $\\frac{3}{4}$", "\\frac{3}{4}"),
        ("final answer: 12", "12"),
        ("no answer here", None),
        ("", None),
        ("\\boxed{}", None),
        ("\\boxed{5", None),
        ("\\boxed{3} and \\boxed{5", "3"),
        ("\\boxed{5}\x00", "5"),
    ],
)
def test_extract_final_answer(text, expected):
    assert extract_final_answer(text) == expected


def test_non_string_is_none():
    assert extract_final_answer(None) is None  # type: ignore[arg-type]
    assert extract_final_answer(123) is None  # type: ignore[arg-type]


def test_strip_thinking_removes_blocks():
    assert strip_thinking("a<think>b</think>c<think>d</think>e") == "a\nc\ne"
    assert strip_thinking("a<think>b") == "a"
    assert strip_thinking("x</think>y") == "y"


def test_long_completion_keeps_tail():
    text = "x" * (3 * MAX_COMPLETION_CHARS) + "\\boxed{11}"
    assert extract_final_answer(text) == "11"
    text = "\\boxed{1}" + "x" * (3 * MAX_COMPLETION_CHARS)
    assert extract_final_answer(text) is None  # the answer must be near the end


def test_long_thinking_then_answer():
    text = "<think>" + "step \\boxed{0} " * 20_000 + "</think> \\boxed{5}"
    assert extract_final_answer(text) == "5"


def test_last_boxed_unbalanced_and_nested():
    assert last_boxed("\\boxed{a{b}c}") == "a{b}c"
    assert last_boxed("\\boxed{" * 10_000) is None
    assert last_boxed("}" * 5 + "\\boxed{1}" + "}" * 5) == "1"


@pytest.mark.parametrize(
    "gold, expected",
    [
        ("Janet sells 9 eggs.\n#### 18", "18"),
        ("text\n#### 1,234", "1,234"),
        ("#### -5", "-5"),
        ("The answer is therefore $\\boxed{\\frac{\\pi}{2}}$.", "\\frac{\\pi}{2}"),
        ("72", "72"),
        (" \\frac{3}{4} ", "\\frac{3}{4}"),
        ("$x=2$", "x=2"),
        (42, "42"),
        ("", None),
        ("   ", None),
        (None, None),
        ("a long solution\nwithout any final answer marker at all\n" * 20, None),
        ("long\nsolution\nThe answer is 7.", "7"),
    ],
)
def test_parse_gold(gold, expected):
    assert parse_gold(gold) == expected


def test_import_is_light():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, rewards; "
        "assert 'sympy' not in sys.modules and 'math_verify' not in sys.modules; "
        "assert rewards.verify('\\\\boxed{1,000}', '#### 1000'); "
        "assert 'sympy' not in sys.modules; "
        "from rewards.symbolic import _POOL; assert _POOL is None"
    )
    repo = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo, timeout=60)
