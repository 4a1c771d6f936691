"""Stage bookkeeping: config fingerprints, `summary.json` completion markers, and cross-process locks.

A stage is complete when its folder holds a `summary.json` whose `fingerprint` matches the config that
would produce it; `summary.json` is written last (atomically), so a killed stage is never mistaken for a
finished one. Shared stages (data, base, teacher traces) take a file lock so that parallel runs build
them once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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
    summary = {"fingerprint": fp, **summary}
    tmp = stage_dir / f".summary.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(summary, indent=2, default=str))
    os.replace(tmp, stage_dir / "summary.json")
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
