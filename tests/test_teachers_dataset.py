"""The dataset teacher: s1K-1.1, OpenR1-Math-220k and Orca-Math rows (crafted local files) mapped to trace records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sft.teachers.dataset import DatasetTeacher, DatasetTeacherConfig
from tests._presets import from_preset


def _config(schema: str, **overrides) -> DatasetTeacherConfig:
    """The conf/teacher/dataset_<schema>.yaml preset with `overrides` (`path` wins over its hub_id)."""
    return from_preset(DatasetTeacherConfig, "teacher", f"dataset_{schema}", **overrides)


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


S1K = [
    {
        "question": "What is 2+3?",
        "solution": "5",
        "deepseek_thinking_trajectory": "2 plus 3 is 5.",
        "deepseek_attempt": "The answer is \\boxed{5}.",
        "deepseek_grade": "Yes",
        "gemini_thinking_trajectory": "hmm",
        "gemini_attempt": "\\boxed{6}",
        "gemini_grade": "No",
    },
    {
        "question": "What is 4*4?",
        "solution": "16",
        "deepseek_thinking_trajectory": "4 times 4",
        "deepseek_attempt": "\\boxed{15}",
        "deepseek_grade": "No",
        "gemini_thinking_trajectory": "sixteen",
        "gemini_attempt": "\\boxed{16}",
        "gemini_grade": "Yes",
    },
]
OPENR1 = [
    {
        "uuid": "u1",
        "problem": "Find x if x+1=3.",
        "answer": "2",
        "generations": [
            "<think>x=2</think>\n\\boxed{2}",
            "<think>x=3</think>\n\\boxed{3}",
            "<think>ok</think>\\boxed{2}",
        ],
        "correctness_math_verify": [True, False, True],
    },
    {
        "uuid": "u2",
        "problem": "Find y.",
        "answer": "1",
        "generations": ["<think>?</think>\\boxed{0}"],
        "correctness_math_verify": [False],
    },
]
ORCA = [
    {"question": "Tom has 3 apples and buys 4. How many?", "answer": "Tom has 3 + 4 = 7 apples. So 7."},
    {"question": "How many total?", "answer": "There are 1,200 in total."},
]


def test_s1k_maps_trajectory_and_grade(tmp_path):
    path = _write(tmp_path / "s1k.jsonl", S1K)
    records = list(DatasetTeacher(_config("s1k", path=path)).generate())
    assert [r["id"] for r in records] == ["s1k-0/dataset/0", "s1k-1/dataset/0"]
    assert records[0]["trace"] == "<think>\n2 plus 3 is 5.\n</think>\nThe answer is \\boxed{5}."
    assert [r["verified"] for r in records] == [True, False]
    assert records[0]["answer"] == "5" and records[0]["problem"] == "What is 2+3?"
    assert records[0]["tokens_out"] == len(records[0]["trace"].split()) and records[0]["token_unit"] == "words"
    gemini = list(DatasetTeacher(_config("s1k", path=path, trajectory="gemini")).generate())
    assert [r["verified"] for r in gemini] == [False, True]


def test_s1k_without_grade_uses_verify():
    rows = [{k: v for k, v in S1K[1].items() if k != "deepseek_grade"} | {"deepseek_attempt": "\\boxed{16}"}]
    records = list(DatasetTeacher(_config("s1k", path="unused.jsonl"), rows=rows).generate())
    assert records[0]["verified"] is True


def test_openr1_keeps_only_verified_generations(tmp_path):
    path = _write(tmp_path / "openr1.jsonl", OPENR1)
    records = list(DatasetTeacher(_config("openr1", path=path)).generate())
    assert [r["id"] for r in records] == ["u1/dataset/0", "u1/dataset/2"]
    assert all(r["verified"] and r["answer"] == "2" and r["problem_id"] == "u1" for r in records)


def test_orca_is_answer_only_with_last_number(tmp_path):
    path = _write(tmp_path / "orca.jsonl", ORCA)
    records = list(DatasetTeacher(_config("orca", path=path, limit=5)).generate())
    assert [r["answer"] for r in records] == ["7", "1200"]
    assert all(r["answer_only"] and "<think>" not in r["trace"] for r in records)
    one = list(DatasetTeacher(_config("orca", path=path, limit=1)).generate())
    assert len(one) == 1


def test_bad_file_type_is_named(tmp_path):
    with pytest.raises(ValueError, match="'txt'"):
        list(DatasetTeacher(_config("orca", path=str(tmp_path / "a.txt"))).generate())


def test_teacher_stage_with_a_dataset_teacher_resumes_and_counts_tokens(tmp_path):
    from data.jsonl_io import read_jsonl
    from launch.config_check import compose
    from launch.stage_state import read_summary
    from launch.stages import stage_data, stage_teacher

    path = _write(tmp_path / "openr1.jsonl", OPENR1 + [dict(OPENR1[0], uuid="u3")])
    cfg = compose(
        [
            "data.n_train=10",
            "data.n_test=4",
            f"output_root={tmp_path}",
            "teacher=dataset_openr1",
            f"teacher.path={path}",
        ]
    )
    data_dir = stage_data(cfg)
    traces_dir = stage_teacher(cfg, data_dir)
    clean = read_jsonl(traces_dir / "traces.jsonl")
    summary = read_summary(traces_dir)
    assert summary["n_traces"] == len(clean) == 4 and summary["n_problems"] == 2 and summary["teacher"] == "dataset"
    assert summary["tokens_out"] == sum(r["tokens_out"] for r in clean) > 0 and summary["tokens_in"] > 0
    raw = (traces_dir / "traces.jsonl").read_text()
    (traces_dir / "traces.jsonl").write_text(raw[: len(raw) // 2])
    (traces_dir / "summary.json").unlink()
    stage_teacher(cfg, data_dir)
    assert read_jsonl(traces_dir / "traces.jsonl") == clean
