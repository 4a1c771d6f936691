"""launch/config_schema.py: every preset validates; every numeric key refuses a wrong type and an out-of-range value
with one line naming it; validation leaves the config as composed; the schemas mirror the code that reads the keys."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import pytest
import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from launch import config_schema as schema
from launch.config_check import CONF_DIR, ConfigError, compose, group_options, validate_config
from sft.teachers.base import backend_name

REPO = Path(__file__).resolve().parents[1]


def _root_groups() -> set[str]:
    defaults = yaml.safe_load((CONF_DIR / "config.yaml").read_text())["defaults"]
    return {next(iter(d)) for d in defaults if isinstance(d, dict)}


def _all_options() -> list[str]:
    """One override per option of every group (groups outside the root defaults list are added with `+`)."""
    groups = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra")
    return [
        f"{'' if group in _root_groups() else '+'}{group}={option}"
        for group in groups
        for option in group_options(group)
    ]


@pytest.mark.parametrize("override", _all_options())
def test_every_option_composes_and_validates(override):
    cfg = compose([override])  # compose validates the pipeline config
    validate_config(cfg)


def _leaves(node: Any, path: str = "") -> dict[str, tuple[type, Any]]:
    """`{dotted key: (type, value)}` of every leaf of an OmegaConf node, read without resolving or converting."""
    if isinstance(node, (DictConfig, ListConfig)) and not node._is_none():
        keys = list(node.keys()) if isinstance(node, DictConfig) else list(range(len(node)))
        out: dict[str, tuple[type, Any]] = {}
        for k in keys:
            out.update(_leaves(node._get_node(k), f"{path}.{k}" if path else str(k)))
        return out
    value = node._value()
    return {path: (type(value), value)}


@pytest.mark.parametrize("overrides", [[], ["sft=lora", "rl=grpo_lora", "teacher=openai", "eval=sample"]])
def test_validation_leaves_the_composed_config_unchanged(overrides):
    raw = compose(overrides, validate=False)
    before = _leaves(raw)
    validate_config(raw)
    assert _leaves(raw) == before  # values and their types (an int stays an int, a float a float)
    assert OmegaConf.to_container(compose(overrides)) == OmegaConf.to_container(raw)
    assert isinstance(raw.sft.max_steps, int) and isinstance(raw.sft.learning_rate, float)


def _schemas() -> list[type]:
    seen: list[type] = []

    def visit(cls: type) -> None:
        if cls in seen:
            return
        seen.append(cls)
        for tp in get_type_hints(cls).values():
            for arg in (tp, *get_args(tp)):
                if dataclasses.is_dataclass(arg):
                    visit(arg)

    roots = [
        schema.ConfigSchema,
        *schema.TEACHER_SCHEMAS.values(),
        *schema.REWARD_SCHEMAS.values(),
        *schema.RECIPE_SCHEMAS.values(),
    ]
    for root in roots:
        visit(root)
    return seen


def test_schemas_hold_no_defaults_and_are_in_the_config_store():
    from hydra.core.config_store import ConfigStore

    for cls in _schemas():
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, (cls, f.name)
    store = ConfigStore.instance()
    for group in ("data", "model", "sft", "rl", "eval", "kd", "redistill", "filters", "cluster", "config"):
        node = store.load(f"schema/{group}.yaml").node
        assert OmegaConf.is_missing(node, next(iter(node.keys()))), group  # no value: the presets hold them
    for backend in schema.TEACHER_SCHEMAS:
        assert store.load(f"schema/teacher/{backend}.yaml").node is not None


def test_the_config_dataclasses_repeat_no_preset_value():
    """conf/ holds the values; the package dataclasses the pipeline builds from a group hold none of them."""
    from data.toy_world import ToyWorldConfig
    from sft.teachers.dataset import DatasetTeacherConfig
    from sft.teachers.hf import HFTeacherConfig
    from sft.teachers.openai_api import OpenAITeacherConfig
    from sft.teachers.program import ProgramTeacherConfig
    from sft.teachers.vllm_offline import VLLMTeacherConfig

    for cls in (
        ToyWorldConfig,
        ProgramTeacherConfig,
        HFTeacherConfig,
        OpenAITeacherConfig,
        DatasetTeacherConfig,
        VLLMTeacherConfig,
    ):
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, (cls, f.name)


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_schema_keys_mirror_the_code_that_reads_them():
    from data.toy_world import ToyWorldConfig
    from eval.settings import FIELDS, PIPELINE_KEYS
    from launch.slurm_recipes import RECIPES
    from rewards.registry import REWARDS
    from rl.grpo_config import OUR_KEYS, TRAINER_KEYS
    from sft.filters import FilterConfig
    from sft.kd import KD_KEYS
    from sft.teachers.base import BACKENDS
    from sft.teachers.dataset import DatasetTeacherConfig
    from sft.teachers.hf import HFTeacherConfig
    from sft.teachers.openai_api import OpenAITeacherConfig
    from sft.teachers.program import ProgramTeacherConfig
    from sft.teachers.vllm_offline import VLLMTeacherConfig
    from sft.train import _TRAINER_KEYS

    assert _field_names(schema.DataSchema) - {"name"} == _field_names(ToyWorldConfig)
    assert _field_names(schema.SftSchema) - {"name", "lora", "max_rows"} == set(_TRAINER_KEYS)  # max_rows: stages.py
    assert _field_names(schema.SftTrainerArgs) == set(_TRAINER_KEYS)
    assert _field_names(schema.RlSchema) == set(TRAINER_KEYS) | set(OUR_KEYS)
    assert _field_names(schema.EvalSchema) == set(FIELDS) | set(PIPELINE_KEYS)
    assert _field_names(schema.KdSchema) == set(KD_KEYS)
    assert _field_names(schema.FiltersSchema) - {"enabled"} == _field_names(FilterConfig)
    assert set(schema.TEACHER_SCHEMAS) == set(BACKENDS)
    common = _field_names(schema.TeacherCommon)
    for backend, config in [
        ("program", ProgramTeacherConfig),
        ("hf", HFTeacherConfig),
        ("openai", OpenAITeacherConfig),
        ("dataset", DatasetTeacherConfig),
        ("vllm", VLLMTeacherConfig),
    ]:
        assert _field_names(schema.TEACHER_SCHEMAS[backend]) - common == _field_names(config), backend
    assert set(schema.REWARD_SCHEMAS) == set(REWARDS)
    for name, cls in schema.REWARD_SCHEMAS.items():
        params = set(inspect.signature(REWARDS[name]).parameters) | {"weight", "timeout_s"}
        assert _field_names(cls) <= params, name
    assert set(schema.RECIPE_SCHEMAS) == set(RECIPES)


def test_choices_match_the_libraries():
    from transformers.trainer_utils import SchedulerType
    from trl import GRPOConfig, SFTConfig

    assert set(schema.LR_SCHEDULERS) == {s.value for s in SchedulerType}
    sft = {f.name: f for f in dataclasses.fields(SFTConfig)}
    assert set(schema.SFT_LOSS_TYPES) == set(sft["loss_type"].metadata["choices"])
    grpo = {f.name: f for f in dataclasses.fields(GRPOConfig)}
    for name, choices in [
        ("importance_sampling_level", schema.IMPORTANCE_SAMPLING_LEVELS),
        ("multi_objective_aggregation", schema.REWARD_AGGREGATIONS),
    ]:
        for choice in choices:
            assert f"'{choice}'" in grpo[name].metadata["help"], (name, choice)


# ---- every numeric key refuses a wrong type and an out-of-range value --------------------------------------
def _numeric(tp: Any, meta: dict[str, Any]) -> tuple[type, bool] | None:
    """(int or float, is a list) when the field holds numbers (or null), else None."""
    tp = meta.get("type", tp)
    if schema._is_union(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != 1:
            return None
        tp = args[0]
    if get_origin(tp) is list:
        (item,) = get_args(tp)
        return (item, True) if item in (int, float) else None
    return (tp, False) if tp in (int, float) else None


def _numeric_keys(cls: type, node: Any, path: str) -> list[tuple[str, type, bool, dict[str, Any], bool]]:
    """(dotted key, int | float, is a list, metadata, present in the composed config) for every numeric field of
    `cls`, descending into nested schemas whose value is a mapping in `node`."""
    out = []
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{path}.{f.name}"
        value = node.get(f.name) if isinstance(node, dict) else None
        kind = _numeric(hints[f.name], dict(f.metadata))
        if kind:
            out.append((key, kind[0], kind[1], dict(f.metadata), f.name in node))
            continue
        nested = [a for a in (hints[f.name], *get_args(hints[f.name])) if dataclasses.is_dataclass(a)]
        if nested and isinstance(value, dict):
            out.extend(_numeric_keys(nested[0], value, key))
    return out


def _below_minimum(kind: type, meta: dict[str, Any]) -> Any:
    if "ge" in meta:
        return meta["ge"] - 1 if kind is int else meta["ge"] - 0.5
    if "gt" in meta:
        return meta["gt"]
    return None


WALKED = (
    [("data", option) for option in group_options("data")]
    + [("model", "tiny")]
    + [(group, option) for group in ("sft", "rl", "teacher", "eval") for option in group_options(group)]
)


@pytest.mark.parametrize("group, option", WALKED)
def test_every_numeric_key_refuses_a_wrong_type_and_an_out_of_range_value(group, option):
    """Every numeric key, a wrong type and a value below its range, each refused naming the key. The bad value is
    set on a copy of the composed preset (what a command-line override does after Hydra parses it; composing
    ~800 configs would take minutes); the override list below goes through `compose` itself."""
    composed = compose([f"{group}={option}"])
    cfg = OmegaConf.to_container(composed, resolve=True)
    node = cfg[group]
    cls = schema.TEACHER_SCHEMAS[backend_name(node)] if group == "teacher" else schema.GROUP_SCHEMAS[group]
    cls = schema.DATA_SCHEMAS[node["name"]] if group == "data" else cls
    keys = _numeric_keys(cls, node, group)
    assert keys
    unbounded = [key for key, kind, _, meta, _ in keys if _below_minimum(kind, meta) is None]
    assert not unbounded, f"numeric keys without a lower bound: {unbounded}"
    missed = []
    for key, kind, is_list, meta, _present in keys:
        bad = _below_minimum(kind, meta)
        for value in ("abc", [bad] if is_list else bad):
            trial = copy.deepcopy(composed)
            OmegaConf.set_struct(trial, False)
            OmegaConf.update(trial, key, value, force_add=True)
            try:
                validate_config(trial)
            except ConfigError as error:
                message = str(error)
                if key not in message or "\n" in message:
                    missed.append(f"{key}={value!r}: {message}")
            else:
                missed.append(f"{key}={value!r}: accepted")
    assert not missed, "\n".join(missed)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("sft.max_steps=-5", "sft.max_steps=-5: must be an integer >= 1"),
        ("data.n_test=abc", "data.n_test='abc': must be an integer >= 1"),
        ("rl.learning_rate=fast", "rl.learning_rate='fast': must be a number > 0"),
        ("teacher.n_paths=0", "teacher.n_paths=0: must be an integer in [1, 6]"),
        ("rl.loss_type=ppo", "rl.loss_type='ppo': must be one of ['grpo', 'dr_grpo', 'dapo'"),
        ("eval.decoding=beam", "eval.decoding='beam': must be one of ['greedy', 'sample']"),
        ("rl.scale_rewards=true", "rl.scale_rewards=true: must be one of ['group', 'batch', 'none']"),
        ("rl.generation.backend=sglang", "rl.generation.backend='sglang': must be one of ['hf', 'vllm']"),
        ("eval.dtype=fp8", "eval.dtype='fp8': must be one of ['float32', 'bfloat16', 'float16', 'auto']"),
        ("rl.prompt_filter.drop_pass_rates=[0,2]", "rl.prompt_filter.drop_pass_rates[1]=2: must be a number in [0, 1]"),
        ("teacher.only_verified=maybe", "teacher.only_verified='maybe': must be true or false"),
        ("seed=-1", "seed=-1: must be an integer >= 0"),
        ("cost.gpus=1.5", "cost.gpus=1.5: must be an integer >= 0 or null"),
        ("demo.conditions=[nope]", "demo.conditions[0]='nope': must be one of ['answer_only_sft'"),
        ("reward.funcs.0.name=nope", "reward.funcs[0].name='nope': must be one of"),
        ("~sft.max_steps", "sft.max_steps is missing: must be an integer >= 1"),
        ("+sft.nope=1", "unknown config key 'sft.nope'; valid keys under sft: ["),
        ("data.min_steps=5", "data: need 1 <= min_steps <= max_steps"),  # a cross-key check of the code
        ("rl.num_generations=3", "rl.num_generations=3 must be >= 2 and divide the generation batch"),
        ("sft.max_steps=[1", "cannot parse override 'sft.max_steps=[1'"),
    ],
)
def test_bad_values_are_refused_with_one_line_naming_them(override, expected):
    with pytest.raises(ConfigError) as info:
        compose([override])
    assert str(info.value).startswith(expected), str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["teacher=dataset_s1k", "teacher.hub_id=null"], "teacher: dataset teacher needs `hub_id` or `path`"),
        (["teacher=openai", "teacher.base_url=ftp://x"], "teacher.base_url='ftp://x': must be an http(s) URL"),
        (["teacher=multi", "teacher.weights=[1]"], "teacher.weights=[1]: must be 2 numbers >= 0, one per teacher"),
        (["teacher=multi", "+teacher.teachers.0.n_paths=0"], "teacher.teachers[0].n_paths=0: must be an integer >= 1"),
        (["sft=lora", "sft.lora.target_modules=5"], "sft.lora.target_modules=5: must be a string or a list of strings"),
        (["eval=sample", "eval.temperature=0"], "eval.temperature=0 is not valid with decoding=sample"),
        (
            ["condition=sft_control", "+condition.continue_sft.learning_rate=fast"],
            "condition.continue_sft.learning_rate='fast': must be a number > 0",
        ),
        (["+benchmark=gsm8k", "benchmark.limit=-1"], "benchmark.limit=-1: must be an integer >= 0 or null"),
        (["+recipe=sft_multinode", "recipe.rdzv_port=0"], "recipe.rdzv_port=0: must be an integer in [1, 65535]"),
    ],
)
def test_bad_values_in_other_options_are_refused(overrides, expected):
    with pytest.raises(ConfigError) as info:
        compose(overrides)
    assert str(info.value).startswith(expected), str(info.value)


def test_the_other_roots_are_not_checked_against_the_pipeline_schema():
    assert compose(["model_path=x"], config_name="serve").port == 8000


# ---- the CLI refuses before anything runs ----------------------------------------------------------------
@pytest.mark.parametrize(
    "arg, key",
    [
        ("sft.max_steps=-5", "sft.max_steps"),
        ("data.n_test=abc", "data.n_test"),
        ("rl.learning_rate=fast", "rl.learning_rate"),
        ("teacher.n_paths=0", "teacher.n_paths"),
    ],
)
def test_pipeline_refuses_a_bad_value_in_one_line_before_anything_runs(tmp_path, arg, key):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "launch.pipeline", arg, f"output_root={tmp_path / 'outputs'}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - start < 30
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and key in lines[0], result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "outputs").exists()
