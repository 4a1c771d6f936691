"""The multi teacher: policies all / weights / first_correct, provenance, unique ids, resume, config errors, and
the names / `base:` entries of its config expanded from conf/teacher/ by launch.teacher_configs."""

from __future__ import annotations

import logging

import pytest

from launch.teacher_configs import resolve_teacher_config
from sft.teachers.base import build_teacher
from sft.teachers.multi import MultiTeacher, assign, resolve_teachers


def multi_cfg(**keys) -> dict:
    """conf/teacher/multi.yaml as a plain dict, with `keys` replaced (names not yet resolved)."""
    from omegaconf import OmegaConf

    from launch.config_check import compose

    return {**OmegaConf.to_container(compose(["teacher=multi"]).teacher, resolve=True), **keys}


class Scripted:
    """A teacher that writes one trace per problem, verified for the problems in `solves`; records its calls."""

    uses_problems = True

    def __init__(self, name: str, solves: set[str]) -> None:
        self.name, self.solves, self.calls = name, solves, []

    def generate(self, problems, done=None):
        done = set(done or ())
        self.calls.append(([p["id"] for p in problems], done))
        for p in problems:
            rid = f"{p['id']}/{self.name}/0"
            if rid not in done:
                yield {
                    "id": rid,
                    "problem_id": p["id"],
                    "problem": p["question"],
                    "answer": "1",
                    "trace": "t",
                    "teacher": self.name,
                    "verified": p["id"] in self.solves,
                }


@pytest.fixture
def problems():
    return [{"id": f"p{i}", "question": f"q{i}", "final_answer": "1"} for i in range(5)]


def test_all_runs_every_teacher_on_every_problem_with_provenance_and_unique_ids(small_world):
    _, train, _ = small_world
    cfg = multi_cfg(
        policy="all", teachers=["program", {"base": "program", "label": "program_b", "seed": 1, "n_paths": 1}]
    )
    teacher = build_teacher(resolve_teacher_config(cfg))
    records = list(teacher.generate(train[:10]))
    assert len(records) == 10 * 2 + 10 * 1 and len({r["id"] for r in records}) == len(records)
    assert {r["teacher"] for r in records} == {"program", "program_b"}
    assert all(r["source_teacher"] == "program" and r["id"].startswith(f"{r['teacher']}/") for r in records)
    by_teacher = {
        label: {r["problem_id"] for r in records if r["teacher"] == label} for label in ("program", "program_b")
    }
    assert by_teacher["program"] == by_teacher["program_b"] == {p["id"] for p in train[:10]}


def test_weights_give_each_problem_to_one_teacher_by_a_stable_hash(small_world):
    _, train, _ = small_world
    a, b = Scripted("a", set()), Scripted("b", set())
    records = list(MultiTeacher([("a", a), ("b", b)], "all", weights=[3, 1]).generate(train))
    owners = {}
    for r in records:
        assert r["problem_id"] not in owners
        owners[r["problem_id"]] = r["teacher"]
    assert set(owners) == {p["id"] for p in train}
    share_a = sum(v == "a" for v in owners.values()) / len(owners)
    assert 0.65 < share_a < 0.85  # 3:1 over 200 problems
    assert all(owners[p["id"]] == "ab"[assign(p["id"], [3, 1])] for p in train)
    assert assign("toy-train-7", [3, 1]) == assign("toy-train-7", [0.75, 0.25])  # only the shares matter
    assert {assign(p["id"], [0, 1]) for p in train} == {1}


def test_first_correct_stops_at_the_first_verified_teacher(problems):
    a, b, c = Scripted("a", {"p0", "p1"}), Scripted("b", {"p2"}), Scripted("c", {"p3", "p4"})
    records = list(MultiTeacher([("a", a), ("b", b), ("c", c)], "first_correct").generate(problems))
    assert a.calls[0][0] == ["p0", "p1", "p2", "p3", "p4"]
    assert b.calls[0][0] == ["p2", "p3", "p4"] and c.calls[0][0] == ["p3", "p4"]
    verified = {r["problem_id"]: r["teacher"] for r in records if r["verified"]}
    assert verified == {"p0": "a", "p1": "a", "p2": "b", "p3": "c", "p4": "c"}
    assert [r["id"] for r in records][:2] == ["a/p0/a/0", "a/p1/a/0"]


def test_first_correct_resumes_with_earlier_verdicts_from_done_records(problems, caplog):
    first = {
        "a/p0/a/0": {"problem_id": "p0", "verified": True},
        "a/p1/a/0": {"problem_id": "p1", "verified": False},
        "b/p1/b/0": {"problem_id": "p1", "verified": False},
    }
    a, b = Scripted("a", {"p0", "p2"}), Scripted("b", set())
    records = list(MultiTeacher([("a", a), ("b", b)], "first_correct").generate(problems, first))
    assert a.calls[0][1] == {"p0/a/0", "p1/a/0"} and b.calls[0][1] == {"p1/b/0"}  # each gets its own done ids
    assert b.calls[0][0] == ["p1", "p3", "p4"]  # p0 was verified before the kill, p2 just now
    assert {r["id"] for r in records}.isdisjoint(first)

    a2, b2 = Scripted("a", {"p0", "p2"}), Scripted("b", set())
    with caplog.at_level(logging.WARNING):
        list(MultiTeacher([("a", a2), ("b", b2)], "first_correct").generate(problems, set(first)))
    assert b2.calls[0][0] == ["p0", "p1", "p3", "p4"]  # ids only: p0's verdict is unknown, so b runs on it too
    assert "earlier verdicts are unknown" in caplog.text


def test_all_resume_hands_each_teacher_its_own_done_ids(problems):
    a, b = Scripted("a", set()), Scripted("b", set())
    done = {"a/p0/a/0", "a/p1/a/0", "b/p4/b/0"}
    records = list(MultiTeacher([("a", a), ("b", b)], "all").generate(problems, done))
    assert a.calls[0][1] == {"p0/a/0", "p1/a/0"} and b.calls[0][1] == {"p4/b/0"}
    assert len(records) == 10 - 3 and not {r["id"] for r in records} & done


def test_conf_multi_composes_and_builds_its_two_teachers():
    from launch.config_check import compose

    teacher = build_teacher(resolve_teacher_config(compose(["teacher=multi"]).teacher))
    assert isinstance(teacher, MultiTeacher) and teacher.policy == "first_correct"
    assert [label for label, _ in teacher.teachers] == ["local", "api"]
    assert [t.__class__.__name__ for _, t in teacher.teachers] == ["HFTeacher", "OpenAITeacher"]
    assert teacher.stats["api"]["requests"] == 0 and "local" not in teacher.stats
    override = compose(["teacher=multi", "teacher.policy=all", "teacher.weights=[1,2]"]).teacher
    assert build_teacher(resolve_teacher_config(override)).weights == [1.0, 2.0]


@pytest.mark.parametrize(
    "cfg, text",
    [
        ({"teachers": ["program", "program"]}, "teachers\\[0\\] and teachers\\[1\\] are both labelled 'program'"),
        ({"teachers": ["nope"]}, "unknown teacher 'nope'; valid: \\[.*'hf'.*'openai'.*\\]"),
        ({"teachers": ["multi"]}, "unknown teacher 'multi'"),
        ({"teachers": [{"name": "multi", "teachers": ["program"]}]}, "is itself a multi teacher"),
        ({"teachers": []}, "non-empty list"),
        ({"teachers": [{"base": "program", "label": "a/b"}]}, "without '/'"),
        (
            {"teachers": ["program"], "policy": "best"},
            "unknown multi teacher policy 'best'; valid: \\['all', 'first_correct'\\]",
        ),
        ({"teachers": ["program", "hf"], "weights": [1]}, "weights must be 2 non-negative numbers"),
        (
            {"teachers": ["program", "hf"], "weights": [1, 1], "policy": "first_correct"},
            "weights apply to policy 'all' only",
        ),
        ({"teachers": ["program"], "extra": 1}, "unknown multi teacher config key\\(s\\) \\['extra'\\]"),
        ({"teachers": [{"base": "hf", "bogus": 2}]}, "unknown teacher config key\\(s\\) \\['bogus'\\]"),
    ],
)
def test_bad_multi_configs_name_the_problem(cfg, text):
    with pytest.raises(ValueError, match=text):
        build_teacher(resolve_teacher_config(multi_cfg(**{"policy": "all", **cfg})))


def test_resolve_teacher_config_reads_names_bases_and_inline_configs():
    inline = {"name": "inline", "backend": "program", "n_paths": 1, "wrong_share": 0, "seed": 3}
    cfg = multi_cfg(teachers=["program", {"base": "hf", "label": "big", "n_paths": 4}, inline])
    resolved_cfg = resolve_teacher_config(cfg)
    assert cfg["teachers"][0] == "program" and cfg["teachers"][1]["base"] == "hf"  # the input is left as it was
    assert {k: v for k, v in resolved_cfg.items() if k != "teachers"} == {
        k: v for k, v in cfg.items() if k != "teachers"
    }
    assert resolved_cfg["teachers"][2] == inline and "base" not in resolved_cfg["teachers"][1]
    resolved = resolve_teachers(resolved_cfg["teachers"])
    assert [label for label, _ in resolved] == ["program", "big", "inline"]
    assert resolved[1][1]["n_paths"] == 4 and resolved[1][1]["name_or_path"] == "Qwen/Qwen3-1.7B"
    assert resolved[2][1]["seed"] == 3
    program = {"name": "program", "n_paths": 2}
    assert resolve_teacher_config(program) is program  # not a multi teacher: unchanged


@pytest.mark.parametrize("entry", ["program", {"base": "program", "label": "p"}])
def test_an_unresolved_name_is_refused_with_the_function_to_call(entry):
    with pytest.raises(
        ValueError, match="teachers\\[0\\] names a conf/teacher/ file.*launch.teacher_configs.resolve_teacher_config"
    ):
        build_teacher(multi_cfg(teachers=[entry]))


def test_the_teacher_stage_runs_a_multi_teacher_and_a_rerun_adds_nothing(tmp_path):
    from omegaconf import OmegaConf

    from data.jsonl_io import read_jsonl
    from launch.config_check import compose
    from launch.stages import stage_data, stage_teacher

    cfg = compose(["data.n_train=6", "data.n_test=2", f"output_root={tmp_path}"])
    cfg.teacher = OmegaConf.create(
        {
            "name": "multi",
            "backend": "multi",
            "policy": "first_correct",
            "weights": None,
            "only_verified": True,
            "teachers": [
                {"base": "program", "label": "slippy", "wrong_share": 1.0, "n_paths": 1},
                {"base": "program", "label": "careful", "wrong_share": 0.0, "n_paths": 1},
            ],
        }
    )
    data_dir = stage_data(cfg)
    traces = read_jsonl(stage_teacher(cfg, data_dir) / "traces.jsonl")
    assert len({t["id"] for t in traces}) == len(traces)
    slipped = {t["problem_id"] for t in traces if t["teacher"] == "slippy" and not t["verified"]}
    assert slipped and {t["problem_id"] for t in traces if t["teacher"] == "careful"} == slipped
    assert all(t["verified"] for t in traces if t["teacher"] == "careful")
    assert read_jsonl(stage_teacher(cfg, data_dir) / "traces.jsonl") == traces
