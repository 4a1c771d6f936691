"""Timing two sides fairly: alternate their order round by round, and write the benchmark JSON.

Load from other work on a shared machine only slows a run down, so each side runs `rounds` times in
alternating order (ours first, then baseline first, ...) and callers report the best and the median round.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def alternate_rounds(
    sides: dict[str, Callable[[int], dict[str, Any]]],
    rounds: int,
    on_run: Callable[[int, str, dict[str, Any]], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run each side `rounds` times, flipping the order every round; returns the runs per side."""
    names = list(sides)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            run = sides[name](r)
            runs[name].append(run)
            if on_run is not None:
                on_run(r, name, run)
    return runs


def write_report(path: str | Path, results: list[dict[str, Any]], machine: dict[str, Any]) -> Path:
    """`{"results": [...], "machine": {...}}` to `path` (the form every benchmark writes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"results": results, "machine": machine}, indent=2) + "\n")
    return path
