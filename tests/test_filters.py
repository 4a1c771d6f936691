"""sft/filters: each filter drops what it should and the report counts it; decontamination catches a planted problem."""

from __future__ import annotations

import pytest

from sft.filters import FilterConfig, apply_filters, jaccard, ngrams, normalize, well_formed

BODY = " ".join(f"w{i}" for i in range(100))
EVAL_Q = "Lily has 12 red balloons and gives 5 of them to her friend Sam at the park."


def _r(
    id_: str,
    problem_id: str,
    trace: str,
    verified: bool | None = True,
    tokens_out: int | None = None,
    problem: str | None = None,
    answer: str = "4",
) -> dict:
    record = {
        "id": id_,
        "problem_id": problem_id,
        "problem": problem or f"question {problem_id}",
        "answer": answer,
        "trace": trace,
    }
    if verified is not None:
        record["verified"] = verified
    if tokens_out is not None:
        record["tokens_out"] = tokens_out
    return record


GOOD = f"<think>\n{BODY}\n</think>\n\\boxed{{4}}"
RECORDS = [
    _r("keep1", "p1", GOOD),
    _r("unverified", "p1", "<think>x</think>\\boxed{5}", verified=False),
    _r("unclosed", "p2", "<think>\nwork \\boxed{4}"),
    _r("two_answers", "p2", "<think>a</think>\\boxed{4} or \\boxed{5}"),
    _r("too_long", "p2", "<think>b</think>\\boxed{4}", tokens_out=1000),
    _r("too_short", "p2", "<think>c</think>\\boxed{4}", tokens_out=1),
    _r("exact", "p1", GOOD.replace("w5 ", "W5  ")),  # same after normalization
    _r("near", "p1", GOOD.replace("w50 ", "v50 ")),
    _r("keep2", "p2", "<think>\nother problem\n</think>\nso \\boxed{4}"),
    _r("same_trace_other_problem", "p3", GOOD),  # duplicates are per problem
    _r("contaminated", "p4", GOOD.replace("w1 ", "z1 "), problem="Warm-up. " + EVAL_Q + " How many are left?"),
    _r("verify_fallback_ok", "p5", "<think> 2 + 2 </think> \\boxed{4}", verified=None),
    _r("verify_fallback_bad", "p5", "<think> 2 + 3 </think> \\boxed{5}", verified=None),
]
CONFIG = FilterConfig(min_tokens=2, max_tokens=500, near_dup_threshold=0.9, near_dup_ngram=3, decontam_ngram=8)


def test_each_filter_is_counted():
    kept, report = apply_filters(RECORDS, CONFIG, [EVAL_Q, "an unrelated eval question"])
    assert [r["id"] for r in kept] == ["keep1", "keep2", "same_trace_other_problem", "verify_fallback_ok"]
    assert report == {
        "n_in": 13,
        "verified": 2,
        "structure": 2,
        "length": 2,
        "exact_dup": 1,
        "near_dup": 1,
        "decontam": 1,
        "n_kept": 4,
    }
    assert report["n_in"] - report["n_kept"] == sum(
        report[k] for k in ("verified", "structure", "length", "exact_dup", "near_dup", "decontam")
    )


def test_filters_switch_off():
    off = FilterConfig(verified=False, structure=False, exact_dup=False, near_dup_threshold=None, decontam_ngram=None)
    kept, report = apply_filters(RECORDS, off, [EVAL_Q])
    assert len(kept) == len(RECORDS) and report["n_kept"] == 13
    kept, report = apply_filters(
        RECORDS,
        {"verified": True, "structure": False, "exact_dup": False, "near_dup_threshold": None, "decontam_ngram": None},
    )
    assert report["verified"] == 2 and report["n_kept"] == 11


def test_no_eval_questions_means_no_decontam():
    _, report = apply_filters(RECORDS, CONFIG, [])
    assert report["decontam"] == 0 and report["n_kept"] == 5


def test_helpers():
    assert normalize("A, b!  C") == ["a", "b", "c"]
    assert ngrams(["a", "b"], 3) == {("a", "b")} and len(ngrams(list("abcd"), 2)) == 3
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)
    assert well_formed("<think>x</think>\\boxed{1}") and not well_formed("\\boxed{1}")
    assert not well_formed("</think><think>\\boxed{1}") and not well_formed("<think>\\boxed{1}</think>")


@pytest.mark.parametrize(
    "kwargs, text",
    [
        (dict(near_dup_threshold=1.5), "near_dup_threshold"),
        (dict(min_tokens=10, max_tokens=5), "max_tokens 5"),
        (dict(decontam_ngram=0), "n-gram"),
    ],
)
def test_bad_config_raises(kwargs, text):
    with pytest.raises(ValueError, match=text):
        FilterConfig(**kwargs)


def test_unknown_key_is_named():
    with pytest.raises(ValueError, match=r"\['bogus'\]"):
        apply_filters([], {"bogus": 1})
