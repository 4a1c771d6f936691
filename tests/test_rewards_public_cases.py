"""The verifier on labelled cases from public verifier test suites (issue 19), and on real solutions.

``tests/fixtures/verifier_public_cases.jsonl`` holds (prediction, gold, expected) cases copied from
huggingface/Math-Verify's, hendrycks/math's and openai/simple-evals' tests (``source`` names repo + path per case,
``label`` how the verdict was set; see ``tests/fixtures/make_verifier_cases.py``).  ``bench/rewards.py`` reports
the same figures beside math-verify's.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

import rewards
from rewards import extract_final_answer, parse_gold, verify_batch

# These tests measure verdicts, not speed: a time bound well above the default's 0.5 s keeps a loaded machine (two
# pytest-xdist workers on two cores) from turning a slow sympy verdict into a timeout (the bound itself is tested in
# test_rewards_bound.py and test_rewards_hostile.py).
TIMEOUT_S = 10.0
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "verifier_public_cases.jsonl"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
KINDS = {"bare", "prose", "marked", "long_solution", "multi_box", "set_list", "mc_letter"}
LABELS = {"source", "relabelled", "derived_negative", "written_here"}


def _cases() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.open(encoding="utf-8")]


def balanced_accuracy(pairs: list[tuple[bool, bool]]) -> float:
    """Mean of the true-positive and true-negative rates of (expected, verdict) pairs."""
    pos = [v for e, v in pairs if e]
    neg = [not v for e, v in pairs if not e]
    rates = [sum(x) / len(x) for x in (pos, neg) if x]
    return sum(rates) / len(rates)


@pytest.fixture(scope="module")
def verdicts() -> list[tuple[dict, bool]]:
    rewards.warmup()
    cases = _cases()
    results = verify_batch([c["prediction"] for c in cases], [c["gold"] for c in cases], timeout_s=TIMEOUT_S)
    return [(c, r.correct) for c, r in zip(cases, results)]


def test_fixture_is_public_labelled_and_varied():
    cases = _cases()
    assert len(cases) >= 300
    assert len({c["id"] for c in cases}) == len(cases)
    for c in cases:
        assert c["kind"] in KINDS and c["label"] in LABELS, c
        assert isinstance(c["expected"], bool) and c["prediction"] and c["gold"], c
        if c["label"] != "written_here":
            assert re.match(r"[\w.-]+/[\w.-]+(@\w+)?:", c["source"]), c["source"]  # repo:path
        if c["label"] == "relabelled":
            assert c.get("note"), c
    public = [c for c in cases if c["label"] in ("source", "relabelled")]
    assert len(public) >= 250
    for kind in ("bare", "prose", "multi_box", "set_list", "long_solution"):
        assert {c["expected"] for c in cases if c["kind"] == kind} == {True, False}, kind


def test_balanced_accuracy_overall_and_per_kind(verdicts):
    pairs = [(c["expected"], v) for c, v in verdicts]
    assert balanced_accuracy(pairs) >= 0.95
    public = [(c["expected"], v) for c, v in verdicts if c["label"] in ("source", "relabelled")]
    assert balanced_accuracy(public) >= 0.95
    by_kind: dict[str, list] = defaultdict(list)
    for c, v in verdicts:
        by_kind[c["kind"]].append((c["expected"], v))
    low = {k: round(balanced_accuracy(p), 3) for k, p in by_kind.items() if balanced_accuracy(p) < 0.9}
    assert not low, low


def test_strict_demands_a_marker():
    cases = [c for c in _cases() if c["kind"] in ("bare", "prose") and c["expected"]]
    unmarked = [
        c for c in cases if not re.search(r"boxed|answer|####|antwort|réponse|答案|ответ", c["prediction"], re.I)
    ]
    assert len(unmarked) >= 30
    for c in unmarked:
        assert extract_final_answer(c["prediction"], strict=True) is None, c
    assert sum(extract_final_answer(c["prediction"]) is not None for c in unmarked) == len(unmarked)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("-5", "-5"),
        ("so the number is 10 which is 1,000.99€", "1,000.99"),
        ("Therefore $x \\geq 5$ is the solution.", "x \\geq 5"),
        ("Answer $ 9 $", "9"),
        ("the correct answer is C", "C"),
        ("Die Antwort ist 42.", "42"),
        ("答案是 12。", "12"),
        ("The integers are \\boxed{-2} and \\boxed{1}.", "-2, 1"),
        ("\\boxed{(1,2)}, \\boxed{(3,4)}", "(1,2), (3,4)"),
        ("First \\boxed{3}, no wait: \\boxed{4}", "4"),
        ("\\boxed{1} then \\boxed{2}", "2"),
        ("\\boxed{5} and again \\boxed{5}", "5"),
        ("so $5 \\times 6 \\times 4 = 120$.", "120"),
        ("\\boxed{255} so ... Final Answer: The final answer is $10,455$. I hope it is correct.", "10,455"),
        ("It is 7.<|im_start|>user\nWhat is 3+5? The answer is 8.", "7"),
        ("none", None),
        ("I don't know", None),
        ("AZYUK2A", None),
        ("<think>so 5</think>", None),
    ],
)
def test_extraction_policy(text, expected):
    assert extract_final_answer(text) == expected


@pytest.mark.parametrize(
    "pred, gold, expected",
    [
        ("\\boxed{900,\\!000,\\!000}", "900000000", True),
        ("\\boxed{32, 349}", "32349", False),  # a list, not a grouped number
        ("1000,99", "1000.99", True),  # decimal comma
        ("\\boxed{0.0833333333333333}", "\\frac{1}{12}", True),  # 16 digits of 1/12
        ("\\boxed{0.3333333}", "\\frac{1}{3}", False),  # a short decimal stays exact
        ("\\boxed{\\text{4:30 PM}}", "\\text{4:30 p.m.}", True),
        ("\\boxed{\\text{4:45 p.m.}}", "\\text{4:30 p.m.}", False),
        ("\\boxed{4}", "\\text{4:30 p.m.}", False),
        ("\\boxed{\\text{Evelyn}}", "\\text{Evelyn}", True),
        ("\\boxed{\\text{Bob}}", "\\text{Evelyn}", False),
        ("The answer is B.", "(B) 12", True),
        ("So it is 12 apples.", "(B) 12", True),
        ("The answer is D.", "(B) 12", False),
        ("\\boxed{-2} and \\boxed{1}", "1, -2", True),
        ("\\boxed{-2} and \\boxed{3}", "1, -2", False),
        ("\\boxed{1}, \\boxed{2}, \\boxed{3}", "2", False),  # boxing every candidate earns nothing
        ("\\boxed{(1,2)}, \\boxed{(3,4)}", "\\{(3,4), (1,2)\\}", True),
        ("\\boxed{(2,1)}", "(1,2)", False),  # a tuple keeps its order
        ("\\boxed{\\{2, 1\\}}", "\\boxed{1}, \\boxed{2}", True),
        ("$\\boxed{\\frac{1}{2}}$ or $\\boxed{0.5}$", "0.5", True),
        ("\\boxed{1 \\pm \\sqrt{2}}", "1+\\sqrt{2}, 1-\\sqrt{2}", True),
    ],
)
def test_comparison_policy(pred, gold, expected):
    assert rewards.verify(pred, gold) is expected


@pytest.mark.skipif(not (SHARED / "gsm8k" / "test.jsonl").exists(), reason="/work/shared data absent")
def test_real_gsm8k_solutions_with_and_without_marker():
    rows = [json.loads(line) for line in (SHARED / "gsm8k" / "test.jsonl").open()][:400]
    preds, golds, expected = [], [], []
    for i, row in enumerate(rows):
        solution, answer = row["answer"].rsplit("####", 1)
        solution = re.sub(r"<<[^>]*>>", "", solution).strip()
        other = parse_gold(rows[(i + 1) % len(rows)]["answer"])
        preds += [f"{solution}\nThe answer is {answer.strip()}.", solution, solution]
        golds += [answer.strip(), answer.strip(), other]
        expected += [True, True, other.replace(",", "") == answer.strip().replace(",", "")]
    results = verify_batch(preds, golds, timeout_s=TIMEOUT_S)
    marked = [r.correct == e for r, e in zip(results[0::3], expected[0::3])]
    assert all(marked)
    pairs = list(zip(expected, [r.correct for r in results]))
    assert balanced_accuracy(pairs) >= 0.97  # prose: the last number is occasionally not the answer


@pytest.mark.skipif(not (SHARED / "math500" / "test.jsonl").exists(), reason="/work/shared data absent")
def test_real_math500_solutions():
    rows = [json.loads(line) for line in (SHARED / "math500" / "test.jsonl").open()]
    preds = [r["solution"] for r in rows] * 2
    golds = [r["answer"] for r in rows] + [rows[(i + 7) % len(rows)]["answer"] for i in range(len(rows))]
    expected = [True] * len(rows) + [rows[(i + 7) % len(rows)]["answer"] == r["answer"] for i, r in enumerate(rows)]
    results = verify_batch(preds, golds, timeout_s=TIMEOUT_S)
    pairs = list(zip(expected, [r.correct for r in results]))
    assert balanced_accuracy(pairs) >= 0.99


def test_correctness_reward_strict_knob():
    from rewards.trl_rewards import make_correctness_reward

    loose = make_correctness_reward(warmup=False)
    strict = make_correctness_reward(warmup=False, strict=True)
    comps = ["She makes 9 * 2 = 18 dollars.", "So \\boxed{18}.", "-5"]
    golds = ["18", "18", "-5"]
    assert loose(comps, answer=golds) == [1.0, 1.0, 1.0]
    assert strict(comps, answer=golds) == [0.0, 1.0, 0.0]
