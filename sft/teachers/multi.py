"""The `multi` teacher: several teachers behind one, by a policy (the dual-teacher setup).

`teachers` lists full (inline) teacher configs. conf/teacher/multi.yaml may name them (`hf`, or `base: hf` plus
overrides); `launch.teacher_configs.resolve_teacher_config` expands those names from conf/teacher/ before the
config reaches `build_teacher` (conf/ is launch's), and a name met here is refused. Each entry gets a `label`
(default: its `name`; labels must differ) that becomes its records' `teacher` field and the prefix of their ids
(`{label}/{its own id}`), so ids stay unique across teachers and a resumed run hands each teacher back its own
done ids.

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
RESOLVE_HINT = "pass the teacher config through launch.teacher_configs.resolve_teacher_config first"


def resolve_teachers(entries: Any) -> list[tuple[str, dict[str, Any]]]:
    """`(label, teacher config)` for each entry of `teachers`, each an inline config (names already expanded by
    `launch.teacher_configs.resolve_teacher_config`)."""
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ValueError(
            f"multi teacher: `teachers` must be a non-empty list of teacher names or configs, got {entries!r}"
        )
    out: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str) or (isinstance(entry, Mapping) and entry.get("base")):
            name = entry if isinstance(entry, str) else f"base: {entry['base']}"
            raise ValueError(
                f"multi teacher: teachers[{i}] names a conf/teacher/ file ({name!r}) that is not resolved here; "
                f"{RESOLVE_HINT}"
            )
        if not isinstance(entry, Mapping):
            raise ValueError(f"multi teacher: teachers[{i}] must be a teacher config (a mapping), got {entry!r}")
        cfg = dict(entry)
        label = cfg.pop("label", None)
        cfg.pop("base", None)
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
    """The multi teacher of a resolved conf/teacher/multi.yaml config (`launch.teacher_configs.
    resolve_teacher_config`; each sub-teacher built through `build_teacher`)."""
    from sft.teachers.base import build_teacher

    valid = {"name", "backend", "teachers", "policy", "weights", "only_verified", "max_problems"}
    unknown = sorted(set(cfg) - valid)
    if unknown:
        raise ValueError(f"unknown multi teacher config key(s) {unknown}; valid: {sorted(valid)}")
    resolved = resolve_teachers(cfg["teachers"])
    teachers = [(label, build_teacher(sub)) for label, sub in resolved]
    return MultiTeacher(teachers, str(cfg["policy"]), cfg["weights"], configs=dict(resolved))
