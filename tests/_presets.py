"""Presets from conf/ for tests that build a config object directly. The YAML files hold every value (the config
dataclasses have no defaults), so a test starts from a preset and overrides what it varies."""

from __future__ import annotations

import dataclasses
from typing import Any

from omegaconf import OmegaConf

from launch.config_check import CONF_DIR


def preset(group: str, name: str) -> dict[str, Any]:
    """conf/<group>/<name>.yaml as a plain dict (a file without a defaults list; compose the others)."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / group / f"{name}.yaml"), resolve=True)
    assert "defaults" not in cfg, f"conf/{group}/{name}.yaml composes others: use launch.config_check.compose"
    return cfg


def from_preset(cls: type, group: str, name: str, **overrides: Any) -> Any:
    """Dataclass `cls` with the preset's values for its fields, `overrides` over them."""
    values = preset(group, name)
    return cls(**{**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values}, **overrides})


def toy_world_config(**overrides: Any) -> Any:
    """ToyWorldConfig of conf/data/toy.yaml with `overrides`."""
    from data.toy_world import ToyWorldConfig

    return from_preset(ToyWorldConfig, "data", "toy", **overrides)


def program_teacher_config(**overrides: Any) -> Any:
    """ProgramTeacherConfig of conf/teacher/program.yaml with `overrides`."""
    from sft.teachers.program import ProgramTeacherConfig

    return from_preset(ProgramTeacherConfig, "teacher", "program", **overrides)
