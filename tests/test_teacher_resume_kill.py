"""kill -9 of a real `python -m launch.pipeline` while the teacher stage writes traces, then a re-run: the trace
file ends up with exactly the full set of record ids, none lost, none twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
N_TRAIN, N_PATHS = 30, 2


def _pipeline(out: Path, model: str, log_path: Path) -> subprocess.Popen:
    args = [
        "condition=trace_sft",
        "only_stages=[data,teacher]",
        f"output_root={out}",
        f"data.n_train={N_TRAIN}",
        "data.n_test=2",
        f"model.name_or_path={model}",
        "teacher=hf",
        f"teacher.name_or_path={model}",
        f"teacher.n_paths={N_PATHS}",
        "teacher.batch_size=1",
        "teacher.max_new_tokens=48",
        "teacher.temperature=1.0",
        "teacher.dtype=float32",
        "threads=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "launch.pipeline", *args],
        cwd=REPO,
        env=env,
        stdout=open(log_path, "ab"),
        stderr=subprocess.STDOUT,
    )


def _lines(out: Path) -> int:
    files = list((out / "shared" / "traces").glob("*/traces.jsonl"))
    return files[0].read_bytes().count(b"\n") if files else 0


@pytest.mark.slow
def test_kill_9_mid_teacher_then_resume_gives_every_trace_exactly_once(tiny_model_dir, tmp_path):
    out, log_path = tmp_path / "outputs", tmp_path / "pipeline.log"
    proc = _pipeline(out, tiny_model_dir, log_path)
    deadline = time.monotonic() + 240
    while _lines(out) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, f"the run ended before it could be killed:\n{log_path.read_text()[-3000:]}"
    killed_at = _lines(out)
    assert 5 <= killed_at < N_TRAIN * N_PATHS, killed_at

    resumed = _pipeline(out, tiny_model_dir, log_path)
    assert resumed.wait(timeout=300) == 0, log_path.read_text()[-3000:]
    (trace_file,) = (out / "shared" / "traces").glob("*/traces.jsonl")
    raw = trace_file.read_text()
    assert raw.endswith("\n")
    ids = [json.loads(line)["id"] for line in raw.splitlines()]
    problems = [
        json.loads(line)["id"]
        for line in (next((out / "shared" / "data").glob("*/train.jsonl"))).read_text().splitlines()
    ]
    assert len(ids) == len(set(ids)), "a record was written twice"
    assert set(ids) == {f"{p}/hf/{k}" for p in problems for k in range(N_PATHS)}, "a record was lost"
    summary = json.loads((trace_file.parent / "summary.json").read_text())
    assert summary["n_traces"] == N_TRAIN * N_PATHS
