"""The `multi` teacher: several teachers behind one, by a policy (the dual-teacher setup).

`teachers` lists teacher configs: a name (`hf` loads conf/teacher/hf.yaml), a mapping with `base: <name>` plus
overrides, or a full inline config. Each gets a `label` (default: its `name`; labels must differ) that becomes
its records' `teacher` field and the prefix of their ids (`{label}/{its own id}`), so ids stay unique across
teachers and a resumed run hands each teacher back its own done ids.

* `policy: all`           -- every teacher on every problem; with `weights` each problem instead goes to one
                             teacher, drawn by a hash of its id (deterministic, shares proportional to weights).
* `policy: first_correct` -- teachers in order: each sees only the problems no earlier teacher has a verified
                             trace for. `done` may map ids to records (then earlier verdicts are known on
                             resume); with ids only, an earlier teacher's done problems count as unsolved
                             (the next teacher runs on them too: more traces, never fewer).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

log = logging.getLogger(__name__)
POLICIES = ("all", "first_correct")
META_KEYS = ("label", "base")


def _teacher_file(name: str) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from launch.config_check import CONF_DIR, group_options

    path = CONF_DIR / "teacher" / f"{name}.yaml"
    if name == "multi" or not path.exists():
        valid = [o for o in group_options("teacher") if o != "multi"]
        raise ValueError(f"multi teacher: unknown teacher {name!r}; valid: {valid} or an inline config")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def resolve_teachers(entries: Any) -> list[tuple[str, dict[str, Any]]]:
    """`(label, teacher config)` for each entry of `teachers` (a name, `{base: name, ...}`, or an inline config)."""
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ValueError(
            f"multi teacher: `teachers` must be a non-empty list of teacher names or configs, got {entries!r}"
        )
    out: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            cfg, label = _teacher_file(entry), None
        elif isinstance(entry, Mapping):
            entry = dict(entry)
            label = entry.pop("label", None)
            base = entry.pop("base", None)
            cfg = {**_teacher_file(str(base)), **entry} if base else entry
        else:
            raise ValueError(f"multi teacher: teachers[{i}] must be a teacher name or a mapping, got {entry!r}")
        from sft.teachers.base import backend_name

        if backend_name(cfg) == "multi":
            raise ValueError(f"multi teacher: teachers[{i}] is itself a multi teacher; list its teachers directly")
        label = str(label or cfg.get("name") or "")
        if not label or "/" in label:
            raise ValueError(f"multi teacher: teachers[{i}] needs a `label` (or `name`) without '/', got {label!r}")
        clash = [j for j, (other, _) in enumerate(out) if other == label]
        if clash:
            raise ValueError(
                f"multi teacher: teachers[{clash[0]}] and teachers[{i}] are both labelled {label!r}; "
                f"give each a distinct `label`"
            )
        out.append((label, cfg))
    return out


def hash_share(problem_id: str) -> float:
    """A stable number in [0, 1) for a problem id (crc32), the same on every machine and run."""
    return zlib.crc32(str(problem_id).encode("utf-8")) / 2**32


def assign(problem_id: str, weights: list[float]) -> int:
    """The index of the teacher a problem goes to: the weights' cumulative bin its hash falls into."""
    u, total, edge = hash_share(problem_id), sum(weights), 0.0
    for i, w in enumerate(weights):
        edge += w / total
        if u < edge:
            return i
    return max(i for i, w in enumerate(weights) if w > 0)


class MultiTeacher:
    """Teachers run one after the other by `policy`; records tagged with the label of the teacher that wrote them."""

    name = "multi"

    def __init__(
        self,
        teachers: list[tuple[str, Any]],
        policy: str = "all",
        weights: list[float] | None = None,
        configs: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown multi teacher policy {policy!r}; valid: {list(POLICIES)}")
        if weights is not None:
            if policy != "all":
                raise ValueError(
                    f"multi teacher: weights apply to policy 'all' only (policy is {policy!r}); set weights: null"
                )
            if len(weights) != len(teachers) or any(float(w) < 0 for w in weights) or sum(map(float, weights)) <= 0:
                raise ValueError(
                    f"multi teacher: weights must be {len(teachers)} non-negative numbers (one per teacher) "
                    f"with a positive sum, got {weights!r}"
                )
            own = [label for label, t in teachers if not t.uses_problems]
            if own:
                raise ValueError(
                    f"multi teacher: weights split problems, but {own} bring their own problems; "
                    "drop them or set weights: null"
                )
        self.teachers, self.policy = list(teachers), policy
        self.weights = [float(w) for w in weights] if weights is not None else None
        self.configs = dict(configs or {})
        self.uses_problems = any(t.uses_problems for _, t in self.teachers)

    @property
    def stats(self) -> dict[str, Any]:
        """Each sub-teacher's counters (those that keep any, e.g. the openai backend), by label."""
        return {label: t.stats for label, t in self.teachers if getattr(t, "stats", None) is not None}

    @staticmethod
    def _tag(record: dict[str, Any], label: str) -> dict[str, Any]:
        return {**record, "id": f"{label}/{record['id']}", "teacher": label, "source_teacher": record.get("teacher")}

    @staticmethod
    def _own_done(done: Any, label: str) -> set[str]:
        prefix = f"{label}/"
        return {key[len(prefix) :] for key in done if key.startswith(prefix)}

    def generate(self, problems: list[dict[str, Any]], done: Any = None) -> Iterator[dict[str, Any]]:
        """Records of every teacher by the policy, skipping each teacher's work already in `done`."""
        done = done if done is not None else set()
        if self.policy == "all":
            for i, (label, teacher) in enumerate(self.teachers):
                mine = problems if self.weights is None else [p for p in problems if assign(p["id"], self.weights) == i]
                for record in teacher.generate(mine, self._own_done(done, label)):
                    yield self._tag(record, label)
            return
        remaining = list(problems)
        for label, teacher in self.teachers:
            solved = self._solved_before(done, label)
            for record in teacher.generate(remaining, self._own_done(done, label)):
                if record.get("verified"):
                    solved.add(record["problem_id"])
                yield self._tag(record, label)
            remaining = [p for p in remaining if p["id"] not in solved]
            if not remaining:
                return

    @staticmethod
    def _solved_before(done: Any, label: str) -> set[str]:
        """Problems this teacher verified in an earlier (killed) run: known only when `done` maps ids to records."""
        if isinstance(done, Mapping):
            return {
                r["problem_id"]
                for key, r in done.items()
                if key.startswith(f"{label}/") and isinstance(r, Mapping) and r.get("verified")
            }
        if any(key.startswith(f"{label}/") for key in done):
            log.warning(
                "multi teacher: resuming first_correct with done ids only; %s's earlier verdicts are unknown, "
                "so later teachers also run on the problems it already did",
                label,
            )
        return set()


def build_multi(cfg: Mapping[str, Any]) -> MultiTeacher:
    """The multi teacher of a conf/teacher/multi.yaml config (each sub-teacher built through `build_teacher`)."""
    from sft.teachers.base import build_teacher

    valid = {"name", "backend", "teachers", "policy", "weights", "only_verified", "max_problems"}
    unknown = sorted(set(cfg) - valid)
    if unknown:
        raise ValueError(f"unknown multi teacher config key(s) {unknown}; valid: {sorted(valid)}")
    resolved = resolve_teachers(cfg.get("teachers"))
    teachers = [(label, build_teacher(sub)) for label, sub in resolved]
    return MultiTeacher(teachers, str(cfg.get("policy", "all")), cfg.get("weights"), configs=dict(resolved))
