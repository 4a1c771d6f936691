"""rewards.arithmetic: equations parsed and checked (never evaluated as code), grounding, hostile text, and the
reward through the registry on real toy traces."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest

from rewards import build_reward_funcs
from rewards.arithmetic import equation_checks, evaluate, make_arithmetic_reward

QUESTION = "Zoe has 9 boxes of stamps with 7 stamps in each box. Zoe sells each stamp for $3. How many dollars?"


def test_evaluate_follows_precedence_and_refuses_division_by_zero():
    assert evaluate("3 + 4 * 2") == 11 and evaluate("10 - 3 - 2") == 5 and evaluate("6 / 4") == Fraction(3, 2)
    assert evaluate("2 × 3 ÷ 4") == Fraction(3, 2) and evaluate("8 / 0") is None and evaluate("8 * 2 + 0 / 0") is None


def test_checks_count_each_distinct_equation_and_grounding_needs_known_operands():
    trace = "<think>\nThere are 7 * 9 = 63 stamps.\nThat makes 63 * 3 = 289 dollars.\n63*3=289\n</think>\n\\boxed{289}"
    assert equation_checks(trace) == [True, False]  # the repeated slip counts once
    assert equation_checks(trace, QUESTION) == [True, False]
    # right arithmetic on a number that is neither in the question nor an earlier result
    assert equation_checks("So 8 * 9 = 72, then 72 + 3 = 75.", QUESTION) == [False, True]
    assert equation_checks("So 8 * 9 = 72, then 72 + 3 = 75.") == [True, True]
    assert equation_checks("2 * 3 * 4 = 24 and 1.5 + 2.25 = 3.75 and 3 - 5 = -2") == [True, True, True]
    assert equation_checks("no equations here, 3 apples = 3") == []


def test_reward_is_the_share_that_holds_and_reads_the_user_turn_of_the_prompt():
    reward = make_arithmetic_reward(no_equation=-0.5)
    prompt = [{"role": "system", "content": "5 * 5 = 25"}, {"role": "user", "content": QUESTION}]
    completions = ["7 * 9 = 63. 63 * 3 = 189.", "7 * 9 = 63. 63 * 3 = 289.", "I do not know.", "5 * 5 = 25"]
    assert reward(completions, prompts=[prompt] * 4) == [1.0, 0.5, -0.5, 0.0]
    assert make_arithmetic_reward(grounded=False)(completions[3:], prompts=[prompt]) == [1.0]
    assert reward([[{"role": "assistant", "content": "9 * 3 = 27"}]], prompts=[prompt]) == [1.0]
    assert reward(["1 + 2 = 3", "1 + 2 = 4"]) == [1.0, 0.0]  # no prompts passed: the arithmetic alone
    with pytest.raises(ValueError, match="max_equations"):
        make_arithmetic_reward(max_equations=0)


def test_hostile_text_is_parsed_fast_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    hostile = [
        f"__import__('os').system('touch {marker}') = 0",
        "9" * 20000 + " * " + "9" * 20000 + " = 1",  # numbers too long to be an equation
        "1 + " * 200000 + "1 = 3",  # one huge chain: only its last 9 numbers form a match
        "2 ** 1000000 = 1 and 10 ^ 10 ^ 10 = 1",
        ("7 * 9 = 63 " * 5000),
        "1 / 0 = 1",
    ]
    reward = make_arithmetic_reward(grounded=False, max_equations=8)
    start = time.perf_counter()
    scores = reward(hostile)
    assert time.perf_counter() - start < 5.0 and not marker.exists()
    assert all(s is not None and 0.0 <= s <= 1.0 for s in scores) and scores[-1] == 0.0 and scores[4] == 1.0


def test_registry_builds_the_binary_arithmetic_spec():
    from omegaconf import OmegaConf

    from launch.config_check import compose

    spec = OmegaConf.to_container(compose(["reward=binary_arithmetic"]).reward, resolve=True)
    funcs, weights = build_reward_funcs(spec)
    assert [f.__name__ for f in funcs] == ["correctness_reward", "arithmetic_reward", "format_reward"]
    assert weights == [1.0, 0.5, 0.2]
    with pytest.raises(ValueError, match="arithmetic"):
        build_reward_funcs([{"name": "arithmetic", "grounding": True}])


def test_toy_teacher_traces_score_one_and_slipped_ones_less(small_world):
    from sft.teachers.program import ProgramTeacher, ProgramTeacherConfig

    reward = make_arithmetic_reward()
    teacher = ProgramTeacher(
        ProgramTeacherConfig(n_paths=2, wrong_share=0.5, seed=0, skip_share=0.0, ablation="none", ablation_share=0.0)
    )
    _, train, _ = small_world
    traces = [t for p in train[:40] for t in teacher.traces(p)]
    prompts = [[{"role": "user", "content": t["problem"]}] for t in traces]
    scores = reward([t["trace"] for t in traces], prompts=prompts)
    right = [s for s, t in zip(scores, traces) if t["verified"]]
    wrong = [s for s, t in zip(scores, traces) if not t["verified"]]
    assert right and wrong and all(s == 1.0 for s in right) and all(s < 1.0 for s in wrong)
