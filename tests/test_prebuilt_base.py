"""The toy base shipped in the repository (launch/prebuilt_base.py, data/toy_base/): the base stage copies it, byte
for byte, only for the config it was built for and only when every file is intact; otherwise it pretrains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launch import prebuilt_base, stages
from launch.config_check import compose
from launch.prebuilt_base import MANIFEST, install_prebuilt, prebuilt_dir, read_prebuilt, ship

BASE_FP_DEFAULT = "97a5add98e"  # tests/test_pretrain_solutions.py: the base every README number was measured on


class Pretrained(Exception):
    """Raised where the base stage would start pretraining."""


def _built_base(stage_dir: Path, fp: str, **summary: object) -> Path:
    final = stage_dir / "final"
    final.mkdir(parents=True)
    (final / "config.json").write_text('{"model_type": "qwen3"}')
    (final / "model.safetensors").write_bytes(bytes(range(256)) * 40)
    (final / "tokenizer.json").write_text('{"version": "1.0"}')
    info = {"fingerprint": fp, "stage": "base", "seconds": 825.4, "steps": 1500, "n_rows": 42500, **summary}
    (stage_dir / "summary.json").write_text(json.dumps(info))
    return stage_dir


def test_ship_then_install_copies_every_file_byte_for_byte(tmp_path):
    stage_dir = _built_base(tmp_path / "built", "abc")
    manifest = ship(stage_dir, tmp_path / "shipped", "abc", threads=2)
    assert sorted(manifest["files"]) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert manifest["build"]["seconds"] == 825.4 and manifest["build"]["steps"] == 1500
    assert {"commit", "versions", "cpu_model"} <= set(manifest["build"]["provenance"])
    assert manifest["build"]["provenance"]["threads"] == 2
    assert read_prebuilt(tmp_path / "shipped", "abc") == manifest
    summary = install_prebuilt(tmp_path / "shipped", manifest, tmp_path / "cache")
    assert summary["model_path"] == str(tmp_path / "cache" / "final")
    assert summary["prebuilt"] == manifest["build"] and summary["prebuilt_from"] == str(tmp_path / "shipped")
    for name in manifest["files"]:
        assert (tmp_path / "cache" / "final" / name).read_bytes() == (stage_dir / "final" / name).read_bytes()


def test_another_fingerprint_a_damaged_or_missing_file_or_no_folder_is_not_used(tmp_path):
    ship(_built_base(tmp_path / "built", "abc"), tmp_path / "shipped", "abc", threads=1)
    assert read_prebuilt(tmp_path / "shipped", "other") is None
    assert read_prebuilt(tmp_path / "nowhere", "abc") is None
    assert read_prebuilt(None, "abc") is None
    (tmp_path / "shipped" / "model.safetensors").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    assert read_prebuilt(tmp_path / "shipped", "abc") is None  # e.g. a Git LFS pointer instead of the weights
    (tmp_path / "shipped" / "model.safetensors").unlink()
    assert read_prebuilt(tmp_path / "shipped", "abc") is None


def test_ship_refuses_a_copied_base_or_another_fingerprint(tmp_path):
    copied = _built_base(tmp_path / "copied", "abc", prebuilt_from="data/toy_base")
    with pytest.raises(RuntimeError, match="does not hold a base pretrained for abc"):
        ship(copied, tmp_path / "shipped", "abc", threads=1)
    with pytest.raises(RuntimeError, match="does not hold a base pretrained for xyz"):
        ship(_built_base(tmp_path / "built", "abc"), tmp_path / "shipped", "xyz", threads=1)


def test_the_base_stage_copies_the_prebuilt_base_of_its_config_and_pretrains_any_other(tmp_path, monkeypatch):
    def pretrain(*_: object) -> None:
        raise Pretrained

    monkeypatch.setattr(stages, "load_split", pretrain)  # the first thing pretraining does
    shipped = tmp_path / "shipped"
    cfg = compose([f"output_root={tmp_path / 'out'}", f"model.prebuilt={shipped}"])
    fp = stages.base_fingerprint(cfg)
    stage_dir = _built_base(tmp_path / "built", fp)
    ship(stage_dir, shipped, fp, threads=1)

    path = stages.stage_base(cfg, tmp_path / "data")
    assert path == str(tmp_path / "out" / "shared" / "base" / fp / "final")
    assert (Path(path) / "model.safetensors").read_bytes() == (stage_dir / "final" / "model.safetensors").read_bytes()
    summary = json.loads((Path(path).parent / "summary.json").read_text())
    assert summary["fingerprint"] == fp and summary["prebuilt"]["seconds"] == 825.4
    assert stages.stage_base(cfg, tmp_path / "data") == path  # cached from now on

    other = compose([f"output_root={tmp_path / 'out2'}", f"model.prebuilt={shipped}", "model.pretrain.max_steps=7"])
    with pytest.raises(Pretrained):  # another recipe: another fingerprint, pretrained
        stages.stage_base(other, tmp_path / "data")
    fresh = compose([f"output_root={tmp_path / 'out3'}", f"model.prebuilt={shipped}"])
    with pytest.raises(Pretrained):  # `make base`: never from the copy
        stages.stage_base(fresh, tmp_path / "data", use_prebuilt=False)
    with pytest.raises(Pretrained):  # model.prebuilt=null: always pretrain
        stages.stage_base(compose([f"output_root={tmp_path / 'out4'}", "model.prebuilt=null"]), tmp_path / "data")


def test_where_the_prebuilt_base_lives_is_not_part_of_the_base():
    assert stages.base_fingerprint(compose(["model.prebuilt=null"])) == BASE_FP_DEFAULT
    assert stages.base_fingerprint(compose(["model.prebuilt=/elsewhere"])) == BASE_FP_DEFAULT


def test_the_shipped_base_is_the_default_configs_and_intact():
    """data/toy_base/ holds the base of the default config (the one every README number was measured on), every
    file matching its manifest: `make demo` and the sweeps copy it instead of pretraining. A change to the world, the
    tokenizer, the arch or the pretraining mix fails here until `make base` rebuilds it."""
    cfg = compose([])
    folder = prebuilt_dir(cfg)
    assert folder == prebuilt_base.REPO / "data" / "toy_base"
    manifest = read_prebuilt(folder, stages.base_fingerprint(cfg))
    assert manifest is not None, f"{folder / MANIFEST} is not the default config's base: run `make base`"
    assert manifest["fingerprint"] == BASE_FP_DEFAULT
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"} <= set(manifest["files"])
