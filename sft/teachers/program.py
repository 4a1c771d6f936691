"""The toy world's programmatic teacher: step-by-step traces written from a problem's structured steps.

Each trace is `<think>\n…\n</think>\n\\boxed{N}`. Distinct solution paths differ in phrasing (a sentence per
step, or bare equations) and in operand order of commutative steps; a configurable share of traces
carries one arithmetic slip that propagates to a wrong final answer, so that filtering matters.

`skip_share` makes the teacher skip steps, as large teachers do on steps they find easy ("adaptive depth"):
in that share of traces two consecutive operations are written as one line (`(20 + 4) * 3 = 72`) without the
intermediate result, which a small student has to compute in its head. Default 0: every step written out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

_SENTENCE = {
    "groups": "There are {eq} {items}.",
    "rate": "{name} picks {eq} {items}.",
    "add": "After {verb_ing} {b} more, there are {eq}.",
    "sub": "After {verb_ing} {b}, there are {eq} left.",
    "times": "{who} has {eq}.",
    "share": "Each friend gets {eq}.",
    "sell": "That makes {eq} dollars.",
}
_VERB_ING = {
    "finds": "finding",
    "buys": "buying",
    "is given": "being given",
    "gives away": "giving away",
    "loses": "losing",
    "donates": "donating",
}


@dataclass(frozen=True)
class ProgramTeacherConfig:
    """Knobs of the program teacher. No defaults: the values live in conf/teacher/program.yaml."""

    n_paths: int  # distinct solution paths per problem (at most 4 exist)
    wrong_share: float  # share of traces with one arithmetic slip (wrong final answer)
    seed: int
    skip_share: float  # share of traces that fold two consecutive steps into one line (no intermediate)

    def __post_init__(self) -> None:
        if not 1 <= self.n_paths <= 4:
            raise ValueError(f"n_paths must be in 1..4 (phrasing x operand order), got {self.n_paths}")
        if not 0.0 <= self.wrong_share <= 1.0:
            raise ValueError(f"wrong_share must be in [0, 1], got {self.wrong_share}")
        if not 0.0 <= self.skip_share <= 1.0:
            raise ValueError(f"skip_share must be in [0, 1], got {self.skip_share}")


def _apply(op: str, a: int, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a // b if b else 0


def _uses_previous(step: dict[str, Any]) -> bool:
    """Whether a step works on the previous step's result (a `groups` or `rate` step starts from its own numbers)."""
    return step["kind"] not in ("groups", "rate")


def foldable_steps(problem: dict[str, Any]) -> list[int]:
    """Indices i at which steps i and i + 1 can be written as one line (step i + 1 works on step i's result)."""
    steps = problem["steps"]
    return [i for i in range(len(steps) - 1) if _uses_previous(steps[i + 1])]


def _folded(inner: str, inner_op: str, op: str, b: int) -> str:
    """`inner op b` with brackets where precedence needs them: `(20 + 4) * 3`, `20 * 4 + 3`."""
    if inner_op in "+-" and op in "*/":  # same precedence is left-associative: no brackets needed
        inner = f"({inner})"
    return f"{inner} {op} {b}"


def write_trace(
    problem: dict[str, Any], path: int, slip_step: int | None = None, slip: int = 0, fold_step: int | None = None
) -> tuple[str, str]:
    """The trace for solution path `path` (0..3) and its final answer; `slip_step` adds `slip` to that step's result;
    `fold_step` = i writes steps i and i + 1 as one line without step i's result (see `foldable_steps`)."""
    if fold_step is not None and fold_step not in foldable_steps(problem):
        raise ValueError(
            f"fold_step={fold_step} is not foldable in {problem.get('id')!r}; valid: {foldable_steps(problem)}"
        )
    verbose, swap = path % 2 == 0, (path // 2) % 2 == 1
    lines, carried, pending = [], None, None
    for index, step in enumerate(problem["steps"]):
        a = carried if (carried is not None and _uses_previous(step)) else step["a"]
        b = step["b"]
        result = _apply(step["op"], a, b)
        if index == slip_step:
            result = max(0, result + slip)
        if pending is not None:  # the second half of a folded pair: the previous step's expression, not its value
            expression = _folded(pending[0], pending[1], step["op"], b)
            pending = None
        else:
            left, right = (b, a) if swap and step["op"] in "+*" else (a, b)
            expression = f"{left} {step['op']} {right}"
        carried = result
        if index == fold_step:
            pending = (expression, step["op"])
            continue
        eq = f"{expression} = {result}"
        if verbose:
            lines.append(
                _SENTENCE[step["kind"]].format(
                    eq=eq,
                    b=b,
                    items=problem.get("item", "item") + "s",
                    name=problem.get("name", ""),
                    who=step.get("who", ""),
                    verb_ing=_VERB_ING.get(step.get("verb", ""), "adding"),
                )
            )
        else:
            lines.append(eq)
    answer = str(carried)
    return "<think>\n" + "\n".join(lines) + "\n</think>\n\\boxed{" + answer + "}", answer


class ProgramTeacher:
    """Writes `n_paths` traces per problem; deterministic in (config, problem id)."""

    name = "program"

    def __init__(self, config: ProgramTeacherConfig) -> None:
        self.config = config

    @staticmethod
    def _slipped(
        problem: dict[str, Any], path: int, rng: random.Random, fold_step: int | None = None
    ) -> tuple[str, str] | None:
        """A trace with one arithmetic slip that really changes the final answer (a slip absorbed by a later
        floor division or by the clamp at 0 would give a 'verified' trace with false arithmetic), or None."""
        candidates = [(step, slip) for step in range(len(problem["steps"])) for slip in (-10, -2, -1, 1, 2, 10)]
        rng.shuffle(candidates)
        for step, slip in candidates:
            trace, answer = write_trace(problem, path, step, slip, fold_step)
            if answer != problem["final_answer"]:
                return trace, answer
        return None

    def traces(self, problem: dict[str, Any]) -> list[dict[str, Any]]:
        """Trace records for one problem (the paths that differ; `verified` set against the true answer)."""
        rng = random.Random(f"{self.config.seed}-{problem['id']}")
        # skipped steps draw from their own stream, so skip_share=0 writes exactly the traces it always wrote
        skip_rng = random.Random(f"{self.config.seed}-{problem['id']}-skip")
        paths = rng.sample(range(4), 4)
        foldable = foldable_steps(problem) if self.config.skip_share > 0 else []
        out, seen = [], set()
        for path in paths:
            if len(out) == self.config.n_paths:
                break
            fold = None
            if foldable and skip_rng.random() < self.config.skip_share:
                fold = skip_rng.choice(foldable)
            trace, answer = write_trace(problem, path, fold_step=fold)
            if rng.random() < self.config.wrong_share:
                trace, answer = self._slipped(problem, path, rng, fold) or (trace, answer)
            if trace in seen:
                continue
            seen.add(trace)
            out.append(
                {
                    "id": f"{problem['id']}/{self.name}/{path}",
                    "problem_id": problem["id"],
                    "problem": problem["question"],
                    "answer": problem["final_answer"],
                    "trace": trace,
                    "teacher": self.name,
                    "path": path,
                    "verified": answer == problem["final_answer"],
                    "skipped_step": fold,
                }
            )
        return out
