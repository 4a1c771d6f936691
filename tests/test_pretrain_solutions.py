"""The toy base's corpus may hold worked solutions of training problems in web-like styles (model.pretrain.
n_solutions, solution_styles, slip_share, skip_share); with n_solutions=0 the corpus and the base fingerprint are
exactly what they were before these keys existed."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from data.toy_world import ToyWorld
from launch import stages
from launch.config_check import ConfigError, compose
from launch.config_schema import SOLUTION_STYLES, validate_config

SMALL = ["data.n_train=300", "data.n_test=40", "model.pretrain.n_facts=4000", "model.pretrain.n_statements=100"]
# Computed by the code before worked solutions existed (commit eaea4fd): the SMALL corpus (600 documents) and the
# base fingerprint of the first base's mix (FIRST_BASE, the default until the second base replaced it).
CORPUS_BEFORE = (600, "9f2341ff0bc4a39d")
BASE_FP_BEFORE = "cc8228804b"
FIRST_BASE = ["model.pretrain.n_facts=200000", "model.pretrain.n_statements=20000", "model.pretrain.n_solutions=0"]
# The default mix's fingerprint: the base every number of docs/toy_base_tuning.md's second base was measured on
# (built at 7c28e96 with these settings as overrides).
BASE_FP_DEFAULT = "97a5add98e"


def _corpus(overrides: list[str]) -> tuple[list[dict[str, str]], list[dict], list[dict]]:
    cfg = compose([*SMALL, *overrides])
    world = ToyWorld(stages._world_config(cfg))
    train, test = world.problems("train"), world.problems("test")
    return stages._pretrain_rows(cfg, world, train), train, test


def test_no_solutions_keeps_the_corpus_and_the_base_fingerprint():
    rows, _, _ = _corpus(["model.pretrain.n_solutions=0"])
    assert (len(rows), hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]) == CORPUS_BEFORE
    cfg = compose(FIRST_BASE)
    assert stages.base_fingerprint(cfg) == BASE_FP_BEFORE  # the dev split (data.n_dev) leaves it as it was too
    assert stages.base_fingerprint(compose([*FIRST_BASE, "data.n_dev=7"])) == BASE_FP_BEFORE
    assert stages.base_fingerprint(compose([*FIRST_BASE, "model.pretrain.n_solutions=10"])) != BASE_FP_BEFORE


def test_the_default_base_is_the_measured_one():
    """The default mix is the second base of docs/toy_base_tuning.md, fingerprint for fingerprint (so its numbers
    describe the base `make demo` builds)."""
    assert stages.base_fingerprint(compose([])) == BASE_FP_DEFAULT
    assert stages.base_fingerprint(compose(["data.n_dev=7"])) == BASE_FP_DEFAULT


def test_solutions_come_in_every_style_with_slips_and_skips_and_no_held_out_question():
    rows, train, test = _corpus(
        ["model.pretrain.n_solutions=120", "model.pretrain.slip_share=0.3", "model.pretrain.chat_share=0"]
    )
    assert len(rows) == CORPUS_BEFORE[0] + 120
    answers = {p["question"]: p["final_answer"] for p in train}
    solutions = [r["text"] for r in rows if any(q in r["text"] for q in answers) and "\n" in r["text"]]
    solutions = [s for s in solutions if s not in answers]  # statements are the bare question
    assert len(solutions) == 120
    endings = {"answer_is": r"The answer is (\d+)\.$", "hashes": r"#### (\d+)$", "boxed": r"\\boxed\{(\d+)\}$"}
    assert set(endings) == set(SOLUTION_STYLES)
    by_style = {style: [s for s in solutions if re.search(pattern, s)] for style, pattern in endings.items()}
    assert all(len(found) == 40 for found in by_style.values()), {k: len(v) for k, v in by_style.items()}
    wrong = 0
    for style, found in by_style.items():
        for text in found:
            question = next(q for q in answers if text.startswith(q) or f" {q}\n" in text or f": {q}\n" in text)
            wrong += re.search(endings[style], text).group(1) != answers[question]
    assert 15 <= wrong <= 60  # ~30% slipped: a wrong final answer, as web text has
    folded = [s for s in solutions if re.search(r"^.*\d+ [-+*/] \d+ [-+*/] \d+ = \d+", s, re.M)]
    assert folded  # some skip a step (two operations in one line)
    corpus = "\n".join(r["text"] for r in rows)
    assert not [p["question"] for p in test if p["question"] in corpus]  # none of the held-out questions
    again, _, _ = _corpus(
        ["model.pretrain.n_solutions=120", "model.pretrain.slip_share=0.3", "model.pretrain.chat_share=0"]
    )
    assert again == rows  # deterministic


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.pretrain.solution_styles=[latex]", "model.pretrain.solution_styles[0]='latex': must be one of"),
        ("model.pretrain.solution_styles=[]", "model.pretrain.solution_styles=[]: must be a non-empty list"),
        ("model.pretrain.slip_share=1.5", "model.pretrain.slip_share=1.5: must be a number in [0, 1]"),
        ("model.pretrain.n_solutions=-1", "model.pretrain.n_solutions=-1: must be an integer >= 0"),
    ],
)
def test_bad_solution_settings_are_refused(override, expected):
    with pytest.raises(ConfigError) as error:
        validate_config(compose([override]))
    assert str(error.value).startswith(expected), str(error.value)
