"""Learning-signal logging TRL 1.16 does not already do, by wrapping reward functions (same name, same values).

TRL logs reward mean/std per function, `frac_reward_zero_std` (of the *summed* reward), completion lengths,
the truncation rate (`completions/clipped_ratio`), PPO clip ratios, entropy and, when beta > 0, KL. But its
`frac_reward_zero_std` tests `isclose(std, 0)` on float32 sums: with a non-dyadic weight (format 0.2) a group
of equal rewards has std ~1e-8 and is not counted, so it reads 0 when a third of the groups carry no signal.
Added here, per group of `num_generations` completions of one prompt (exact: max - min < 1e-9):

* `signals/reward/zero_std_frac`  -- share of groups whose weighted total reward is constant (what TRL means);

* `signals/<func>/zero_std_frac`  -- share of groups whose rewards from this function are all equal (no signal);
* `signals/<func>/solved_all_frac`, `signals/<func>/solved_none_frac`, `signals/<func>/pass_rate` -- share of
  groups where every / no completion scores above `solved_above`, and the mean share that does (what a
  pass-rate filter would act on);
* optionally one JSONL line per generation batch `{step, func, ids, rewards}` (the data order, for resume checks).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def group_stats(rewards: Sequence[float | None], group_size: int, solved_above: float = 0.5) -> dict[str, float] | None:
    """Per-group statistics of consecutive groups of `group_size` rewards (None rows ignored); None when the
    rewards do not split into whole groups."""
    if group_size < 1 or not rewards or len(rewards) % group_size:
        return None
    zero_std = solved_all = solved_none = 0
    rates = []
    n_groups = 0
    for start in range(0, len(rewards), group_size):
        group = [r for r in rewards[start : start + group_size] if r is not None and not math.isnan(r)]
        if not group:
            continue
        n_groups += 1
        zero_std += max(group) - min(group) < 1e-9
        rate = sum(r > solved_above for r in group) / len(group)
        rates.append(rate)
        solved_all += rate == 1.0
        solved_none += rate == 0.0
    if not n_groups:
        return None
    return {
        "zero_std_frac": zero_std / n_groups,
        "solved_all_frac": solved_all / n_groups,
        "solved_none_frac": solved_none / n_groups,
        "pass_rate": sum(rates) / n_groups,
    }


def _prompt_groups_aligned(prompts: Sequence[Any] | None, group_size: int) -> bool:
    if prompts is None:
        return True
    return all(
        prompts[s] == prompts[s + k]
        for s in range(0, len(prompts), group_size)
        for k in range(1, group_size)
        if s + k < len(prompts)
    )


def with_signals(
    func: Callable[..., list],
    group_size: int,
    *,
    solved_above: float = 0.5,
    rollout_log: str | Path | None = None,
    id_key: str = "id",
) -> Callable[..., list]:
    """`func` with the same name and outputs that also logs the group statistics above through TRL's `log_metric`
    (and appends its rewards to `rollout_log` when given)."""
    return wrap_reward_funcs(
        [func], [1.0], group_size, solved_above=solved_above, rollout_log=rollout_log, id_key=id_key, log_total=False
    )[0]


def wrap_reward_funcs(
    funcs: Sequence[Callable[..., list]],
    weights: Sequence[float],
    group_size: int,
    *,
    solved_above: float = 0.5,
    rollout_log: str | Path | None = None,
    id_key: str = "id",
    log_total: bool = True,
) -> list[Callable[..., list]]:
    """Each of `funcs` wrapped (same name, same outputs) to log its group statistics; the last one also logs the
    weighted total's `signals/reward/zero_std_frac` (TRL calls reward functions in order on the same batch)."""
    log_path = Path(rollout_log) if rollout_log else None
    seen: dict[str, list] = {}
    names = [f.__name__ for f in funcs]

    def make(index: int, func: Callable[..., list]) -> Callable[..., list]:
        name = func.__name__

        def wrapped(completions: list, **kwargs: Any) -> list:
            rewards = func(completions, **kwargs)
            log_metric = kwargs.get("log_metric")
            aligned = _prompt_groups_aligned(kwargs.get("prompts"), group_size)
            if callable(log_metric) and aligned:
                for key, value in (group_stats(rewards, group_size, solved_above) or {}).items():
                    log_metric(f"signals/{name}/{key}", value)
            if index == 0:
                seen.clear()
            seen[name] = list(rewards)
            if log_total and index == len(funcs) - 1 and callable(log_metric) and aligned and set(seen) == set(names):
                total = [
                    None
                    if all(seen[n][i] is None for n in names)  # TRL: nansum; unscorable if all None
                    else sum(w * seen[n][i] for n, w in zip(names, weights) if seen[n][i] is not None)
                    for i in range(len(rewards))
                ]
                stats = group_stats(total, group_size, solved_above)
                if stats:
                    log_metric("signals/reward/zero_std_frac", stats["zero_std_frac"])
            if log_path is not None:
                state = kwargs.get("trainer_state")
                record = {
                    "step": getattr(state, "global_step", None),
                    "func": name,
                    "ids": list(kwargs.get(id_key) or []),
                    "rewards": list(rewards),
                }
                with open(log_path, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
            return rewards

        wrapped.__name__ = wrapped.__qualname__ = name
        return wrapped

    return [make(i, f) for i, f in enumerate(funcs)]


def read_rollout_order(path: str | Path, func: str | None = None) -> dict[int, list[Any]]:
    """{step: ids} from a rollout log; when a step was logged twice (a killed run re-done after resume) the last
    record wins."""
    order: dict[int, list[Any]] = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line torn by a kill
            continue
        if func is None or record["func"] == func:
            order[int(record["step"])] = record["ids"]
    return order
