"""eval.trace_shape: equations counted per completion, folded (step-skipping) lines found, hostile text bounded."""

from __future__ import annotations

import time

import pytest

from eval.trace_shape import equation_operator_counts, skips_a_step, trace_shape

STEP_BY_STEP = "<think>\nThere are 9 * 9 = 81 cards.\n81 / 3 = 27\n</think>\n\\boxed{27}"
FOLDED = "<think>\n27 - 5 = 22\n(14 + 22) * 6 = 216\n</think>\n\\boxed{216}"


@pytest.mark.parametrize(
    "text, counts",
    [
        (STEP_BY_STEP, [1, 1]),
        (FOLDED, [1, 2]),
        ("<think>\nAfter finding 38 more, there are 6 * 10 + 38 = 98.\n</think>", [2]),
        ("<think>\n29 - 18 - 8 = 3\n</think>\n\\boxed{3}", [2]),
        ("<think>\n2 × 3 = 6\n6 ÷ 2 = 3\n</think>", [1, 1]),
        ("<think>\nno arithmetic here\n</think>\n\\boxed{4}", []),
        ("<think>\n1 + 1 = 2", [1]),  # no closing tag: all of it is reasoning
        ("<think>\n1 + 1 = 2\n</think>\n3 * 4 * 5 = 60 \\boxed{2}", [1]),  # after </think> is not reasoning
    ],
)
def test_equations_and_their_operators(text, counts):
    assert equation_operator_counts(text) == counts
    assert skips_a_step(text) == any(c >= 2 for c in counts)


def test_the_teachers_skipped_steps_are_found(small_world):
    from sft.teachers.program import foldable_steps, write_trace

    _, train, _ = small_world
    for problem in train[:50]:
        for path in range(4):
            assert not skips_a_step(write_trace(problem, path)[0])
            for fold in foldable_steps(problem):
                assert skips_a_step(write_trace(problem, path, fold_step=fold)[0])


def test_hostile_text_is_read_in_bounded_time():
    texts = [
        "1 + " * 200_000 + "1 = 2",
        "(" * 100_000 + "1 + 1 = 2",
        "9" * 1_000_000,
        "= " * 300_000,
        "\n".join("1 + 1 = 2" for _ in range(50_000)),
    ]
    start = time.perf_counter()
    for text in texts:
        counts = equation_operator_counts(text)
        assert len(counts) <= 64
    assert time.perf_counter() - start < 5.0


def test_trace_shape_splits_accuracy_by_whether_a_step_was_skipped():
    records = [
        {"completion": STEP_BY_STEP, "correct": True},
        {"completion": STEP_BY_STEP, "correct": False},
        {"completion": FOLDED, "correct": False},
        {"completion": FOLDED, "correct": False},
    ]
    shape = trace_shape(records)
    assert shape == {
        "n": 4,
        "equations_mean": 2.0,
        "skipped_step_share": 0.5,
        "accuracy_skipped": 0.0,
        "accuracy_step_by_step": 0.5,
    }
    assert trace_shape([])["accuracy_skipped"] is None
    assert (
        trace_shape(records[:2])["accuracy_skipped"] is None and trace_shape(records[:2])["skipped_step_share"] == 0.0
    )
