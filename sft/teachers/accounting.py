"""Per-teacher accounting of a trace set: traces, verified traces, tokens and the estimated price, for the summary.

`teacher_accounting(records, teacher_cfg, stats)` groups records by their `teacher` field (a multi teacher's
labels, or the one teacher's name; a multi config must be resolved, `launch.teacher_configs`) and prices each
group from its config's `price_per_million_input` / `price_per_million_output` when present. Completion tokens
are priced per record; the prompt is priced once per (teacher, problem), since one request with `n` choices
carries the prompt once (`tokens_in_billed`). The price is an estimate: requests that timed out after the server
did the work are billed but leave no record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

COUNTERS = ("n_traces", "n_verified", "n_problems", "tokens_in", "tokens_out", "tokens_in_billed")


def teacher_configs(teacher_cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """Label -> sub-teacher config of a multi teacher (a resolved config: `launch.teacher_configs.
    resolve_teacher_config`); None for a single teacher (its one config covers all)."""
    from sft.teachers.base import backend_name

    if backend_name(teacher_cfg) != "multi":
        return None
    from sft.teachers.multi import resolve_teachers

    return dict(resolve_teachers(teacher_cfg["teachers"]))


def price_usd(tokens_in: int, tokens_out: int, cfg: Mapping[str, Any]) -> float | None:
    """USD for these token counts at the config's per-million prices (None when it sets neither price)."""
    p_in, p_out = cfg.get("price_per_million_input"), cfg.get("price_per_million_output")
    if p_in is None and p_out is None:
        return None
    return round(tokens_in / 1e6 * float(p_in or 0.0) + tokens_out / 1e6 * float(p_out or 0.0), 6)


def teacher_accounting(
    records: Iterable[Mapping[str, Any]], teacher_cfg: Mapping[str, Any], stats: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """`{"per_teacher": {teacher: {n_traces, n_verified, n_problems, tokens_in, tokens_out, tokens_in_billed,
    price_usd[, requests]}}, "total": {...}}`; `stats` is the backend's `.stats` (a multi teacher's by label)."""
    from omegaconf import DictConfig, OmegaConf

    cfg = (
        OmegaConf.to_container(teacher_cfg, resolve=True) if isinstance(teacher_cfg, DictConfig) else dict(teacher_cfg)
    )
    configs = teacher_configs(cfg)
    groups: dict[str, dict[str, Any]] = {}
    prompts: dict[tuple[str, str], int] = {}
    for record in records:
        label = str(record.get("teacher"))
        group = groups.setdefault(label, {k: 0 for k in COUNTERS} | {"problems": set()})
        group["n_traces"] += 1
        group["n_verified"] += bool(record.get("verified"))
        group["tokens_in"] += int(record.get("tokens_in") or 0)
        group["tokens_out"] += int(record.get("tokens_out") or 0)
        group["problems"].add(str(record.get("problem_id")))
        key = (label, str(record.get("problem_id")))
        prompts[key] = max(prompts.get(key, 0), int(record.get("tokens_in") or 0))
    for (label, _), tokens in prompts.items():
        groups[label]["tokens_in_billed"] += tokens

    per_teacher: dict[str, dict[str, Any]] = {}
    for label, group in sorted(groups.items()):
        group["n_problems"] = len(group.pop("problems"))
        own = configs.get(label, {}) if configs is not None else cfg
        entry = {**group, "price_usd": price_usd(group["tokens_in_billed"], group["tokens_out"], own)}
        own_stats = (stats or {}).get(label) if configs is not None else stats
        if own_stats:
            entry["requests"] = dict(own_stats)
        per_teacher[label] = entry
    # a teacher with request counters but no records (every request failed) still shows its counters
    unseen = (
        (
            {label: s for label, s in stats.items() if label not in per_teacher}
            if configs is not None
            else {str(cfg.get("name")): stats}
            if not per_teacher
            else {}
        )
        if stats
        else {}
    )
    for label, own_stats in unseen.items():
        if own_stats:
            per_teacher[label] = {**{k: 0 for k in COUNTERS}, "price_usd": None, "requests": dict(own_stats)}
    prices = [e["price_usd"] for e in per_teacher.values() if e["price_usd"] is not None]
    total = {k: sum(e[k] for e in per_teacher.values()) for k in COUNTERS if k != "n_problems"}
    total["n_problems"] = len({p for label, p in prompts})
    total["price_usd"] = round(sum(prices), 6) if prices else None
    return {"per_teacher": per_teacher, "total": total}
