"""Tests for eval/metrics.py (pass@k, maj@k, bootstrap, aggregate) and eval/choice.py (letter/yes-no)."""

from __future__ import annotations

import time
from math import comb

import pytest

from eval.choice import extract_choice, extract_yesno, score_choice
from eval.metrics import (
    aggregate,
    bootstrap_ci,
    maj_at_k,
    maj_at_k_normalized,
    majority_index,
    mean_at_n,
    pass_at_k,
)

# ---------------------------------------------------------------- pass@k


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (5, 2, 1, 0.4),  # k=1 is c/n
        (10, 3, 1, 0.3),
        (5, 2, 5, 1.0),  # k=n with any correct sample
        (5, 0, 5, 0.0),  # k=n, none correct
        (5, 0, 1, 0.0),  # c=0
        (5, 5, 1, 1.0),  # c=n
        (5, 5, 3, 1.0),
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (10, 3, 4, 1 - comb(7, 4) / comb(10, 4)),
        (200, 13, 10, 1 - comb(187, 10) / comb(200, 10)),
    ],
)
def test_pass_at_k_hand_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_large_n_is_stable():
    value = pass_at_k(10_000, 1, 100)
    assert value == pytest.approx(0.01, abs=1e-12)  # 1 - (1 - 100/10000)


@pytest.mark.parametrize(
    ("n", "c", "k", "needle"), [(5, 2, 6, "k=6"), (5, 2, 0, "k=0"), (5, 7, 1, "c=7"), (5, -1, 1, "c=-1")]
)
def test_pass_at_k_rejects_bad_values(n, c, k, needle):
    with pytest.raises(ValueError, match=needle):
        pass_at_k(n, c, k)


# ---------------------------------------------------------------- maj@k, mean@n


def test_maj_at_k_plain_majority():
    answers = ["3", "4", "4", "3", "4"]
    verdicts = [False, True, True, False, True]
    assert maj_at_k(answers, verdicts, 5) == 1.0
    assert maj_at_k(answers, verdicts, 1) == 0.0


def test_maj_at_k_tie_goes_to_earliest_answer():
    answers = ["7", "8", "8", "7"]
    verdicts = [True, False, False, True]
    assert majority_index(answers, 4) == 0
    assert maj_at_k(answers, verdicts, 4) == 1.0  # 7 and 8 tie 2-2; "7" appeared first
    assert maj_at_k(["8", "7", "7", "8"], [False, True, True, False], 4) == 0.0
    assert maj_at_k(answers, verdicts, 3) == 0.0  # first 3: "8" wins 2-1


def test_maj_at_k_none_does_not_vote():
    answers = [None, None, "5", None]
    assert maj_at_k(answers, [False, False, True, False], 4) == 1.0
    assert maj_at_k([None, None], [False, False], 2) == 0.0


def test_maj_at_k_normalizer():
    answers = ["1/2", "0.5", " 0.5 ", "2"]
    verdicts = [True, True, True, False]
    norm = {"1/2": "0.5", "0.5": "0.5", "2": "2"}
    normalize = lambda a: norm[a.strip()]  # noqa: E731
    assert maj_at_k(["1/2", "2", "0.5"], [True, False, True], 3) == 1.0  # 3-way tie -> earliest "1/2"
    assert maj_at_k(["2", "1/2", "0.5"], [False, True, True], 3) == 0.0  # without normaliser "2" wins the tie
    assert maj_at_k_normalized(["2", "1/2", "0.5"], [False, True, True], 3, normalize) == 1.0
    assert maj_at_k(answers, verdicts, 4, normalize=normalize) == 1.0


def test_maj_at_k_errors():
    with pytest.raises(ValueError, match="k=3"):
        maj_at_k(["a"], [True], 3)
    with pytest.raises(ValueError, match="length"):
        maj_at_k(["a", "b"], [True], 1)


def test_mean_at_n():
    assert mean_at_n([True, False, True, True]) == 0.75
    with pytest.raises(ValueError):
        mean_at_n([])


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_ci_contains_mean_and_is_deterministic():
    values = [1.0] * 70 + [0.0] * 30
    low, high = bootstrap_ci(values, seed=0)
    assert low < 0.7 < high
    assert 0.55 < low and high < 0.85
    assert bootstrap_ci(values, seed=0) == (low, high)
    assert bootstrap_ci(values, seed=1) != (low, high)
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci([1.0], alpha=1.5)


# ---------------------------------------------------------------- aggregate


def _item(verdicts, answers=None, tokens=None, truncated=None):
    n = len(verdicts)
    return {
        "verdicts": verdicts,
        "answers": answers or [str(int(v)) for v in verdicts],
        "n_tokens": tokens or [100] * n,
        "truncated": truncated or [False] * n,
    }


def test_aggregate_values():
    items = [
        _item([True, True, False, False], ["5", "5", "6", "7"], [10, 20, 30, 40], [False, False, False, True]),
        _item([False, True, False, False], ["1", "2", "1", "3"], [50, 50, 50, 50], [True, True, False, False]),
        _item([False, False, False, False], [None, None, None, None]),
    ]
    out = aggregate(items)
    assert out["n_items"] == 3 and out["n_samples"] == 4
    assert out["accuracy"] == pytest.approx(1 / 3)
    assert out["pass@1"] == pytest.approx((0.5 + 0.25 + 0) / 3)
    assert out["pass@2"] == pytest.approx(((1 - comb(2, 2) / comb(4, 2)) + (1 - comb(3, 2) / comb(4, 2))) / 3)
    assert out["pass@4"] == pytest.approx(2 / 3)
    assert out["maj@4"] == pytest.approx(1 / 3)  # item 0 votes "5" (right), item 1 "1" (wrong), item 2 none
    assert out["mean@n"] == pytest.approx((0.5 + 0.25) / 3)
    assert out["mean_tokens"] == pytest.approx((100 + 200 + 400) / 12)
    assert out["truncation_rate"] == pytest.approx(3 / 12)
    assert out["ci_low"] <= out["accuracy"] <= out["ci_high"]
    assert set(aggregate(items, ks=[1, 4])) >= {"pass@1", "pass@4", "maj@1", "maj@4"}
    assert "pass@2" not in aggregate(items, ks=[1, 4])


def test_aggregate_errors():
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])
    with pytest.raises(ValueError, match=r"\[8\]"):
        aggregate([_item([True, False])], ks=[1, 8])
    with pytest.raises(ValueError, match="truncated"):
        aggregate([{"verdicts": [True], "answers": ["1"], "n_tokens": [3]}])


# ---------------------------------------------------------------- choice extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(C)", "C"),
        ("C.", "C"),
        ("C. Paris is the capital.", "C"),
        ("Answer: C", "C"),
        ("the answer is C", "C"),
        ("So the correct answer is (B).", "B"),
        ("**C**", "C"),
        ("**Answer:** D", "D"),
        ("\\boxed{C}", "C"),
        ("The final answer is $\\boxed{\\text{B}}$.", "B"),
        ("\\boxed{(a)}", "A"),
        ("Answer: A\nHmm, wait. Re-checking, the answer is C.", "C"),  # last one wins
        ("(A) fails, (B) fails, so (D)", "D"),
        ("\\boxed{C}. Why not (A)? Because A is a liquid.", "C"),  # explicit beats loose
        ("<think>Maybe the answer is B. \\boxed{B}</think>\nThe answer is \\boxed{D}.", "D"),
        ("<think>I lean to (A).</think>\nAnswer: C", "C"),
        ("<think>The answer is B.</think>", "B"),  # nothing after the think block
        ("The answer is A bit unclear; I pick D.", "D"),
        ("Vitamin C is important for health", None),
        ("no letter here", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_choice(text, expected):
    assert extract_choice(text) == expected


def test_extract_choice_respects_n_choices():
    assert extract_choice("Answer: E") is None
    assert extract_choice("Answer: E", n_choices=5) == "E"
    with pytest.raises(ValueError, match="n_choices"):
        extract_choice("A", n_choices=0)


def test_extract_choice_long_and_adversarial_input_is_fast():
    long_text = "reasoning " * 50_000 + "Answer: B"
    start = time.perf_counter()
    assert extract_choice(long_text) == "B"
    for nasty in ["answer " * 5000, "(" * 20000, "\\boxed{" * 5000, "*" * 20000, "answer is" + " " * 20000 + "x"]:
        extract_choice(nasty)
        extract_yesno(nasty)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", "yes"),
        ("\\boxed{Yes}", "yes"),
        ("\\boxed{\\text{no}}", "no"),
        ("So the answer is no.", "no"),
        ("Answer: True", "yes"),
        ("The answer is false.", "no"),
        ("No, because the moon is not a planet.", "no"),
        ("There is no doubt. So yes.", "yes"),
        ("Answer: yes\nActually, wait: the answer is no.", "no"),
        ("<think>yes, probably \\boxed{yes}</think>\n**No**", "no"),
        ("I cannot tell; there is no evidence either way", None),
        ("Notable", None),
    ],
)
def test_extract_yesno(text, expected):
    assert extract_yesno(text) == expected


def test_score_choice():
    assert score_choice("The answer is \\boxed{C}", "C", "choice")
    assert score_choice("The answer is \\boxed{C}", "3", "choice")
    assert not score_choice("The answer is \\boxed{B}", "C", "choice")
    assert score_choice("Answer: E", "E", "choice", n_choices=5)
    assert score_choice("\\boxed{no}", "no", "yesno")
    assert score_choice("\\boxed{no}", False, "yesno")
    assert not score_choice("\\boxed{yes}", "False", "yesno")
    assert not score_choice(None, "yes", "yesno")
    with pytest.raises(ValueError, match="number"):
        score_choice("\\boxed{4}", "4", "number")
    with pytest.raises(ValueError, match="gold"):
        score_choice("A", "maybe", "choice")
