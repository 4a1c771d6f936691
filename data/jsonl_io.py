"""JSONL files that survive a kill: atomic whole-file writes, append-only writers, and torn-tail repair.

A dataset file is written to a temporary name and renamed into place, with a sidecar `*.meta.json`
holding its row count and sha256; `read_verified_jsonl` refuses (returns None for) a file whose
content does not match its sidecar, so a half-written file from a killed run is rebuilt, not trusted.
Append-only files (traces, eval items) are flushed and fsync'd per record; on reopen a torn last line
is cut off, so a resumed run neither loses nor duplicates records.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from data.atomic_io import atomic_writer, write_text_atomic


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows to `path` atomically (tmp file + fsync + rename) with a row-count/sha256 sidecar."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    n = 0
    with atomic_writer(path) as handle:
        for row in rows:
            line = json.dumps(row, ensure_ascii=False) + "\n"
            digest.update(line.encode("utf-8"))
            handle.write(line)
            n += 1
    write_text_atomic(_meta_path(path), json.dumps({"rows": n, "sha256": digest.hexdigest()}))
    return n


def read_verified_jsonl(path: str | Path) -> list[dict[str, Any]] | None:
    """Rows of a file written by `write_jsonl_atomic`, or None if it is missing, torn or altered."""
    path = Path(path)
    meta_file = _meta_path(path)
    if not path.exists() or not meta_file.exists():
        return None
    try:
        meta = json.loads(meta_file.read_text())
        raw = path.read_bytes()
    except (OSError, json.JSONDecodeError):
        return None
    if hashlib.sha256(raw).hexdigest() != meta.get("sha256"):
        return None
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    return rows if len(rows) == meta.get("rows") else None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All complete rows of a JSONL file (a torn last line is skipped)."""
    return list(iter_jsonl(path))


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Complete rows of a JSONL file; a torn or undecodable last line is skipped, a bad middle line raises."""
    path = Path(path)
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").split("\n")
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if index >= len(lines) - 2:  # the last written line: a torn tail from a kill
                return
            raise ValueError(f"{path}: line {index + 1} is not valid JSON: {line[:80]!r}") from None


class AppendOnlyJsonl:
    """An append-only JSONL writer that repairs a torn tail on open and fsyncs each record.

    `done_keys` holds the `key` field of every complete record already in the file, so a resumed job
    skips them: no record is lost or written twice.
    """

    def __init__(self, path: str | Path, key: str = "id") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.done_keys: set[str] = set()
        self._repair_tail()
        for row in iter_jsonl(self.path):
            self.done_keys.add(str(row[key]))
        self._handle = open(self.path, "a", encoding="utf-8")

    def _repair_tail(self) -> None:
        if not self.path.exists():
            return
        raw = self.path.read_bytes()
        end = raw.rfind(b"\n") + 1  # keep everything up to the last complete line
        if end != len(raw):
            with open(self.path, "r+b") as handle:
                handle.truncate(end)

    def write(self, row: dict[str, Any]) -> bool:
        """Append `row` unless its key is already present; returns whether it was written."""
        key = str(row[self.key])
        if key in self.done_keys:
            return False
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.done_keys.add(key)
        return True

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> AppendOnlyJsonl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
