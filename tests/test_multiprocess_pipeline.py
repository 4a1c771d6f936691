"""`python -m launch.pipeline` under torchrun with two CPU processes (gloo), for real: trace SFT, then GRPO.

`torchrun --standalone --nproc_per_node 2 -m launch.pipeline condition=sft_grpo ...` (the README's command) runs
data -> base (toy pretraining on both ranks) -> teacher (rank 0) -> sft (both) -> rl (both) -> eval (rank 0). Rank 1
is SIGKILLed once SFT has written its first checkpoint (torchrun then stops rank 0) and the command re-run; that run
is killed the same way once GRPO has written its first checkpoint, and the third run finishes. Each trainer must
resume from its last checkpoint (no step trained twice, no folder moved aside), stages finished before a kill are not
built again, and every stage ends with one folder, one checkpoint series, one final model and one summary, written
by rank 0. Both ranks trained (rank 1's RNG state is in the last checkpoint; GRPO: rank 1 logged its own rollouts).
One test, one pipeline: the three runs cost one full run plus two process start-ups (~15 s each).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300
STEPS = 8  # per trainer; checkpoints every 2: a kill after checkpoint-2 leaves 6 steps to resume
OVERRIDES = [
    "condition=sft_grpo",
    "data.n_train=60",
    "data.n_test=4",
    "model.tokenizer.corpus_problems=60",
    "model.pretrain.n_facts=800",
    "model.pretrain.n_statements=40",
    "model.pretrain.max_steps=2",
    "model.pretrain.per_device_train_batch_size=4",
    "model.pretrain.save_steps=1000",
    f"sft.max_steps={STEPS}",
    "sft.save_steps=2",
    "sft.save_total_limit=null",
    "sft.per_device_train_batch_size=8",
    "sft.logging_steps=1",
    f"rl.max_steps={STEPS}",
    "rl.save_steps=2",
    "rl.save_total_limit=null",
    "rl.num_generations=2",
    "rl.per_device_train_batch_size=4",
    "rl.max_completion_length=24",
    "rl.logging_steps=1",
    "eval.batch_size=4",
    "eval.max_new_tokens=16",
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "WANDB_"))}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    env.update(
        CUDA_VISIBLE_DEVICES="",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def _command(out: Path) -> list[str]:
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return [*torchrun, "-m", "launch.pipeline", f"output_root={out}", *OVERRIDES]


def _rank_pid(parent: int, rank: int) -> int | None:
    """The pid of torchrun worker `rank` (a child of `parent` with RANK=<rank> in its environment)."""
    import psutil

    for child in psutil.Process(parent).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "launch.pipeline" in " ".join(child.cmdline()):
                return child.pid
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def _run_and_kill_rank1(cmd: list[str], out: Path, stage: str, log: Path) -> Path:
    """Start `cmd`; once `stage` has a complete checkpoint-2, SIGKILL rank 1 and wait for torchrun to fail; return
    the stage folder."""
    with log.open("w") as handle:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=handle, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT_S
        checkpoint = None
        while checkpoint is None:
            assert proc.poll() is None, f"the run ended before {stage}'s checkpoint-2:\n{_tail(log)}"
            assert time.monotonic() < deadline, f"no {stage} checkpoint within {TIMEOUT_S} s:\n{_tail(log)}"
            checkpoint = next(
                iter((out / "shared" / stage).glob("*/checkpoints/checkpoint-2/trainer_state.json")), None
            )
            time.sleep(0.1)
        victim = _rank_pid(proc.pid, 1)
        assert victim is not None, "rank 1 not found among torchrun's workers"
        os.kill(victim, signal.SIGKILL)
        proc.wait(timeout=120)
    assert proc.returncode != 0, "torchrun must fail when a rank is killed"
    stage_dir = checkpoint.parents[2]
    assert not (stage_dir / "summary.json").exists(), f"{stage} killed mid-training must not look complete"
    return stage_dir


def _summaries(out: Path, stage: str) -> list[Path]:
    return sorted((out / "shared" / stage).glob("*/summary.json"))


def _check_resumed(stage_dir: Path, stage: str) -> dict:
    (summary_path,) = [p for p in _summaries(stage_dir.parents[2], stage)]  # one stage folder, one summary
    assert summary_path.parent == stage_dir
    summary = json.loads(summary_path.read_text())
    assert summary["steps"] == STEPS and summary["world_size"] == 2
    resumed = summary["resumed_from"]
    assert resumed is not None and Path(resumed).parent == stage_dir / "checkpoints", resumed
    assert int(Path(resumed).name.split("-")[1]) >= 2  # from the last checkpoint, not from step 0
    checkpoints = sorted(int(p.name.split("-")[1]) for p in (stage_dir / "checkpoints").glob("checkpoint-*"))
    assert checkpoints == list(range(2, STEPS + 1, 2))  # one series: each step saved once
    # rank 1 trained too (its RNG state is saved with each checkpoint; the one it was killed at may lack it)
    assert (stage_dir / "checkpoints" / f"checkpoint-{STEPS}" / "rng_state_1.pth").exists()
    assert (stage_dir / "final" / "model.safetensors").exists() and summary["model_path"] == str(stage_dir / "final")
    assert not list(stage_dir.parent.glob("*.stale-*"))  # resumed in place, not moved aside
    return summary


@pytest.mark.slow
def test_two_process_sft_and_grpo_survive_a_killed_rank_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = _command(out)
    sft_dir = _run_and_kill_rank1(cmd, out, "sft", tmp_path / "run1.log")
    built = {p: p.stat().st_mtime_ns for s in ("data", "base", "traces") for p in _summaries(out, s)}
    assert len(built) == 3  # data, base and teacher traces finished before the kill

    rl_dir = _run_and_kill_rank1(cmd, out, "rl", tmp_path / "run2.log")
    sft = _check_resumed(sft_dir, "sft")  # the second run resumed SFT and finished it
    built[sft_dir / "summary.json"] = (sft_dir / "summary.json").stat().st_mtime_ns
    assert not (out / "default" / "sft_grpo" / "seed0" / "summary.json").exists()

    again = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert again.returncode == 0, (again.stdout + again.stderr)[-5000:]
    assert {p: p.stat().st_mtime_ns for p in built} == built  # finished stages read back, never built again
    rl = _check_resumed(rl_dir, "rl")
    assert rl["start_path"] == sft["model_path"]
    assert (rl_dir / "rollouts.jsonl").exists() and (rl_dir / "rollouts.rank1.jsonl").exists()  # each rank its own

    run = json.loads((out / "default" / "sft_grpo" / "seed0" / "summary.json").read_text())
    assert run["model_path"] == rl["model_path"] and run["sft_steps"] == run["rl_steps"] == STEPS
    assert run["n_eval"] == 4
    assert len(list((out / "default").rglob("summary.json"))) == 2  # the run's and its eval's, once each


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-5000:]


def test_which_stages_run_on_every_rank() -> None:
    """Training stages run on every rank (the trainer is distributed); the rest on rank 0 while the others wait."""
    from launch.conditions import STAGES

    assert {s.name for s in STAGES.values() if s.distributed} == {
        "base",
        "sft",
        "kd",
        "rl",
        "rl_budget",
        "sft_more",
        "redistill_sft",
    }


def test_a_waiting_rank_reads_and_never_builds(tmp_path: Path) -> None:
    from launch.stage_state import run_stage, stage_mode, write_summary

    def build(out: Path) -> dict:
        raise AssertionError("a rank in read mode must not build")

    with stage_mode("read"), pytest.raises(RuntimeError, match="is not complete for fp1 after the main rank"):
        run_stage("data", tmp_path / "data", "fp1", build)
    write_summary(tmp_path / "data", "fp1", {"stage": "data", "n": 3})
    with stage_mode("read"):
        assert run_stage("data", tmp_path / "data", "fp1", build)["n"] == 3
    assert not (tmp_path / "data.lock").exists()  # reading takes no lock
    with pytest.raises(ValueError, match="unknown stage mode 'both'"), stage_mode("both"):
        pass


def test_only_rank0_starts_the_wandb_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import launch.wandb_run
    from launch import pipeline, stages
    from launch.config_check import compose

    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rank other than 0 started a W&B run")

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(launch.wandb_run, "start_run", no_run)
    monkeypatch.setattr(stages, "report_to", lambda cfg: "wandb")  # no WANDB_* left behind in this process
    monkeypatch.setattr(pipeline, "run_condition", lambda cfg: {"rank": 1})
    assert pipeline.run_with_logger(compose(["logger=wandb", f"output_root={tmp_path}"])) == {"rank": 1}
