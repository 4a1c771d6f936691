"""The Slurm launcher and recipes against a real single-node Slurm cluster on this machine.

A session fixture uses a running one, or starts one with launch/slurm/start_local_slurm.sh (root only: it installs
slurm-wlm, munge and MariaDB with apt-get when missing, writes /etc/slurm, and starts the daemons) and stops it at
the end (KEEP_LOCAL_SLURM=1 keeps it). None running and not root, or no cluster within LOCAL_SLURM_START_TIMEOUT
seconds: every test here is skipped with the reason.
Then: a two-condition sweep through `hydra/launcher=slurm` finishes with both runs' summaries; a run that raises
inside its job and a job that dies before Python starts both reach the user with their own error text; and the
sft_multinode recipe trains for real through sbatch (and a broken one reports its exception).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._presets import TINY_BASE, TINY_SFT
from tests.test_slurm_launcher_conf import cluster_override

ROOT = Path(__file__).resolve().parents[1]
START = ROOT / "launch" / "slurm" / "start_local_slurm.sh"
STOP = ROOT / "launch" / "slurm" / "stop_local_slurm.sh"
START_TIMEOUT = int(os.environ.get("LOCAL_SLURM_START_TIMEOUT", "600"))  # apt-get install included
TINY = [*TINY_BASE, *TINY_SFT]


def _cluster_up() -> bool:
    """A slurmctld answers and partition `debug` is up (a quick port probe first: sinfo retries ~10 s without one)."""
    try:
        socket.create_connection(("127.0.0.1", 6817), timeout=2).close()
    except OSError:
        return False
    try:
        done = subprocess.run(["sinfo", "-h", "-p", "debug", "-o", "%a %T"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.split()[:1] == ["up"] and "down" not in done.stdout


# One cluster per test session: under pytest-xdist (`make test` runs two workers) these tests share one worker, whose
# session fixture starts the cluster and stops it when that worker is done.
pytestmark = pytest.mark.xdist_group("local_slurm")


@pytest.fixture(scope="session")
def local_slurm() -> Iterator[None]:
    """A running local Slurm cluster (partition `debug`), started here unless one already runs."""
    if _cluster_up():
        yield  # already running (started by someone else): use it, leave it running
        return
    if os.geteuid() != 0:
        pytest.skip(
            "no local Slurm running, and starting one needs root (start_local_slurm.sh installs packages "
            "and writes /etc/slurm)"
        )
    started = time.monotonic()
    try:
        done = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        subprocess.run(["bash", str(STOP)], capture_output=True, timeout=120)
        pytest.skip(f"local Slurm did not start within {START_TIMEOUT} s (LOCAL_SLURM_START_TIMEOUT)")
    if done.returncode != 0 or not _cluster_up():
        subprocess.run(["bash", str(STOP)], capture_output=True, timeout=120)
        pytest.skip(f"local Slurm did not start (exit {done.returncode}): {(done.stdout + done.stderr)[-1500:]}")
    print(f"local Slurm started in {time.monotonic() - started:.1f} s")
    yield
    if os.environ.get("KEEP_LOCAL_SLURM") != "1":
        subprocess.run(["bash", str(STOP)], capture_output=True, timeout=180)


def _sweep(tmp_path: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "launch.pipeline",
        "-m",
        "hydra/launcher=slurm",
        cluster_override("local"),
        f"output_root={tmp_path}",
        *overrides,
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_sweep_of_two_conditions_runs_as_slurm_jobs(local_slurm: None, tmp_path: Path) -> None:
    done = _sweep(tmp_path, "condition=answer_only_sft,trace_sft", "seed=0", *TINY)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "Submitit 'slurm' sweep output dir" in done.stdout + done.stderr
    for condition in ("answer_only_sft", "trace_sft"):
        summary = json.loads((tmp_path / "default" / condition / "seed0" / "summary.json").read_text())
        assert summary["condition"] == condition and summary["n_eval"] == 8
        assert 0.0 <= summary["accuracy"] <= 1.0
    sweep = tmp_path / "default" / "multirun"
    # each run was a task of one Slurm array job, sized by conf/cluster/local.yaml's `run` block
    (submission,) = sweep.glob(".submitit/*/*_submission.sh")
    text = submission.read_text()
    assert "#SBATCH --array=0-1%2" in text and "#SBATCH --partition=debug" in text
    assert "#SBATCH --cpus-per-task=1" in text and "#SBATCH --mem=2GB" in text and "#SBATCH --time=20" in text
    assert "gpus" not in text
    if (sweep / "results.json").exists():  # the sweep report callback (conf/config.yaml hydra.callbacks)
        results = json.loads((sweep / "results.json").read_text())
        assert {"answer_only_sft", "trace_sft"} <= set(results["conditions"])


def test_exception_inside_a_job_reaches_the_user(local_slurm: None, tmp_path: Path) -> None:
    # The override composes fine; the pipeline raises inside the Slurm job when it checks the stage list.
    done = _sweep(tmp_path, "condition=answer_only_sft", "condition.stages=[data,no_such_stage]", "seed=0")
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "lists unknown stage 'no_such_stage'" in output, output[-3000:]
    assert "Error executing job with overrides" in output  # Hydra names the failed run
    assert not (tmp_path / "default" / "answer_only_sft" / "seed0" / "summary.json").exists()


def test_job_dying_before_python_reports_its_stderr_and_state(local_slurm: None, tmp_path: Path) -> None:
    # cluster.setup runs in the batch script before srun: a broken environment kills the job outside Python.
    setup = 'cluster.setup=["echo \\"setup-broke-7f3a: module cuda/99 not found\\" >&2","exit 3"]'
    done = _sweep(tmp_path, "condition=answer_only_sft", "seed=0", setup)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "setup-broke-7f3a: module cuda/99 not found" in output, output[-3000:]
    assert "state: FAILED" in output  # accounting (slurmdbd) tells submitit the job failed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _recipe(tmp_path: Path, model: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "launch.slurm_recipes",
        "recipe=sft_multinode",
        "cluster=local",
        f"output_root={tmp_path}",
        f"python={sys.executable}",
        f"recipe.model={model}",
        f"recipe.rdzv_port={_free_port()}",
        "--submit",
        "--wait",
        "--",
        "model=tiny",
        "deepspeed=none",
        "data.n_train=40",
        "data.n_test=4",
        "sft.max_steps=2",
        "sft.save_steps=2",
        "sft.per_device_train_batch_size=4",
        "sft.logging_steps=1",
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_sft_recipe_trains_through_sbatch(local_slurm: None, tiny_model_dir: str, tmp_path: Path) -> None:
    done = _recipe(tmp_path, tiny_model_dir)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert done.stdout.splitlines()[-1].endswith("COMPLETED")
    out = tmp_path / "default" / "sft_multinode"
    summary = json.loads((out / "summary_rank0.json").read_text())
    assert summary["steps"] == 2 and summary["rank"] == 0
    assert (out / "final" / "config.json").exists()
    assert len((out / "rows.jsonl").read_text().splitlines()) > 0  # exported on the node before training


def test_failed_recipe_job_reports_its_exception(local_slurm: None, tmp_path: Path) -> None:
    done = _recipe(tmp_path, str(tmp_path / "no_such_model"))
    assert done.returncode == 2
    assert "ended FAILED" in done.stderr
    assert "ModelNotAvailableError" in done.stderr and str(tmp_path / "no_such_model") in done.stderr


@pytest.mark.slow
def test_pipeline_recipe_runs_two_processes_through_sbatch(local_slurm: None, tmp_path: Path) -> None:
    """The pipeline_multinode recipe on the one-node cluster with 2 Slurm tasks on the node, each a torchrun agent
    (a rendezvous "node") with one process, as a 2-node job runs: `python -m launch.pipeline condition=trace_sft` on
    both; rank 0 builds data/teacher/eval, both ranks pretrain the base and train SFT (GRPO under torchrun:
    tests/test_multiprocess_pipeline.py)."""
    cmd = [
        sys.executable,
        "-m",
        "launch.slurm_recipes",
        "recipe=pipeline_multinode",
        "cluster=local",
        f"output_root={tmp_path}",
        f"python={sys.executable}",
        "recipe.condition=trace_sft",
        "recipe.tasks_per_node=2",
        "recipe.nproc_per_node=1",
        "recipe.pipeline_overrides=[]",
        f"recipe.rdzv_port={_free_port()}",
        "--submit",
        "--wait",
        "--",
        *TINY,
        "model.pretrain.per_device_train_batch_size=4",
        "eval.max_new_tokens=16",
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert done.stdout.splitlines()[-1].endswith("COMPLETED")
    (log,) = (tmp_path / "default" / "slurm" / "logs").glob("pipeline_multinode-*.out")
    text = log.read_text()
    assert "rank 0 of 2" in text and "rank 1 of 2" in text, text[-3000:]
    script = (tmp_path / "default" / "slurm" / "pipeline_multinode.sbatch").read_text()
    assert "#SBATCH --ntasks-per-node=2" in script and "#SBATCH --cpus-per-task=1" in script
    run = json.loads((tmp_path / "default" / "trace_sft" / "seed0" / "summary.json").read_text())
    assert run["n_eval"] == 8 and run["sft_steps"] == 2
    (sft,) = [json.loads(p.read_text()) for p in (tmp_path / "shared" / "sft").glob("*/summary.json")]
    assert sft["world_size"] == 2 and run["model_path"] == sft["model_path"]
    assert (Path(sft["model_path"]) / "model.safetensors").exists()
