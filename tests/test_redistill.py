"""The re-distillation loop: verified policy traces (deduplicated, optionally mixed with teacher traces) become
the SFT data of a fresh student from the base; round 2 runs GRPO from round 1's student; a policy that solves
nothing stops the run with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from launch.config_check import compose
from tests._presets import TINY_PIPELINE

TINY = [
    *TINY_PIPELINE,
    "redistill.sampling.n_problems=12",
    "redistill.sampling.n_paths=2",
    "redistill.sampling.max_new_tokens=16",
    "condition=redistill",
]


def _fake_generate(self, problems, done=None):
    """The policy 'solves' even-numbered problems (twice, the same text: one duplicate) and fails the rest."""
    for i, p in enumerate(problems):
        for k in range(self.config.n_paths):
            ok = i % 2 == 0
            text = f"<think>{p['question'][:20]}</think> \\boxed{{{p['final_answer'] if ok else 'nope'}}}"
            yield {
                "id": self.record_id(p["id"], k),
                "problem_id": p["id"],
                "problem": p["question"],
                "answer": p["final_answer"],
                "trace": text,
                "teacher": self.name,
                "path": k,
                "verified": ok,
                "tokens_in": 1,
                "tokens_out": 1,
                "truncated": False,
                "model": self.config.name_or_path,
            }


def test_redistill_rows_keep_verified_unique_traces_and_mix_teacher_traces(tmp_path):
    from launch.stages import redistill_rows
    from tests._files import write_jsonl

    policy = tmp_path / "policy"
    policy.mkdir()
    write_jsonl(
        policy / "traces.jsonl",
        [
            {"problem_id": "a", "problem": "Q a", "trace": "t1", "verified": True},
            {"problem_id": "a", "problem": "Q a", "trace": "t1 ", "verified": True},  # duplicate (whitespace)
            {"problem_id": "a", "problem": "Q a", "trace": "t2", "verified": True},
            {"problem_id": "b", "problem": "Q b", "trace": "t1", "verified": True},  # same text, other problem: kept
            {"problem_id": "c", "problem": "Q c", "trace": "bad", "verified": False},
        ],
    )
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    write_jsonl(
        teacher / "traces.jsonl",
        [{"problem_id": f"t{i}", "problem": f"T {i}", "trace": "tt", "verified": i % 2 == 0} for i in range(10)],
    )
    cfg = compose([f"output_root={tmp_path}"])
    rows, report = redistill_rows(cfg, policy, teacher, tmp_path)
    assert [r["completion"][0]["content"] for r in rows] == ["t1", "t2", "t1"] and report is None
    cfg.redistill.mix_teacher = 1.0
    mixed, _ = redistill_rows(cfg, policy, teacher, tmp_path)
    assert len(mixed) == 6 and all(r["prompt"][0]["content"].startswith("T ") for r in mixed[3:])
    with pytest.raises(ValueError, match="mix_teacher"):
        redistill_rows(cfg, policy, None, tmp_path)


@pytest.mark.slow
def test_two_rounds_sample_sft_from_base_and_grpo_between_rounds(tmp_path, monkeypatch):
    from launch.pipeline import run_condition
    from launch.stage_state import read_summary
    from sft.teachers.hf import HFTeacher

    monkeypatch.setattr(HFTeacher, "generate", _fake_generate)
    cfg = compose([*TINY, f"output_root={tmp_path}", "redistill.rounds=2"])
    result = run_condition(cfg)
    r1, r2 = result["rounds"]
    assert r1["policy_path"] == result["rl_path"]  # round 1 samples the sft_grpo policy
    assert r2["policy_path"] != r1["policy_path"]  # round 2: GRPO from round 1's student
    assert read_summary(Path(r2["policy_path"]).parent)["start_path"] == r1["student_path"]
    assert r1["n_rows"] == r2["n_rows"] == 6  # 12 problems, 6 solved, duplicates dropped
    assert r1["n_verified"] == 12 and r1["problems_solved"] == 6
    assert "accuracy" in r1 and result["model_path"] == r2["student_path"] != r1["student_path"]
    base = read_summary(Path(r1["student_path"]).parent)
    assert base["steps"] == 2  # a fresh student with the SFT budget
    assert {"redistill:sample1", "redistill:rl2", "redistill:sft2", "rl", "sft", "eval"} <= set(result["stage_seconds"])
    assert (tmp_path / "default" / "redistill" / "seed0" / "eval_round1" / "summary.json").exists()
    assert not (tmp_path / "default" / "redistill" / "seed0" / "eval_round2").exists()  # the run's eval is round 2
    again = run_condition(cfg)  # everything complete: nothing runs again
    assert again["rounds"] == result["rounds"]


@pytest.mark.slow
def test_a_policy_that_solves_nothing_stops_with_a_clear_error(tmp_path):
    from launch.pipeline import run_condition

    with pytest.raises(RuntimeError, match="solved no training problem"):
        run_condition(compose([*TINY, f"output_root={tmp_path}"]))
