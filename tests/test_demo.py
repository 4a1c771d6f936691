"""The README's main job (`python -m launch.demo`) end to end on a small budget, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "data.n_train=300",
    "data.n_test=16",
    "model.tokenizer.corpus_problems=100",
    "model.pretrain.n_facts=4000",
    "model.pretrain.n_statements=100",
    "model.pretrain.max_steps=10",
    "model.pretrain.save_steps=1000",
    "sft.max_steps=6",
    "sft.save_steps=3",
    "sft.logging_steps=4",
    "eval.batch_size=16",
    "eval.max_new_tokens=32",  # a barely trained model rarely stops: a short budget keeps each eval to seconds
    "rl.max_steps=2",
    "rl.save_steps=2",
    "rl.num_generations=2",
    "rl.per_device_train_batch_size=4",
    "rl.max_completion_length=16",
    "rl.logging_steps=1",
    "rl.learning_probe.n_prompts=4",  # the probe's 64 x 8 samples before and after are for real runs
    "rl.learning_probe.n_samples=2",
    # redistill is left out: 6 SFT steps make a policy that solves no training problem, which redistill refuses
    "demo.conditions=[base,answer_only_sft,trace_sft,grpo,sft_grpo]",
]


@pytest.mark.slow
def test_demo_small_budget(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "launch.demo", f"output_root={tmp_path}", *SMALL]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert set(results["conditions"]) == {"base", "answer_only_sft", "trace_sft", "grpo", "sft_grpo"}
    for name, row in results["conditions"].items():
        assert row["n_eval"] == 16, name
        assert 0.0 <= row["accuracy"] <= 1.0
        assert (row["train_seconds"] or 0) > 0 or name == "base", name  # base: evaluated, never trained
    assert results["conditions"]["base"]["sft_steps"] is None and results["conditions"]["base"]["rl_steps"] is None
    assert "Held-out accuracy" in done.stdout
    # Quiet terminal: a started and a finished line per condition, the processes' logs in their run folders.
    for name in results["conditions"]:
        assert f"{name}: started" in done.stdout and f"{name}: finished in" in done.stdout, name
        assert "launch.pipeline" in (tmp_path / "demo" / name / "seed0" / "pipeline.log").read_text()
    assert len((done.stdout + done.stderr).splitlines()) < 60, done.stdout + done.stderr
    assert "pretraining the tiny model" in (tmp_path / "demo" / "shared_stages.log").read_text()
    assert (tmp_path / "demo" / "results.png").stat().st_size > 1000
    assert results["conditions"]["sft_grpo"]["rl_steps"] == 2 and results["conditions"]["trace_sft"]["rl_steps"] is None
    assert (
        results["conditions"]["sft_grpo"]["rl_learning"] in ("improving", "flat", "declining")  # the probe's verdict
        and results["conditions"]["trace_sft"]["rl_learning"] is None
    )
    # The shared stages were built once: one data, one base and one traces folder, one trace-SFT run.
    sft_dirs = [p for p in (tmp_path / "shared" / "sft").iterdir() if p.is_dir()]
    assert len(sft_dirs) == 2, sft_dirs  # answer-only and trace (sft_grpo reuses trace_sft's)
    for stage in ("data", "base", "traces"):
        built = [p for p in (tmp_path / "shared" / stage).iterdir() if p.is_dir()]
        assert len(built) == 1, (stage, built)
    # Re-running resumes: every stage is complete, nothing is trained again.
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((tmp_path / "demo" / "results.json").read_text())["conditions"] == results["conditions"]
    assert (tmp_path / "demo" / "shared_stages.log").read_text().count("pretraining the tiny model") == 1


def test_demo_rejects_unknown_condition(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "launch.demo", f"output_root={tmp_path}", "demo.conditions=[trace_sft,nope]"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "demo.conditions[1]='nope': must be one of" in done.stderr and "trace_sft" in done.stderr
    assert not (tmp_path / "shared").exists()


def test_conditions_off_the_critical_path_run_niced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """demo.critical_path runs at the demo's priority, every other condition at demo.nice (the child lowers its own
    priority before exec: what it computes is unchanged)."""
    import os

    from launch.demo import _pipeline

    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho niceness=$(nice)\n")  # `nice` without a command prints the niceness
    fake_python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake_python))
    own = os.nice(0)
    for nice in (0, 7):
        log = tmp_path / f"n{nice}.log"
        assert _pipeline(["condition=grpo"], dict(os.environ), log, nice=nice).wait(timeout=60) == 0
        assert f"niceness={min(own + nice, 19)}" in log.read_text()
