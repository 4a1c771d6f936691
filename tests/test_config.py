"""conf/: every group option composes; config values reach the code that reads them; bad overrides fail clearly."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from launch import stages
from launch.config_check import CONF_DIR, ConfigError, compose, group_options

REPO = Path(__file__).resolve().parents[1]


def _root_defaults() -> set[str]:
    defaults = yaml.safe_load((CONF_DIR / "config.yaml").read_text())["defaults"]
    return {next(iter(d)) for d in defaults if isinstance(d, dict)}


def _all_options() -> list[tuple[str, str]]:
    # conf/hydra/ holds Hydra's own launcher configs (checked by the sweep and Slurm tests)
    return [
        (group.name, option)
        for group in sorted(CONF_DIR.iterdir())
        if group.is_dir() and group.name != "hydra"
        for option in group_options(group.name)
    ]


def _override(group: str, option: str) -> str:
    # groups outside the root defaults list (benchmark, reward: read by other entry points) are added with `+`
    return f"{group}={option}" if group in _root_defaults() else f"+{group}={option}"


def test_group_options_lists_the_files():
    files = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "condition").glob("*.yaml"))
    assert group_options("condition") == files
    assert {"answer_only_sft", "trace_sft"} <= set(files)
    assert "tiny" in group_options("model")
    assert group_options("no_such_group") == []


@pytest.mark.parametrize("group, option", _all_options())
def test_every_group_option_composes_and_resolves(group, option):
    cfg = compose([_override(group, option)])
    plain = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    text = (CONF_DIR / group / f"{option}.yaml").read_text()
    if text.startswith("# @package _global_"):  # e.g. sweep/toy: sets keys across groups; composing is the check
        return
    assert group in cfg and cfg[group] is not None
    raw = yaml.safe_load(text) or {}
    if "name" in raw:  # run folders and fingerprints use `<group>.name`: it must be the option's own name
        assert plain[group]["name"] == option
    for key, value in raw.items():
        if key != "defaults" and not isinstance(value, dict) and "${" not in str(value):
            assert plain[group][key] == value, f"{group}={option}: {key}"


def test_the_default_composition():
    cfg = compose([])
    assert cfg.condition.name == "trace_sft" and cfg.model.name == "tiny" and cfg.sft.name == "full"
    assert cfg.data.name == "toy" and cfg.teacher.name == "program" and cfg.eval.name == "toy"


def test_overrides_reach_the_config():
    cfg = compose(["condition=answer_only_sft", "sft=lora", "sft.lora.r=8", "data.n_train=123", "seed=4"])
    assert cfg.condition.sft_data == "answer_only" and cfg.seed == 4 and cfg.data.n_train == 123
    assert cfg.sft.lora.r == 8 and cfg.sft.lora.use_rslora is True
    assert cfg.sft.max_steps == compose([]).sft.max_steps  # lora inherits full's budget


def _no_defaults(cls: type) -> bool:
    """The YAML preset is the one source of values: the config dataclass repeats none of them."""
    return all(
        f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in dataclasses.fields(cls)
    )


def test_every_conf_data_key_reaches_the_toy_world_config():
    from data.toy_world import ToyWorldConfig

    cfg = compose(["data.n_test=123"])
    fields = {f.name for f in dataclasses.fields(ToyWorldConfig)}
    assert set(cfg.data.keys()) - {"name"} == fields
    config = ToyWorldConfig(**{k: cfg.data[k] for k in fields})
    assert dataclasses.asdict(config) == {k: cfg.data[k] for k in fields} and config.n_test == 123
    assert _no_defaults(ToyWorldConfig)


def test_every_conf_teacher_key_reaches_the_program_teacher():
    from sft.teachers.base import build_teacher
    from sft.teachers.program import ProgramTeacherConfig

    teacher = OmegaConf.to_container(compose(["teacher.seed=5", "teacher.skip_share=0.25"]).teacher)
    fields = {f.name for f in dataclasses.fields(ProgramTeacherConfig)}
    # name, only_verified and max_problems (the teacher budget) are read by the teacher stage, not the teacher
    assert set(teacher) - {"name", "only_verified", "max_problems"} == fields
    assert dataclasses.asdict(build_teacher(teacher).teacher.config) == {k: teacher[k] for k in fields}
    assert _no_defaults(ProgramTeacherConfig)


@pytest.mark.parametrize("option", group_options("sft"))
def test_every_sft_key_reaches_sft_config(option, tmp_path):
    """A key in conf/sft that is neither an SFTConfig key nor one of ours would be silently ignored."""
    from sft.train import _TRAINER_KEYS, build_sft_config

    sft = OmegaConf.to_container(compose([f"sft={option}"]).sft, resolve=True)
    assert set(sft) - set(_TRAINER_KEYS) <= {"name", "lora", "mode", "max_rows"}  # max_rows: launch/stages.py
    args = build_sft_config(sft, tmp_path, "none", seed=3, use_cpu=True)
    for key in set(sft) & set(_TRAINER_KEYS):
        assert getattr(args, key) == sft[key], key
    assert args.bf16 is False and args.seed == 3 and args.output_dir == str(tmp_path / "checkpoints")
    if sft["lora"]:
        from sft.checkpoints import lora_config

        lora = lora_config(sft["lora"])
        assert (lora.r, lora.lora_alpha, lora.use_rslora) == (
            sft["lora"]["r"],
            sft["lora"]["alpha"],
            sft["lora"]["use_rslora"],
        )


def test_tiny_model_conf_keys_are_used():
    from transformers import Qwen3Config

    from sft.train import _TRAINER_KEYS

    model = OmegaConf.to_container(compose(["model=tiny"]).model, resolve=True)
    defaults = Qwen3Config()
    built = Qwen3Config(**model["arch"])
    for key, value in model["arch"].items():
        # Qwen3Config keeps unknown kwargs as attributes silently; a typo must be caught here
        known = hasattr(defaults, key) or key in (defaults.rope_parameters or {})
        assert known, f"model.arch.{key} is not a Qwen3Config field"
        assert getattr(built, key, None) == value or (built.rope_parameters or {}).get(key) == value, key
    ours = {"n_facts", "facts_per_doc", "n_statements", "threads", *stages.SOLUTION_KEYS}  # launch/stages.py
    assert set(model["pretrain"]) - set(_TRAINER_KEYS) <= ours


@pytest.mark.parametrize("option", [o for o in group_options("model") if o != "tiny"])
def test_hub_models_name_a_path_and_no_toy_parts(option):
    model = compose([f"model={option}"]).model
    assert model.name_or_path and "/" in model.name_or_path
    assert model.arch is None and model.pretrain is None and model.tokenizer is None


# ---- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("group", ["condition", "model", "sft", "data", "teacher", "logger", "deepspeed", "eval"])
def test_unknown_group_option_names_it_and_lists_choices(group):
    with pytest.raises(ConfigError) as info:
        compose([f"{group}=nope"])
    message = str(info.value)
    assert "\n" not in message
    assert f"unknown {group} 'nope'" in message
    for option in group_options(group):
        assert option in message


@pytest.mark.parametrize(
    "override, parent, listed",
    [
        ("sft.nope=1", "sft", "learning_rate"),
        ("data.n_trainx=5", "data", "n_train"),
        ("nope=1", "<root>", "condition"),
        ("model.arch.hidden=3", "model.arch", "hidden_size"),
    ],
)
def test_unknown_key_names_it_and_lists_valid_keys(override, parent, listed):
    with pytest.raises(ConfigError) as info:
        compose([override])
    message = str(info.value)
    key = override.split("=")[0]
    assert "\n" not in message
    assert f"unknown config key '{key}'" in message
    assert f"valid keys under {parent}:" in message and f"'{listed}'" in message


def _pipeline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "launch.pipeline", *args, f"output_root={tmp_path / 'out'}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "arg, expected",
    [
        ("condition=nope", "error: unknown condition 'nope'; valid condition choices: ['answer_only_sft', '"),
        ("model=nope", "error: unknown model 'nope'; valid model choices: "),
        ("sft.nope=1", "error: unknown config key 'sft.nope'; valid keys under sft: "),
    ],
)
def test_pipeline_cli_rejects_bad_override_with_one_line(tmp_path, arg, expected):
    result = _pipeline(tmp_path, arg)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing ran


def test_eval_split_dev_is_the_toy_worlds_and_refused_elsewhere():
    """eval.split picks the scored split (test reports, dev tunes); dev exists only for the toy world without
    benchmarks, and asking for it elsewhere is refused before anything runs, naming what is valid."""
    from launch.stages import check_eval, held_out_split

    assert held_out_split(compose([])) == "test" and held_out_split(compose(["eval.split=dev"])) == "dev"
    check_eval(compose(["eval.split=dev"]))
    for overrides in (["eval.split=dev", "data=gsm8k"], ["eval.split=dev", "eval.benchmarks=[gsm8k]"]):
        with pytest.raises(ConfigError, match="only the toy world has a dev split.*valid: data=toy"):
            check_eval(compose(overrides))
