"""Whole-file writes that a kill cannot tear: write a temporary file beside the target, fsync it, rename it over.

The temporary file is `.<name>.tmp-<pid>` in the target's folder (hidden, on the same filesystem so that
`os.replace` is atomic, and distinct per process). A reader therefore sees either the old file or the complete
new one, never a half-written one; a failed write removes its temporary file and leaves the target as it was.
Text is written as UTF-8 with no newline translation, so the bytes on disk are exactly `text.encode("utf-8")`.
The parent folder must exist (callers create it). `file_sha256` is the checksum readers compare such files by.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def tmp_path(path: str | Path) -> Path:
    """The temporary name an atomic write of `path` goes through: `.<name>.tmp-<pid>` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_writer(path: str | Path, binary: bool = False) -> Iterator[IO[Any]]:
    """A file handle to write `path`'s new content into (text: UTF-8, no newline translation); on a clean exit
    it is flushed, fsync'd and renamed over `path`; on an exception the temporary file is removed."""
    path = Path(path)
    tmp = tmp_path(path)
    try:
        with open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Replace `path` with `data` atomically (tmp file + fsync + rename); returns `path`."""
    with atomic_writer(path, binary=True) as handle:
        handle.write(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Replace `path` with `text` (UTF-8) atomically (tmp file + fsync + rename); returns `path`."""
    with atomic_writer(path) as handle:
        handle.write(text)
    return Path(path)


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
