"""`logger=wandb` runs offline without a key, grouped by run name and tagged by condition and seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wandb_logger_runs_offline_into_the_run_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    cmd = [
        sys.executable,
        "-m",
        "launch.pipeline",
        f"output_root={tmp_path}",
        "run_name=wb",
        "logger=wandb",
        "condition=answer_only_sft",
        "data.n_train=200",
        "data.n_test=10",
        "model.tokenizer.corpus_problems=50",
        "model.pretrain.n_facts=800",
        "model.pretrain.n_statements=50",
        "model.pretrain.max_steps=4",
        "sft.max_steps=4",
        "sft.logging_steps=2",
        "sft.save_steps=100",
        "eval.batch_size=10",
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list((tmp_path / "wb" / "answer_only_sft" / "seed0" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
    metadata = runs[0] / "files" / "wandb-metadata.json"
    debug = (tmp_path / "wb" / "answer_only_sft" / "seed0" / "wandb" / "debug.log").read_text()
    assert "answer_only_sft" in debug or (metadata.exists() and "answer_only_sft" in metadata.read_text())
