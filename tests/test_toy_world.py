"""The toy world generator: determinism, held-out split hygiene, and the arithmetic of every problem."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from data.records import gsm8k_final_answer
from data.toy_world import ToyWorld
from tests._presets import toy_world_config

SMALL = dict(n_train=200, n_test=50)
_SOLUTION_LINE = re.compile(r"^(\d+) ([-+*/]) (\d+) = <<(\d+)([-+*/])(\d+)=(\d+)>>(\d+)$")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def _apply(op: str, a: int, b: int) -> int:
    if op == "/":
        assert b != 0 and a % b == 0, f"division {a} / {b} is not exact"
        return a // b
    return _OPS[op](a, b)


def test_same_config_gives_identical_problems(small_world):
    _, train, test = small_world
    again = ToyWorld(toy_world_config(**SMALL))
    assert again.problems("train") == train
    assert again.problems("test") == test


def test_different_seed_gives_different_problems(small_world):
    _, train, test = small_world
    other = ToyWorld(toy_world_config(**SMALL, seed=1))
    other_train, other_test = other.problems("train"), other.problems("test")
    assert [p["question"] for p in other_train] != [p["question"] for p in train]
    assert [p["question"] for p in other_test] != [p["question"] for p in test]
    # not just reordered: most questions are new
    assert len({p["question"] for p in other_test} & {p["question"] for p in test}) < len(test) // 2


def test_split_sizes_and_unique_ids_and_questions(small_world):
    _, train, test = small_world
    assert len(train) == 200 and len(test) == 50
    for split, rows in (("train", train), ("test", test)):
        assert [p["id"] for p in rows] == [f"toy-{split}-{i}" for i in range(len(rows))]
        assert len({p["question"] for p in rows}) == len(rows), f"duplicate questions in {split}"
        assert len({ToyWorld.signature(p) for p in rows}) == len(rows), f"duplicate signatures in {split}"


def test_dev_split_is_in_neither_train_nor_test_and_leaves_them_unchanged(small_world):
    """The dev split (for tuning) shares no signature with train or test, and adding it (or changing its size)
    leaves train and test as they were."""
    _, train, test = small_world
    dev = ToyWorld(toy_world_config(**SMALL, n_dev=40)).problems("dev")
    assert [p["id"] for p in dev] == [f"toy-dev-{i}" for i in range(40)]
    sigs = {ToyWorld.signature(p) for p in dev}
    assert len(sigs) == 40
    assert not sigs & {ToyWorld.signature(p) for p in train + test}
    other = ToyWorld(toy_world_config(**SMALL, n_dev=7))
    assert other.problems("train") == train and other.problems("test") == test


def test_no_test_problem_in_train(small_world):
    _, train, test = small_world
    test_sigs = {ToyWorld.signature(p) for p in test}
    test_questions = {p["question"] for p in test}
    assert not test_sigs & {ToyWorld.signature(p) for p in train}
    assert not test_questions & {p["question"] for p in train}
    # the test split does not depend on how many training problems are drawn
    bigger = ToyWorld(toy_world_config(n_train=400, n_test=50)).problems("test")
    assert bigger == test


def test_signature_ignores_names_and_items(small_world):
    _, train, _ = small_world
    problem = train[0]
    renamed = dict(problem, name="Zed", item="widget", start=problem["start"].replace(problem["item"], "widget"))
    assert ToyWorld.signature(renamed) == ToyWorld.signature(problem)


@pytest.mark.parametrize(
    "cfg",
    [
        dict(SMALL),
        dict(n_train=150, n_test=30, min_steps=1, max_steps=4, max_value=60, max_factor=3, max_addend=5, seed=7),
        # a valid config whose largest factor exceeds max_value / 2: openings must still stay within max_value
        dict(n_train=60, n_test=20, min_steps=1, max_steps=2, max_value=20, max_factor=15),
    ],
    ids=["default", "small_ranges", "big_factor"],
)
def test_every_problem_is_arithmetically_consistent(cfg):
    config = toy_world_config(**cfg)
    world = ToyWorld(config)
    for problem in world.problems("train") + world.problems("test"):
        steps = problem["steps"]
        final = int(problem["final_answer"])
        # difficulty knob: number of operations
        assert config.min_steps <= len(steps) <= config.max_steps, problem["id"]
        assert problem["n_steps"] == len(steps)
        # the GSM8K solution ends in "#### N" with N == final_answer
        assert gsm8k_final_answer(problem["answer"]) == problem["final_answer"]
        assert problem["answer"].rstrip().endswith(f"#### {final}")
        lines = problem["answer"].strip().split("\n")[:-1]
        assert len(lines) == len(steps)
        for index, (line, step) in enumerate(zip(lines, steps)):
            match = _SOLUTION_LINE.match(line)
            assert match, f"{problem['id']}: bad solution line {line!r}"
            a, op, b, a2, op2, b2, r1, r2 = match.groups()
            assert (int(a), op, int(b)) == (int(a2), op2, int(b2)) == (step["a"], step["op"], step["b"])
            assert int(r1) == int(r2) == step["result"] == _apply(op, int(a), int(b)), line
            # every intermediate value and operand stays in [0, max_value]
            assert 0 <= step["result"] <= config.max_value, line
            assert 0 <= step["a"] <= config.max_value, line
            if index > 0:  # each step works on the previous step's result
                assert step["a"] == steps[index - 1]["result"], (problem["id"], index)
        assert steps[-1]["result"] == final
        assert 0 <= final <= config.max_value
        # the question states the starting quantity the solution starts from
        first = steps[0]
        if first["kind"] in ("groups", "rate"):
            assert str(first["a"]) in problem["start"] and str(first["b"]) in problem["start"]
        else:
            assert problem["start"] == f"{problem['name']} has {first['a']} {problem['item']}s."
        assert problem["question"].startswith(problem["start"])
        assert problem["question"].endswith("?")


def test_steps_cover_the_whole_range(small_world):
    _, train, _ = small_world
    counts = {p["n_steps"] for p in train}
    assert counts == {2, 3}
    kinds = {s["kind"] for p in train for s in p["steps"]}
    assert kinds == {"groups", "rate", "add", "sub", "times", "share", "sell"}


@pytest.mark.parametrize(
    "kwargs, named",
    [
        (dict(min_steps=4, max_steps=2), ["min_steps=4", "max_steps=2"]),
        (dict(min_steps=0, max_steps=2), ["min_steps=0"]),
        (dict(max_value=10), ["max_value=10"]),
        (dict(max_factor=1), ["max_factor=1"]),
    ],
)
def test_bad_config_raises_naming_the_values(kwargs, named):
    with pytest.raises(ValueError) as info:
        toy_world_config(**kwargs)
    for text in named:
        assert text in str(info.value)


def test_unknown_split_raises(small_world):
    world, _, _ = small_world
    with pytest.raises(ValueError, match="'validation'.*train.*test.*dev"):
        world.problems("validation")


def test_arithmetic_facts_are_true_and_deterministic(small_world):
    world, _, _ = small_world
    facts = world.arithmetic_facts(300, seed=0)
    assert facts == world.arithmetic_facts(300, seed=0)
    assert facts != world.arithmetic_facts(300, seed=1)
    for fact in facts:
        a, op, b, eq, c = fact.split(" ")
        assert eq == "="
        assert _apply(op, int(a), int(b)) == int(c), fact
        assert 0 <= int(c) <= world.config.max_value


def test_a_world_too_small_for_n_train_raises_instead_of_hanging():
    """1-step problems over tiny ranges have well under 100 distinct signatures; asking for 100 training
    problems must fail with a clear error, not loop forever (run in a subprocess so a hang is cut off)."""
    code = (
        "from data.toy_world import ToyWorld, ToyWorldConfig\n"
        "ToyWorld(ToyWorldConfig(n_train=100, n_test=5, n_dev=5, min_steps=1, max_steps=1, max_value=20, "
        "max_factor=2, max_addend=2, seed=0)).problems('train')\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("ToyWorld.problems() never returns when the world has fewer distinct problems than n_train")
    assert result.returncode != 0
    assert "n_train" in result.stderr.strip().splitlines()[-1]
