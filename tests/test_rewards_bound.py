"""The per-call time bound holds with both cores busy, on hostile inputs, and right after a worker is killed.

A correctness property (issue 19): in GRPO a slow call stalls a whole batch.  Timed against the configured bound
plus generous slack for a shared CI machine; the measured slowest call is reported by ``bench/rewards.py``
(entry ``bound``), never asserted tightly here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from rewards import verify_answer_detailed, verify_detailed
from rewards.symbolic import get_pool
from rewards.trl_rewards import make_correctness_reward
from tests.test_rewards_hostile import _hostile_cases

BOUND_S = 0.5
SLACK_S = 1.0  # generous: the project's target is bound + a small constant (bench: under 1 s in all)
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "verifier_public_cases.jsonl"


@contextmanager
def busy_cores(n: int = 2):
    """``n`` busy-loop processes (started and stopped here, by pid)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.2)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def test_bound_holds_under_load_with_hostile_inputs_and_after_kills(tmp_path):
    make_correctness_reward(timeout_s=BOUND_S)  # building the reward starts and warms the pool
    pool = get_pool()
    assert len(pool._all) == pool.n_workers + pool.spares
    cases = [json.loads(line) for line in FIXTURE.open(encoding="utf-8")][::4]
    jobs = [(c["prediction"], c["gold"]) for c in cases]
    jobs += [(completion, gold) for _, completion, gold in _hostile_cases(str(tmp_path / "pwned"))]
    cache_size, pool._cache_size = pool._cache_size, 0  # every symbolic comparison really runs
    times = []
    try:
        with busy_cores(2):
            for pred, gold in jobs:
                res, dt = _timed(verify_detailed, pred, gold, timeout_s=BOUND_S)
                assert res.reason in ("correct", "wrong", "no_answer", "bad_gold", "timeout")
                times.append((dt, pred[:60]))
            # a worker killed from outside while idle: the next call takes a warm one instead
            os.kill(pool._idle.queue[-1].proc.pid, signal.SIGKILL)
            res, dt = _timed(verify_answer_detailed, "\\sqrt{16}", "4", timeout_s=BOUND_S)
            times.append((dt, "after SIGKILL"))
            assert res.correct or res.reason == "timeout", res  # served (a timeout only on an overloaded machine)
            # a worker that stops answering: killed at the deadline, and the call after it is served at once
            os.kill(pool._idle.queue[-1].proc.pid, signal.SIGSTOP)
            res, dt = _timed(verify_answer_detailed, "\\sqrt{25}", "5", timeout_s=BOUND_S)
            times.append((dt, "stuck worker"))
            assert res.reason == "timeout"
            res, dt = _timed(verify_answer_detailed, "\\sqrt{36}", "6", timeout_s=BOUND_S)
            times.append((dt, "after a kill"))
            assert res.correct or res.reason == "timeout", res
    finally:
        pool._cache_size = cache_size
    slow = [(round(dt, 3), what) for dt, what in times if dt > BOUND_S + SLACK_S]
    assert not slow, slow
    assert not os.path.exists(tmp_path / "pwned")
