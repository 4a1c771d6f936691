"""Did a GRPO run learn? A verdict from its trainer log history, put into the RL summary and logged as a warning.

The reference study's GRPO learned nothing and nobody could tell. TRL logs the per-step signals (and
rl.signals adds the training pass rate), but a researcher reading a finished run wants one line: did the
policy's training reward go up? This compares the training pass rate (`signals/correctness_reward/pass_rate`,
else TRL's `reward`) of the first and last third of the logged steps with Welch's t statistic over the
per-log values, so a change inside the step-to-step noise reads `flat`, not as progress.

Measured on the toy student (trace-SFT, 18.8% held-out): over 300 GRPO steps on all 20,000 training prompts
the pass rate stayed at ~6.5% (`flat`), while on 8 repeated prompts it rose from 4% to 34% (`improving`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

PASS_RATE = "signals/correctness_reward/pass_rate"
VERDICTS = ("improving", "flat", "declining", "too_short")


def learning_verdict(
    history: Sequence[Mapping[str, Any]], metric: str | None = None, *, min_points: int = 6, t_threshold: float = 3.0
) -> dict[str, Any]:
    """`{metric, n_points, early, late, delta, t, verdict, zero_std_frac}` from `history` (TRL's
    `trainer.state.log_history`): verdict `improving` / `declining` when the last third's mean differs from the
    first third's by more than `t_threshold` standard errors, `flat` otherwise, `too_short` with fewer than
    `min_points` (at least 6) logged values. `metric` defaults to the training pass rate, else the summed reward."""
    logs = [e for e in history if "reward" in e]
    if metric is None:
        metric = PASS_RATE if any(PASS_RATE in e for e in logs) else "reward"
    values = [float(e[metric]) for e in logs if e.get(metric) is not None and not math.isnan(float(e[metric]))]
    zero_std = [float(e["signals/reward/zero_std_frac"]) for e in logs if "signals/reward/zero_std_frac" in e]
    out: dict[str, Any] = {
        "metric": metric,
        "n_points": len(values),
        "early": None,
        "late": None,
        "delta": None,
        "t": None,
        "verdict": "too_short",
        "zero_std_frac": sum(zero_std) / len(zero_std) if zero_std else None,
    }
    if len(values) < max(6, min_points):  # two values per third at least, for a variance
        return out
    third = len(values) // 3
    first, last = values[:third], values[-third:]
    early, late = statistics.fmean(first), statistics.fmean(last)
    stderr = math.sqrt((statistics.variance(first) + statistics.variance(last)) / third)
    delta = late - early
    t = delta / stderr if stderr > 0 else (math.inf if delta > 0 else -math.inf if delta < 0 else 0.0)
    verdict = "improving" if t > t_threshold else "declining" if t < -t_threshold else "flat"
    out.update(early=early, late=late, delta=delta, t=t, verdict=verdict)
    return out


def describe(verdict: Mapping[str, Any]) -> str:
    """One line for the log, e.g. `GRPO training pass rate flat: 0.065 -> 0.067 (t=0.3, 30 logs; 62% of groups
    had zero reward spread)`."""
    if verdict["verdict"] == "too_short":
        return f"GRPO learning check: only {verdict['n_points']} logged values of {verdict['metric']}, no verdict"
    name = "training pass rate" if verdict["metric"] == PASS_RATE else verdict["metric"]
    zero = verdict.get("zero_std_frac")
    spread = f"; {zero:.0%} of groups had zero reward spread" if zero is not None else ""
    return (
        f"GRPO {name} {verdict['verdict']}: {verdict['early']:.3f} -> {verdict['late']:.3f} "
        f"(t={verdict['t']:.1f}, {verdict['n_points']} logs{spread})"
    )
