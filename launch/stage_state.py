"""Stage bookkeeping: config fingerprints, `summary.json` completion markers, locks, and `run_stage`, the one
skeleton every stage runs in.

A stage is complete when its folder holds a `summary.json` whose `fingerprint` matches the config that
would produce it; `summary.json` is written last (atomically), so a killed stage is never mistaken for a
finished one. Every stage takes a file lock on its folder while it is checked and built, so that parallel jobs
sharing a stage (conditions of one seed) build it once; a folder started under another config is moved aside.

Several processes of one run (torchrun / accelerate, `sft.distributed`): only the main rank (global rank 0) takes the
lock, decides whether the stage is complete, claims the folder and writes `summary.json`. The pipeline puts each
stage in one of three modes (`stage_mode`, launch/conditions.py `Stage.distributed`): `build` (one process does it
all: a single-process run, or the main rank of a stage the others wait for), `read` (a rank that waited while the
main rank built the stage: read its summary, never build) and `collective` (a training stage: every rank runs
`build` together, the main rank's decision and summary are broadcast to all).
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from launch.provenance import git_commit
from sft import distributed

MODES = ("build", "read", "collective")
# The mode `run_stage` runs in, set by `stage_mode` (a context variable: a thread or task sets its own, none leaks)
_MODE: contextvars.ContextVar[str] = contextvars.ContextVar("stage_mode", default="build")


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable config parts."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def read_summary(stage_dir: str | Path) -> dict[str, Any] | None:
    path = Path(stage_dir) / "summary.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def is_complete(stage_dir: str | Path, fp: str) -> bool:
    summary = read_summary(stage_dir)
    return summary is not None and summary.get("fingerprint") == fp


def write_summary(stage_dir: str | Path, fp: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Atomically write `summary.json` (the stage's completion marker) with its fingerprint."""
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    from data.atomic_io import write_text_atomic

    summary = {"fingerprint": fp, **summary}
    write_text_atomic(stage_dir / "summary.json", json.dumps(summary, indent=2, default=str))
    return summary


def claim_stage_dir(stage_dir: str | Path, fp: str) -> Path:
    """Mark `stage_dir` as being built for `fp`; a folder started under another config (finished or
    killed half way) is moved aside to `<name>.stale-<its fingerprint>`, never deleted, never resumed from."""
    stage_dir = Path(stage_dir)
    marker = stage_dir / ".fingerprint"
    old = marker.read_text().strip() if marker.exists() else None
    if stage_dir.exists() and any(stage_dir.iterdir()) and old != fp:
        aside, n = stage_dir.with_name(f"{stage_dir.name}.stale-{old or 'unknown'}"), 1
        while aside.exists():
            aside, n = stage_dir.with_name(f"{stage_dir.name}.stale-{old or 'unknown'}-{n}"), n + 1
        stage_dir.rename(aside)
    stage_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(fp)
    return stage_dir


@contextlib.contextmanager
def stage_lock(stage_dir: str | Path) -> Iterator[None]:
    """An exclusive lock on `<stage_dir>.lock`, held while the stage is checked and built."""
    lock_path = Path(f"{stage_dir}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def stage_mode(mode: str) -> Iterator[None]:
    """Run the `run_stage` calls inside in `mode` (one of MODES; see the module doc)."""
    if mode not in MODES:
        raise ValueError(f"unknown stage mode {mode!r}; valid: {list(MODES)}")
    token = _MODE.set(mode)
    try:
        yield
    finally:
        _MODE.reset(token)


def run_stage(
    stage: str,
    out: str | Path,
    fp: str,
    build: Callable[[Path], dict[str, Any]],
    *,
    complete: Callable[[Path], bool] | None = None,
) -> dict[str, Any]:
    """The one stage skeleton: lock `out`, return its summary when it is complete for `fp` (and `complete(out)`
    agrees, e.g. checksummed files intact), else claim the folder, run `build(out)`, time it and write
    `summary.json` (`{fingerprint, stage, seconds, commit, **what build returned}`) last; `commit` is the checkout the
    stage was built at, which a run that reuses the stage later keeps (its run summary's provenance is its own). Under
    several ranks: see `stage_mode`."""
    out = Path(out)
    mode = _MODE.get()
    if mode == "read":
        if not is_complete(out, fp):
            raise RuntimeError(
                f"rank {distributed.rank()}: stage {stage!r} at {out} is not complete for {fp} after the main rank "
                "built it (a folder the ranks do not share?)"
            )
        return read_summary(out)
    collective = mode == "collective" and distributed.world_size() > 1
    with stage_lock(out) if distributed.is_main() or not collective else contextlib.nullcontext():
        if collective:
            return _run_collective(stage, out, fp, build, complete)
        if is_complete(out, fp) and (complete is None or complete(out)):
            return read_summary(out)
        claim_stage_dir(out, fp)
        start = time.perf_counter()
        summary = build(out)
        seconds = time.perf_counter() - start
        return write_summary(out, fp, {"stage": stage, "seconds": seconds, "commit": git_commit(), **summary})


def _run_collective(
    stage: str, out: Path, fp: str, build: Callable[[Path], dict[str, Any]], complete: Callable[[Path], bool] | None
) -> dict[str, Any]:
    """`run_stage` on every rank at once (the main rank holds the lock): the main rank decides (complete or not) and
    claims the folder; the decision is broadcast; every rank runs `build`; the main rank writes the summary and
    broadcasts it."""
    main = distributed.is_main()
    decision: tuple[str, Any] = ("build", None)
    if main:
        try:
            if is_complete(out, fp) and (complete is None or complete(out)):
                decision = ("done", read_summary(out))
            else:
                claim_stage_dir(out, fp)
        except BaseException as error:
            distributed.broadcast(("error", f"{type(error).__name__}: {error}"))
            raise
    kind, value = distributed.broadcast(decision)
    if kind == "error":
        raise RuntimeError(f"rank {distributed.rank()}: stage {stage!r} failed on the main rank: {value}")
    if kind == "done":
        return value
    start = time.perf_counter()
    summary = build(out)
    written = None
    if main:
        seconds = time.perf_counter() - start
        written = write_summary(out, fp, {"stage": stage, "seconds": seconds, "commit": git_commit(), **summary})
    return distributed.broadcast(written)
