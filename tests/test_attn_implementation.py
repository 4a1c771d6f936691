"""`model.attn_implementation` reaches every trainer (the toy base, SFT, KD, GRPO and GRPO's reference model), and
`flash_attention_2` without an importable flash-attn falls back to SDPA with one log line per process."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from launch.config_check import compose


@pytest.fixture
def no_flash_attn(monkeypatch: pytest.MonkeyPatch) -> None:
    """flash-attn not importable (as on CPU machines), and the once-per-process warning not yet given."""
    import data.hub

    monkeypatch.setitem(sys.modules, "flash_attn", None)  # `import flash_attn` raises ImportError
    monkeypatch.setattr(data.hub, "_WARNED_FLASH", False)


def test_flash_attention_falls_back_to_sdpa_with_one_log_line(tiny_model_dir, no_flash_attn, caplog) -> None:
    from data.hub import load_model, resolve_attn_implementation

    with caplog.at_level(logging.WARNING, logger="data.hub"):
        models = [load_model(tiny_model_dir, attn_implementation="flash_attention_2") for _ in range(2)]
    assert [m.config._attn_implementation for m in models] == ["sdpa", "sdpa"]
    lines = [r.getMessage() for r in caplog.records if r.name == "data.hub"]
    assert len(lines) == 1 and "flash-attn is not installed: using sdpa" in lines[0], lines
    assert resolve_attn_implementation("eager") == "eager" and resolve_attn_implementation(None) is None
    assert load_model(tiny_model_dir, attn_implementation="eager").config._attn_implementation == "eager"


class _Loaded(Exception):
    """Raised by the fake loader once it has recorded what a trainer asked for."""


def test_each_trainer_loads_its_models_with_the_requested_attention(monkeypatch, tmp_path) -> None:
    import rl.train
    import sft.kd
    import sft.train

    asked: list[tuple[str, Any]] = []

    def fake_load(where: str):
        def load(path: str, dtype: str = "float32", attn_implementation: str | None = None, **kwargs: Any):
            asked.append((where, attn_implementation))
            raise _Loaded

        return load

    for module in (sft.train, sft.kd, rl.train):
        monkeypatch.setattr(module, "load_model", fake_load(module.__name__))
    monkeypatch.setattr(rl.train, "resolve_start", lambda path, out, dtype: path)
    monkeypatch.setattr(sft.kd, "load_tokenizer", lambda *a, **k: None)
    monkeypatch.setattr(sft.train, "load_tokenizer", lambda *a, **k: None)
    monkeypatch.setattr(rl.train, "load_tokenizer", lambda *a, **k: None)
    from omegaconf import OmegaConf

    cfg = compose(["sft.max_steps=1", "kd.teacher=t"])
    sft_cfg = OmegaConf.to_container(cfg.sft, resolve=True)
    kd_cfg = {**sft_cfg, "kd": OmegaConf.to_container(cfg.kd, resolve=True)}
    calls = [
        lambda: sft.train.train_sft("m", [], tmp_path, sft_cfg, attn_implementation="flash_attention_2"),
        lambda: sft.kd.build_kd_trainer("m", "t", [], tmp_path, kd_cfg, attn_implementation="flash_attention_2"),
        lambda: rl.train.build_trainer("m", [], tmp_path, _rl_cfg(), {}, attn_implementation="flash_attention_2"),
    ]
    for call in calls:
        with pytest.raises(_Loaded):
            call()
    assert asked == [
        ("sft.train", "flash_attention_2"),
        ("sft.kd", "flash_attention_2"),
        ("rl.train", "flash_attention_2"),
    ]


def _rl_cfg() -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(compose([]).rl, resolve=True)


def test_pipeline_stages_pass_model_attn_implementation(monkeypatch, tmp_path) -> None:
    """stage_base / stage_sft / stage_kd / stage_rl hand `model.attn_implementation` to their trainer."""
    import rl.train
    import sft.kd
    import sft.train
    from launch import stages

    seen: dict[str, Any] = {}

    def fake(name: str):
        def train(*args: Any, **kwargs: Any) -> dict:
            seen[name] = kwargs.get("attn_implementation")
            out = next(a for a in args if isinstance(a, Path))  # the stage folder
            return {"model_path": str(out / "final"), "steps": 1, "train_seconds": 0.0}

        return train

    monkeypatch.setattr(sft.train, "train_sft", fake("sft"))
    monkeypatch.setattr(sft.kd, "train_kd", fake("kd"))
    monkeypatch.setattr(rl.train, "train_grpo", fake("rl"))
    monkeypatch.setattr(stages, "rl_rows", lambda cfg, data_dir: [])
    cfg = compose([f"output_root={tmp_path}", "model.attn_implementation=eager", "kd.teacher=t"])
    rows = [{"prompt": [], "completion": []}]
    stages.stage_sft(cfg, "base", rows)
    stages.stage_kd(cfg, "base", "teacher", rows)
    stages.stage_rl(cfg, "start", tmp_path)
    assert seen == {"sft": "eager", "kd": "eager", "rl": "eager"}


def test_grpo_policy_and_reference_use_the_fallback(tiny_model_dir, no_flash_attn, tmp_path) -> None:
    """A real GRPOTrainer with a reference model (beta > 0): both run SDPA when flash-attn is missing."""
    from rl.train import build_trainer
    from tests.test_rl_train import SPEC, grpo_rows, rl_cfg

    cfg = rl_cfg("grpo", "rl.max_steps=1", "rl.beta=0.01")
    trainer, _ = build_trainer(
        tiny_model_dir, grpo_rows(4), tmp_path, cfg, SPEC, use_cpu=True, attn_implementation="flash_attention_2"
    )
    assert trainer.model.config._attn_implementation == "sdpa"
    assert trainer.ref_model is not None and trainer.ref_model.config._attn_implementation == "sdpa"
