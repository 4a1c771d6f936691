"""The learning probe: the policy's pass rate on one fixed set of training prompts, before and after GRPO.

The log-history check (rl.learning_check) compares the training pass rate of the first and last third of the
logged steps. Each logged value is measured on different prompts, so prompt difficulty adds its variance to the
comparison: on the toy base (~20% pass rate at temperature 0.7), 150 steps that raised held-out accuracy by 3-8
points on three seeds read `flat` there (t = 0.5-2.3). The probe removes that variance by pairing: the same
`n_prompts` prompts, `n_samples` completions each at the rollout temperature, scored by the correctness reward,
once with the start model and once with the trained one; the verdict is a paired t statistic over prompts.

The start measurement is cached in `<out>/learning_probe.json` before the first step, so a resumed run compares
with the true start. Sampling runs inside `torch.random.fork_rng`, so the probe does not change what GRPO samples.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from data.atomic_io import write_text_atomic
from rl.prompt_filter import measure_pass_rates


def probe_rows(rows: Sequence[Mapping[str, Any]], n_prompts: int) -> list[Mapping[str, Any]]:
    """A seeded sample of `n_prompts` rows, the same for every run seed (all of them when there are fewer)."""
    if len(rows) <= n_prompts:
        return list(rows)
    return random.Random("learning-probe").sample(list(rows), n_prompts)


def paired_verdict(before: Sequence[float], after: Sequence[float], t_threshold: float = 3.0) -> dict[str, Any]:
    """`{n_prompts, before, after, delta, t, verdict}` of per-prompt pass rates `before` / `after`: `improving` /
    `declining` when the mean per-prompt change is more than `t_threshold` standard errors from 0, else `flat`."""
    if len(before) != len(after):
        raise ValueError(f"probe: {len(before)} start rates against {len(after)} end rates")
    diffs = [a - b for a, b in zip(after, before, strict=True)]
    out: dict[str, Any] = {"n_prompts": len(diffs), "before": None, "after": None, "delta": None, "t": None}
    if len(diffs) < 2:
        return {**out, "verdict": "too_short"}
    delta = statistics.fmean(diffs)
    stderr = statistics.stdev(diffs) / math.sqrt(len(diffs))
    t = delta / stderr if stderr > 0 else (math.inf if delta > 0 else -math.inf if delta < 0 else 0.0)
    verdict = "improving" if t > t_threshold else "declining" if t < -t_threshold else "flat"
    return {
        **out,
        "before": statistics.fmean(before),
        "after": statistics.fmean(after),
        "delta": delta,
        "t": t,
        "verdict": verdict,
    }


class LearningProbe:
    """Measures the probe prompts' pass rates with a model (`start` before training, `finish` after)."""

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any]],
        reward: Callable[..., list],
        cfg: Mapping[str, Any],
        out_dir: Path,
        seed: int,
    ) -> None:
        probe = cfg["learning_probe"]
        self.rows = probe_rows(rows, int(probe["n_prompts"]))
        self.n_samples = int(probe["n_samples"])
        self.reward, self.cfg, self.seed = reward, cfg, seed
        self.path = Path(out_dir) / "learning_probe.json"

    def _measure(self, model: Any, tokenizer: Any) -> list[float]:
        import torch

        with torch.random.fork_rng(devices=[]):
            return measure_pass_rates(
                model,
                tokenizer,
                self.rows,
                self.reward,
                n_samples=self.n_samples,
                max_new_tokens=int(self.cfg["max_completion_length"]),
                temperature=float(self.cfg["temperature"]),
                top_p=float(self.cfg["top_p"]),
                batch_size=int(self.cfg["prompt_filter"]["batch_size"]),
                chat_template_kwargs=self.cfg["chat_template_kwargs"],
                seed=self.seed,
            )

    def start(self, model: Any, tokenizer: Any, resuming: bool) -> None:
        """Measure and cache the start model's rates (a resumed run keeps the cached ones)."""
        if self.path.exists() or resuming:
            return
        rates = self._measure(model, tokenizer)
        write_text_atomic(self.path, json.dumps({"ids": [r.get("id") for r in self.rows], "start": rates}))

    def finish(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        """The paired verdict of the trained model against the cached start (`missing` without a start)."""
        if not self.path.exists():
            return {"n_prompts": len(self.rows), "verdict": "missing"}
        cached = json.loads(self.path.read_text())
        end = cached.get("end") or self._measure(model, tokenizer)
        write_text_atomic(self.path, json.dumps({**cached, "end": end}))
        return {**paired_verdict(cached["start"], end), "n_samples": self.n_samples}
