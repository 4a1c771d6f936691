"""Test helpers for files: skip when a shared benchmark copy is absent, write crafted JSONL rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def need_file(path: Path) -> Path:
    """`path`, or skip the test cleanly when it is absent (a user's machine has no ../shared)."""
    if not path.exists():
        pytest.skip(f"shared benchmark copy {path} is absent")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write `rows` as JSONL to `path` and return it."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path
