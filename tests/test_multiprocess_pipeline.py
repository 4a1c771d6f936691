"""`python -m launch.pipeline` under torchrun with two CPU processes (gloo), for real: trace SFT and GRPO.

Each test starts `torchrun --standalone --nproc_per_node 2 -m launch.pipeline condition=<c> ...` (the command of the
README), SIGKILLs rank 1 once the training stage has written its first checkpoint (torchrun then stops rank 0), and
re-runs the same command. The re-run must finish with one stage folder, one checkpoint series, one final model and
one summary per stage, written by rank 0; the shared stages built before the kill (data, base, teacher) are not
built again, and training resumes from the last checkpoint instead of starting over. Both ranks trained (rank 1's
RNG state is in the checkpoint; GRPO: rank 1 logged its own rollouts).
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
STEPS = 10
TINY = [
    "data.n_train=60",
    "data.n_test=8",
    "model.tokenizer.corpus_problems=60",
    "model.pretrain.n_facts=800",
    "model.pretrain.n_statements=40",
    "model.pretrain.max_steps=2",
    "model.pretrain.per_device_train_batch_size=4",
    "model.pretrain.save_steps=1000",
    "eval.batch_size=8",
    "eval.max_new_tokens=16",
]
TRAINING = {
    "trace_sft": (
        "sft",
        [
            f"sft.max_steps={STEPS}",
            "sft.save_steps=2",
            "sft.save_total_limit=null",
            "sft.per_device_train_batch_size=8",
            "sft.logging_steps=1",
        ],
    ),
    "grpo": (
        "rl",
        [
            f"rl.max_steps={STEPS}",
            "rl.save_steps=2",
            "rl.save_total_limit=null",
            "rl.num_generations=2",
            "rl.per_device_train_batch_size=4",
            "rl.max_completion_length=24",
            "rl.logging_steps=1",
        ],
    ),
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "WANDB_"))}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    env.update(
        CUDA_VISIBLE_DEVICES="",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def _command(condition: str, out: Path) -> list[str]:
    stage, overrides = TRAINING[condition]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "launch.pipeline",
        f"condition={condition}",
        f"output_root={out}",
        *TINY,
        *overrides,
    ]


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


def _summaries(out: Path, stage: str) -> list[Path]:
    return sorted((out / "shared" / stage).glob("*/summary.json"))


@pytest.mark.slow
@pytest.mark.parametrize("condition", ["trace_sft", "grpo"])
def test_two_process_pipeline_killed_rank_then_rerun_resumes(condition: str, tmp_path: Path) -> None:
    stage, _ = TRAINING[condition]
    out = tmp_path / "out"
    cmd = _command(condition, out)
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + TIMEOUT_S
    checkpoint = None
    while checkpoint is None:
        assert first.poll() is None, f"the first run ended before its checkpoint:\n{_tail(tmp_path / 'first.log')}"
        assert time.monotonic() < deadline, f"no checkpoint within {TIMEOUT_S} s:\n{_tail(tmp_path / 'first.log')}"
        checkpoint = next(iter((out / "shared" / stage).glob("*/checkpoints/checkpoint-2/trainer_state.json")), None)
        time.sleep(0.1)
    victim = _rank_pid(first.pid, 1)
    assert victim is not None, "rank 1 not found among torchrun's workers"
    os.kill(victim, signal.SIGKILL)
    first.wait(timeout=120)
    log.close()
    assert first.returncode != 0, "torchrun must fail when a rank is killed"
    stage_dir = checkpoint.parents[2]
    assert not (stage_dir / "summary.json").exists(), "killed mid-training: the stage must not look complete"
    assert not (out / "default" / condition / "seed0" / "summary.json").exists()
    built = {p: p.stat().st_mtime_ns for s in ("data", "base", "traces") for p in _summaries(out, s)}
    assert len(built) == (3 if condition == "trace_sft" else 2)  # data, base (+ teacher traces) finished before

    again = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert again.returncode == 0, (again.stdout + again.stderr)[-5000:]

    assert {p: p.stat().st_mtime_ns for p in built} == built  # shared stages read back, not built again
    (summary_path,) = _summaries(out, stage)  # one stage folder, one summary
    assert summary_path.parent == stage_dir
    summary = json.loads(summary_path.read_text())
    assert summary["steps"] == STEPS and summary["world_size"] == 2
    resumed = summary["resumed_from"]
    assert resumed is not None and Path(resumed).parent == stage_dir / "checkpoints", resumed
    assert int(Path(resumed).name.split("-")[1]) >= 2  # resumed from the last checkpoint, not from step 0
    checkpoints = sorted(int(p.name.split("-")[1]) for p in (stage_dir / "checkpoints").glob("checkpoint-*"))
    assert checkpoints == list(range(2, STEPS + 1, 2))  # one series: each step saved once
    assert (stage_dir / "checkpoints" / f"checkpoint-{STEPS}" / "rng_state_1.pth").exists()  # rank 1 trained too
    assert (stage_dir / "final" / "model.safetensors").exists() and summary["model_path"] == str(stage_dir / "final")
    assert not list(stage_dir.parent.glob("*.stale-*"))  # the folder was resumed, not moved aside

    run = json.loads((out / "default" / condition / "seed0" / "summary.json").read_text())
    assert run["model_path"] == summary["model_path"] and run["n_eval"] == 8
    assert len(list((out / "default").rglob("summary.json"))) == 2  # the run's and its eval's, once each
    if condition == "grpo":
        assert (stage_dir / "rollouts.jsonl").exists() and (stage_dir / "rollouts.rank1.jsonl").exists()
        assert run["rl_steps"] == STEPS
    else:
        assert run["sft_steps"] == STEPS


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-5000:]
