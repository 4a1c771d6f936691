"""Kill and resume: a GRPO subprocess is SIGKILLed mid-run (past its first checkpoint), re-run, and finishes at the
same step count with the same data order (and, since RNG states are restored, the same rewards) as an
uninterrupted run."""

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
SCRIPT = r'''
import json, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from transformers import TrainerCallback
from rl.train import train_grpo
from tests.test_rl_train import SPEC, grpo_rows, rl_cfg

model_dir, out_dir, stall_at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])

class Stall(TrainerCallback):
    """Signal the parent once `stall_at` steps are done, then wait to be killed."""
    def on_step_end(self, args, state, control, **kwargs):
        if stall_at and state.global_step >= stall_at:
            (out_dir / "stalled").write_text(str(state.global_step))
            time.sleep(600)

cfg = rl_cfg("grpo", "rl.max_steps=6", "rl.save_steps=2", "rl.max_completion_length=12")
summary = train_grpo(model_dir, grpo_rows(24), out_dir, cfg, SPEC, seed=3, use_cpu=True, callbacks=[Stall()])
(out_dir / "summary.json").write_text(json.dumps(summary, default=str))
'''


def _start(script: Path, model_dir: str, out: Path, stall_at: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), model_dir, str(out), str(stall_at)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]


@pytest.mark.slow
def test_killed_grpo_run_resumes_at_the_same_step_with_the_same_data(tiny_model_dir, tmp_path):
    from rl.signals import read_rollout_order

    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    killed.mkdir()
    ref_proc = _start(script, tiny_model_dir, reference, 0)
    proc = _start(script, tiny_model_dir, killed, 3)  # stalls after step 3: checkpoint-2 saved, step 3 done
    deadline = time.monotonic() + 600
    while not (killed / "stalled").exists():
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "final").exists() and (killed / "checkpoints" / "checkpoint-2" / "trainer_state.json").exists()
    before = read_rollout_order(killed / "rollouts.jsonl", "correctness_reward")
    assert sorted(before) == [0, 1, 2]  # the killed run had generated step 3's batch beyond its checkpoint

    _finish(_start(script, tiny_model_dir, killed, 0))  # resume
    _finish(ref_proc)
    resumed = json.loads((killed / "summary.json").read_text())
    ref = json.loads((reference / "summary.json").read_text())
    assert resumed["steps"] == ref["steps"] == 6
    assert resumed["resumed_from"].endswith("checkpoint-2") and ref["resumed_from"] is None
    order = read_rollout_order(killed / "rollouts.jsonl", "correctness_reward")
    ref_order = read_rollout_order(reference / "rollouts.jsonl", "correctness_reward")
    assert sorted(order) == sorted(ref_order) == list(range(6))
    assert order == ref_order  # same prompts in the same order at every step, across the kill
    assert len({tuple(ids) for ids in order.values()}) == 6  # and the order moves on (no batch repeated)
    rewards = {}
    for path in (killed, reference):
        records = [json.loads(line) for line in (path / "rollouts.jsonl").read_text().splitlines() if line.strip()]
        rewards[path.name] = {r["step"]: r["rewards"] for r in records if r["func"] == "format_reward"}
    assert rewards["killed"] == rewards["reference"]  # RNG restored: the same samples after the resume
