"""Process-local counters of what verification did, for a trainer callback to log.

math-verify keeps no statistics; a GRPO run needs to see when rewards go silent
because answers are not extractable, golds are broken, or the verifier times out.
"""

from __future__ import annotations

import threading

__all__ = ["VerifyStats", "STATS"]


class VerifyStats:
    """Thread-safe counters; :meth:`snapshot_and_reset` returns ``verify/*`` floats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.calls = 0
        self.correct = 0
        self.no_answer = 0
        self.bad_gold = 0
        self.timeouts = 0
        self.fast_path = 0
        self.total_s = 0.0
        self.max_s = 0.0

    def record(self, reason: str, fast_path: bool, seconds: float) -> None:
        """Count one verification outcome (``reason`` as in ``VerifyResult.reason``)."""
        with self._lock:
            self.calls += 1
            self.total_s += seconds
            if seconds > self.max_s:
                self.max_s = seconds
            if fast_path:
                self.fast_path += 1
            if reason == "correct":
                self.correct += 1
            elif reason == "no_answer":
                self.no_answer += 1
            elif reason == "bad_gold":
                self.bad_gold += 1
            elif reason == "timeout":
                self.timeouts += 1

    def snapshot(self) -> dict[str, float]:
        """Current values without resetting."""
        with self._lock:
            return self._snapshot_unlocked()

    def snapshot_and_reset(self) -> dict[str, float]:
        """Values since the last reset, then start counting afresh."""
        with self._lock:
            snap = self._snapshot_unlocked()
            self._reset()
        return snap

    def _snapshot_unlocked(self) -> dict[str, float]:
        n = self.calls
        return {
            "verify/calls": float(n),
            "verify/correct_frac": self.correct / n if n else 0.0,
            "verify/no_answer_frac": self.no_answer / n if n else 0.0,
            "verify/bad_gold": float(self.bad_gold),
            "verify/timeouts": float(self.timeouts),
            "verify/fast_path_frac": self.fast_path / n if n else 0.0,
            "verify/mean_ms": 1000.0 * self.total_s / n if n else 0.0,
            "verify/max_ms": 1000.0 * self.max_s,
        }


#: The process-wide instance that :func:`rewards.verify_detailed` records into.
STATS = VerifyStats()
