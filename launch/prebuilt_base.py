"""The toy base shipped in the repository (`data/toy_base/`), used as a hub checkpoint is used: downloaded, not
trained.

A real study starts from a pretrained base; pretraining is not one of its conditions. The embedded default's base
takes ~13.5 minutes to pretrain on 2 cores, more than half of `make demo`, so the repository ships the built copy
(4 MB): `model.prebuilt` names the folder that holds its `final/` files (weights, config, tokenizer) and a
`manifest.json` (the base fingerprint it was built for, each file's sha256, how long it took and where).

The base stage copies it into its cache folder instead of pretraining when the manifest's fingerprint equals the
config's (launch/stages.py `base_fingerprint`: the world, the corpus mix, the recipe and the architecture) and every
file's checksum holds. Any other config pretrains as always, so every knob of `model.pretrain` still works;
`model.prebuilt=null` always pretrains. `python -m launch.prebuilt_base` (`make base`) pretrains the configured base
from scratch in its own output root and writes it into `model.prebuilt`: two builds on one machine were
byte-identical (README, "The toy base").
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from data.atomic_io import file_sha256
from launch.provenance import REPO, provenance

log = logging.getLogger("launch.prebuilt_base")
MANIFEST = "manifest.json"
# The build summary's keys a manifest keeps (launch/stages.py stage_base via sft/train.py train_sft).
BUILD_KEYS = ("seconds", "train_seconds", "steps", "n_rows", "final_loss", "train_loss", "num_tokens", "world_size")


def prebuilt_dir(cfg: DictConfig) -> Path | None:
    """`model.prebuilt` as a path (relative: to the repository root), or None when unset."""
    folder = cfg.model.get("prebuilt")
    if not folder:
        return None
    path = Path(str(folder)).expanduser()
    return path if path.is_absolute() else REPO / path


def read_prebuilt(folder: Path | None, fp: str) -> dict[str, Any] | None:
    """The manifest of the base in `folder` when it was built for fingerprint `fp` and every file is intact; None
    (with the reason logged) otherwise, and the caller pretrains."""
    if folder is None:
        return None
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        log.info("base: no prebuilt base in %s; pretraining", folder)
        return None
    if manifest.get("fingerprint") != fp:
        log.info(
            "base: the prebuilt base in %s is %s, this config's is %s; pretraining",
            folder,
            manifest.get("fingerprint"),
            fp,
        )
        return None
    for name, sha in manifest["files"].items():
        path = folder / name
        if not path.is_file() or file_sha256(path) != sha:  # e.g. a Git LFS pointer, or an edited file
            log.warning("base: %s does not match its sha256 in %s; pretraining instead", path, folder / MANIFEST)
            return None
    return manifest


def install_prebuilt(folder: Path, manifest: dict[str, Any], out: Path) -> dict[str, Any]:
    """Copy the prebuilt base's files into `out/final` and return the base stage's summary (the build's own numbers
    under `prebuilt`)."""
    final = out / "final"
    final.mkdir(parents=True, exist_ok=True)
    for name in manifest["files"]:
        shutil.copyfile(folder / name, final / name)
    log.info(
        "base: copied the prebuilt base %s from %s (built in %.0f s)",
        manifest["fingerprint"],
        folder,
        manifest["build"]["seconds"],
    )
    return {"model_path": str(final), "prebuilt_from": str(folder), "prebuilt": manifest["build"]}


def ship(stage_dir: Path, folder: Path, fp: str, threads: int) -> dict[str, Any]:
    """Write the base built in `stage_dir` (its `final/` and `summary.json`) into `folder` with its manifest (the
    build's numbers, and the commit, package versions, CPU and `threads` it was built with)."""
    summary = json.loads((stage_dir / "summary.json").read_text())
    if summary.get("fingerprint") != fp or summary.get("prebuilt_from"):
        raise RuntimeError(f"{stage_dir} does not hold a base pretrained for {fp}: {summary}")
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for path in sorted((stage_dir / "final").iterdir()):
        shutil.copyfile(path, folder / path.name)
        files[path.name] = file_sha256(path)
    build = {k: summary[k] for k in BUILD_KEYS if k in summary}
    build["provenance"] = provenance(threads)
    manifest = {"fingerprint": fp, "files": files, "build": build}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Pretrain the configured toy base from scratch under `output_root` (never copying a prebuilt one) and write it
    into `model.prebuilt`."""
    from launch import stages

    logging.getLogger().setLevel(logging.INFO)
    folder = prebuilt_dir(cfg)
    if folder is None or cfg.model.name_or_path:
        raise SystemExit("error: model.prebuilt must name a folder, for a toy base (model.name_or_path: null)")
    data_dir = stages.stage_data(cfg)
    stages.stage_base(cfg, data_dir, use_prebuilt=False)
    fp = stages.base_fingerprint(cfg)
    manifest = ship(stages.shared_dir(cfg, "base", fp), folder, fp, int(cfg.model.pretrain.threads))
    print(f"base {fp}: pretrained in {manifest['build']['seconds']:.0f} s, written to {folder}")


if __name__ == "__main__":
    main()
