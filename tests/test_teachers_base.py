"""build_teacher: the registry from conf/teacher to a backend, its errors, and the program backend's records."""

from __future__ import annotations

import pytest

from sft.teachers.base import BACKENDS, Teacher, build_teacher
from tests._presets import preset, program_teacher_config


def test_program_backend_yields_the_program_teachers_records(small_world):
    from sft.teachers.program import ProgramTeacher

    _, train, _ = small_world
    teacher = build_teacher(preset("teacher", "program"))
    assert isinstance(teacher, Teacher) and teacher.name == "program" and teacher.uses_problems
    expected = [r for p in train[:10] for r in ProgramTeacher(program_teacher_config()).traces(p)]
    assert list(teacher.generate(train[:10])) == expected


def test_default_config_builds_the_program_teacher():
    from launch.config_check import compose

    assert build_teacher(compose([]).teacher).name == "program"


def test_unknown_backend_names_it_and_lists_valid():
    with pytest.raises(ValueError, match=r"'nope'.*\['dataset', 'hf', 'multi', 'openai', 'program', 'vllm'\]"):
        build_teacher({"name": "nope"})
    assert set(BACKENDS) == {"program", "hf", "dataset", "openai", "vllm", "multi"}


def test_backend_key_selects_backend_and_unknown_keys_fail():
    with pytest.raises(ValueError, match="needs `hub_id` or `path`"):
        build_teacher({**preset("teacher", "dataset_orca"), "hub_id": None, "path": None})
    with pytest.raises(ValueError, match=r"unknown teacher config key\(s\) \['bogus'\]"):
        build_teacher({"name": "hf", "bogus": 1})
    with pytest.raises(
        ValueError, match=r"missing key\(s\) \['ablation', 'ablation_share', 'seed', 'skip_share', 'wrong_share'\]"
    ):
        build_teacher({"name": "program", "n_paths": 2})  # no defaults in code: a preset holds every value
    with pytest.raises(ValueError, match="unknown dataset schema 'xyz'"):
        build_teacher({**preset("teacher", "dataset_orca"), "schema": "xyz", "path": "a.jsonl"})


@pytest.mark.parametrize("option", ["hf", "dataset_s1k", "dataset_openr1", "dataset_orca"])
def test_every_teacher_config_builds(option):
    from launch.config_check import compose

    teacher = build_teacher(compose([f"teacher={option}"]).teacher)  # builds without loading a model or data
    assert teacher.name == ("hf" if option == "hf" else "dataset")
