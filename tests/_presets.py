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


# The smallest budgets a whole pipeline runs on (teacher -> SFT -> GRPO -> eval in seconds): the toy world, the tiny
# base's corpus and pretraining, SFT, eval and GRPO cut to a few problems and steps. Tests add their condition.
TINY_BASE = [  # the toy world and the tiny base's corpus and pretraining
    "data.n_train=60",
    "data.n_test=8",
    "model.tokenizer.corpus_problems=60",
    "model.pretrain.n_facts=800",
    "model.pretrain.n_statements=40",
    "model.pretrain.max_steps=4",
    "model.pretrain.save_steps=1000",
]
TINY_SFT = ["sft.max_steps=2", "sft.save_steps=2", "eval.batch_size=8"]  # SFT and eval
TINY_RL = [  # GRPO and its learning probe
    "rl.max_steps=2",
    "rl.save_steps=2",
    "rl.num_generations=2",
    "rl.per_device_train_batch_size=4",
    "rl.max_completion_length=16",
    "rl.logging_steps=1",
    "rl.learning_probe.n_prompts=4",
    "rl.learning_probe.n_samples=2",
]
TINY_PIPELINE = [*TINY_BASE, *TINY_SFT, *TINY_RL]
