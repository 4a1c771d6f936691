"""Symbolic equivalence through math-verify, under a hard wall-clock bound.

Why by hand: math-verify bounds its work with ``signal.alarm`` -- main thread only
(it raises in TRL/async/thread-pool callers), whole seconds, and unable to
interrupt C-level sympy work.  This module keeps a small pool of warm child
processes (``python -m rewards._mv_worker``, started with ``subprocess`` so it works
from any thread, from daemonic processes, and never re-imports the caller's
``__main__``).  A call sends ``(gold, pred)`` to an idle worker and waits on the
pipe with ``select`` until its deadline; a worker that misses the deadline is
SIGKILLed and replaced in the background, and the call returns ``"timeout"``.

Layers of protection: the worker stops itself with a sub-second ``setitimer``
(keeps the process warm); the parent kills it at the deadline; the worker has an
address-space limit (``REWARDS_WORKER_MEM_GIB``, default 4).

Workers report ready only once their LaTeX parser is warm, and the pool keeps
``spares`` warm workers beyond ``n_workers`` (default 1), so neither the first checks
after start nor the call right after a kill wait for a cold process: a replacement
starts in a background thread, off every caller's time.  Building a reward function
(:func:`rewards.trl_rewards.make_correctness_reward`) or calling :func:`warmup` starts
the pool; a process that does neither pays the start (1-3 s) once, on its first
symbolic check, which is the one call not held to the bound.  If no child
process can be started, a daemon thread runs math-verify in-process with a join
timeout (the call still returns in time unless C code holds the GIL).
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path

__all__ = ["SymbolicPool", "get_pool", "symbolic_check", "warmup", "shutdown"]

DEFAULT_WORKERS = int(os.environ.get("REWARDS_SYMBOLIC_WORKERS", "2"))
#: Warm workers kept beyond ``n_workers``: a call right after a kill takes one at once
#: instead of waiting for the replacement to start (seconds on a busy machine).
DEFAULT_SPARES = int(os.environ.get("REWARDS_SYMBOLIC_SPARES", "1"))
STARTUP_TIMEOUT_S = 30.0
_PKG_ROOT = str(Path(__file__).resolve().parents[1])


class _Worker:
    """One child process and its line-buffered pipes."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = _PKG_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "rewards._mv_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=_PKG_ROOT,
            close_fds=True,
            start_new_session=True,  # Ctrl-C in the terminal is the parent's business
        )
        self._fd = self.proc.stdout.fileno()
        self._buf = b""
        self.eof = False

    def read_line(self, deadline: float) -> dict | None:
        """Next JSON line, or None on deadline / EOF."""
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._fd, 65536)
            if not chunk:
                self.eof = True
                return None  # EOF: the worker died
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return None

    def send(self, obj: dict) -> bool:
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except Exception:
            pass


class SymbolicPool:
    """A pool of warm math-verify workers with a per-call deadline."""

    def __init__(self, n_workers: int = DEFAULT_WORKERS, cache_size: int = 4096, spares: int = DEFAULT_SPARES) -> None:
        self.n_workers = max(1, int(n_workers))
        self.spares = max(0, int(spares))
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()  # reuse the warmest worker
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._started = False
        self._broken = False  # could not start child processes: in-process fallback
        self._pid = os.getpid()
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._cache_size = cache_size
        self.kills = 0

    # -- lifecycle -----------------------------------------------------------------
    def _spawn_ready(self) -> _Worker | None:
        try:
            w = _Worker()
        except (OSError, ValueError, subprocess.SubprocessError):
            return None
        msg = w.read_line(time.monotonic() + STARTUP_TIMEOUT_S)
        if not msg or not msg.get("ready"):
            w.kill()
            return None
        return w

    def start(self) -> None:
        """Start the workers (blocking, idempotent)."""
        with self._lock:
            if self._started:
                return
            if os.name != "posix":  # select() on pipes is POSIX-only
                self._broken = self._started = True
                return
            threads = []
            total = self.n_workers + self.spares
            out: list[_Worker | None] = [None] * total

            def boot(i: int) -> None:
                out[i] = self._spawn_ready()

            for i in range(total):
                t = threading.Thread(target=boot, args=(i,), daemon=True)
                t.start()
                threads.append(t)
            for t in threads:
                t.join()
            workers = [w for w in out if w is not None]
            if not workers:
                self._broken = True
            for w in workers:
                self._all.add(w)
                self._idle.put(w)
            self._started = True

    def warm_all(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Make every idle worker finish its warm-up parses now (blocking)."""
        self.start()
        taken: list[_Worker] = []
        while True:
            try:
                taken.append(self._idle.get_nowait())
            except queue.Empty:
                break
        deadline = time.monotonic() + timeout_s
        for w in taken:
            if w.send({"op": "warm"}) and (w.read_line(deadline) or {}).get("v") == "warm":
                self._idle.put(w)
            else:
                self._replace(w)

    def _replace(self, dead: _Worker) -> None:
        """Kill ``dead`` and start a replacement in the background."""
        with self._lock:
            self._all.discard(dead)
            self.kills += 1
        try:
            dead.proc.kill()  # at once: the deadline is over
        except OSError:
            pass

        def run() -> None:
            dead.kill()  # close pipes, reap
            new = self._spawn_ready()
            if new is None:
                with self._lock:
                    if not self._all:
                        self._broken = True  # nothing left: fall back to in-process
                return
            with self._lock:
                if self._pid != os.getpid() or not self._started:
                    new.kill()
                    return
                self._all.add(new)
            self._idle.put(new)

        threading.Thread(target=run, daemon=True).start()

    def close(self) -> None:
        with self._lock:
            workers, self._all = list(self._all), set()
            self._started = False
            self._idle = queue.LifoQueue()
        for w in workers:
            w.kill()

    # -- the call ------------------------------------------------------------------
    def check(self, gold: str, pred: str, timeout_s: float) -> str:
        """``"correct" | "wrong" | "bad_gold" | "timeout"`` within ``timeout_s``
        (plus the one-off pool start on the very first call)."""
        key = (gold, pred)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        if not self._started:
            self.start()
        if self._broken:
            verdict = _inprocess_check(gold, pred, timeout_s)
        else:
            verdict = self._check_remote(gold, pred, timeout_s)
        if verdict in ("correct", "wrong", "bad_gold"):
            with self._lock:
                self._cache[key] = verdict
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return verdict

    def _check_remote(self, gold: str, pred: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        for attempt in range(2):  # a worker found dead (killed from outside) costs one retry, not the answer
            while True:
                try:
                    worker = self._idle.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    return "timeout"
                if worker.proc.poll() is None:
                    break
                self._replace(worker)  # died while idle: take the next one
            remaining = deadline - time.monotonic()
            if remaining <= 0.005:
                self._idle.put(worker)
                return "timeout"
            if not worker.send({"gold": gold, "pred": pred, "soft_s": remaining * 0.8}):
                self._replace(worker)
                continue
            msg = worker.read_line(deadline)
            if msg is None:
                died = worker.proc.poll() is not None or worker.eof
                self._replace(worker)
                if died and attempt == 0:
                    continue  # it was already dead (EOF before the deadline): ask another worker
                return "timeout"
            self._idle.put(worker)
            verdict = msg.get("v")
            if verdict == "error":
                return "wrong"
            return verdict if verdict in ("correct", "wrong", "bad_gold", "timeout") else "wrong"
        return "timeout"


def _inprocess_check(gold: str, pred: str, timeout_s: float) -> str:
    """Fallback without child processes: math-verify in a daemon thread."""
    box: list[str] = []

    def run() -> None:
        try:
            from math_verify import LatexExtractionConfig, parse, verify

            cfg = [LatexExtractionConfig(boxed_match_priority=0)]
            g = parse("\\boxed{" + gold + "}", extraction_config=cfg, parsing_timeout=None)
            if not g:
                box.append("bad_gold")
                return
            p = parse("\\boxed{" + pred + "}", extraction_config=cfg, parsing_timeout=None)
            box.append("correct" if p and verify(g, p, timeout_seconds=None) else "wrong")
        except Exception:
            box.append("wrong")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout_s)
    return box[0] if box else "timeout"


_POOL: SymbolicPool | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> SymbolicPool:
    """The process-wide pool (created lazily; a forked child gets its own)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._pid != os.getpid():
            _POOL = SymbolicPool()
        return _POOL


def symbolic_check(gold: str, pred: str, timeout_s: float) -> str:
    """Compare two extracted answers with math-verify (gold first) under ``timeout_s``."""
    return get_pool().check(gold, pred, timeout_s)


def warmup(full: bool = False) -> None:
    """Start the worker pool now so the first verification pays no start-up cost.

    ``full``: also wait until the workers have warmed their LaTeX parser on common
    answer shapes (~1-2 s; otherwise they do it while idle)."""
    pool = get_pool()
    pool.start()
    if full:
        pool.warm_all()


def shutdown() -> None:
    """Stop the workers (they also stop by themselves when this process exits)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and pool._pid == os.getpid():
        pool.close()


def _after_fork_in_child() -> None:
    global _POOL, _POOL_LOCK
    _POOL = None  # the parent's workers and pipes are not ours
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown)
