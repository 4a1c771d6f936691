"""The toy world's programmatic teacher: step-by-step traces written from a problem's structured steps.

Each trace is `<think>\n…\n</think>\n\\boxed{N}`. Distinct solution paths differ in phrasing (a sentence per
step, or bare equations) and in operand order of commutative steps; a configurable share of traces
carries one arithmetic slip that propagates to a wrong final answer, so that filtering matters.

`skip_share` makes the teacher skip steps, as large teachers do on steps they find easy ("adaptive depth"):
in that share of traces two consecutive operations are written as one line (`(20 + 4) * 3 = 72`) without the
intermediate result, which a small student has to compute in its head. Default 0: every step written out.

Paths: two phrasings (a sentence per step, bare equations) x two operand orders of commutative steps are paths 0-3
(as they always were); a third phrasing (`Step k: a op b = c`) x the two orders are paths 4 and 5, used only when
`n_paths` > 4, so at most `MAX_PATHS` = 6 distinct paths exist (fewer for a problem without a commutative step:
its two operand orders are the same trace, and duplicates are dropped).

Structure ablations (`ablation`, `ablation_share`; each draws from its own random stream, so `none` writes exactly
the traces it always wrote; the final answer is always kept, so every ablated trace still verifies):
`wrong_numbers` corrupts that share of the intermediate results (the next step reads the corrupted value, the
structure and the final answer stay), `delete_steps` deletes that share of the steps (never the last one, which
states the answer), `add_steps` adds that share of redundant steps (a true check of a step just written,
`72 / 3 = 24`). The trace format (`conf/format/`, data/trace_format.py) decides where the steps go.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from data.trace_format import TraceFormat

MAX_PATHS = 6  # 3 phrasings x 2 operand orders
ABLATIONS = ("none", "wrong_numbers", "delete_steps", "add_steps")

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

    n_paths: int  # distinct solution paths per problem (at most MAX_PATHS exist)
    wrong_share: float  # share of traces with one arithmetic slip (wrong final answer)
    seed: int
    skip_share: float  # share of traces that fold two consecutive steps into one line (no intermediate)
    ablation: str  # structure ablation: none | wrong_numbers | delete_steps | add_steps
    ablation_share: float  # share of the steps (intermediate results for wrong_numbers) the ablation touches

    def __post_init__(self) -> None:
        if not 1 <= self.n_paths <= MAX_PATHS:
            raise ValueError(
                f"n_paths must be in 1..{MAX_PATHS} (3 phrasings x 2 operand orders are all the distinct paths the "
                f"toy world can make), got {self.n_paths}"
            )
        if self.ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {self.ablation!r}; valid: {list(ABLATIONS)}")
        if not 0.0 <= self.ablation_share <= 1.0:
            raise ValueError(f"ablation_share must be in [0, 1], got {self.ablation_share}")
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


def _path_style(path: int) -> tuple[str, bool]:
    """(phrasing, operand swap) of solution path `path` (0..MAX_PATHS - 1)."""
    if not 0 <= path < MAX_PATHS:
        raise ValueError(f"path must be in 0..{MAX_PATHS - 1}, got {path}")
    if path < 4:  # the original four: sentence / bare x operand order
        return ("sentence" if path % 2 == 0 else "bare"), (path // 2) % 2 == 1
    return "numbered", path == 5


_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}


def trace_steps(
    problem: dict[str, Any],
    path: int,
    slip_step: int | None = None,
    slip: int = 0,
    fold_step: int | None = None,
    *,
    wrong: dict[int, int] | None = None,
    drop: frozenset[int] = frozenset(),
    checks: frozenset[int] = frozenset(),
) -> tuple[list[str], str]:
    """The reasoning lines of solution path `path` and its final answer (see `write_trace`). Ablations: `wrong`
    maps a step to an offset added to the result it shows (the next step reads the shown value, the true value is
    carried on); `drop` steps are not written; after each step of `checks` a redundant true check line follows."""
    if fold_step is not None and fold_step not in foldable_steps(problem):
        raise ValueError(
            f"fold_step={fold_step} is not foldable in {problem.get('id')!r}; valid: {foldable_steps(problem)}"
        )
    style, swap = _path_style(path)
    wrong = wrong or {}
    lines, carried, shown_carried, pending = [], None, None, None
    for index, step in enumerate(problem["steps"]):
        uses_previous = carried is not None and _uses_previous(step)
        a = carried if uses_previous else step["a"]
        shown_a = shown_carried if uses_previous else step["a"]
        b = step["b"]
        result = _apply(step["op"], a, b)
        if index == slip_step:
            result = max(0, result + slip)
        shown = max(0, result + wrong[index]) if index in wrong else result
        if pending is not None:  # the second half of a folded pair: the previous step's expression, not its value
            expression = _folded(pending[0], pending[1], step["op"], b)
            pending = None
        else:
            left, right = (b, shown_a) if swap and step["op"] in "+*" else (shown_a, b)
            expression = f"{left} {step['op']} {right}"
        carried, shown_carried = result, shown
        if index == fold_step:
            pending = (expression, step["op"])
            continue
        if index in drop:
            continue
        eq = f"{expression} = {shown}"
        if style == "sentence":
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
        elif style == "numbered":
            lines.append(f"Step {len(lines) + 1}: {eq}")
        else:
            lines.append(eq)
        if index in checks and b:
            lines.append(f"Check: {shown} {_INVERSE[step['op']]} {b} = {shown_a}")
    return lines, str(carried)


def write_trace(
    problem: dict[str, Any],
    path: int,
    slip_step: int | None = None,
    slip: int = 0,
    fold_step: int | None = None,
    fmt: TraceFormat | None = None,
    **ablation: Any,
) -> tuple[str, str]:
    """The trace for solution path `path` (0..MAX_PATHS - 1) and its final answer, in format `fmt` (default `pre`:
    `<think>\n…\n</think>\n\\boxed{N}`); `slip_step` adds `slip` to that step's result; `fold_step` = i writes
    steps i and i + 1 as one line without step i's result (see `foldable_steps`); `ablation`: see `trace_steps`."""
    lines, answer = trace_steps(problem, path, slip_step, slip, fold_step, **ablation)
    fmt = fmt or TraceFormat()
    return fmt.render(lines, answer, problem.get("n_steps", len(problem["steps"]))), answer


def ablation_plan(
    problem: dict[str, Any], ablation: str, share: float, rng: random.Random, fold_step: int | None = None
) -> dict[str, Any]:
    """The `trace_steps` arguments of one ablated trace: which steps get a wrong shown result (and its offset),
    are deleted, or are followed by a redundant check; `round(share * n)` of them (n: the intermediate results for
    wrong_numbers, the steps otherwise), never the last step (it states the answer) nor a folded pair's lines."""
    n = len(problem["steps"])
    if ablation == "none" or share <= 0:
        return {}
    folded = {fold_step, fold_step + 1} if fold_step is not None else set()
    if ablation == "add_steps":
        candidates = [i for i in range(n) if i not in folded]
        k = min(len(candidates), int(share * n + 0.5))
        return {"checks": frozenset(rng.sample(candidates, k))}
    candidates = [i for i in range(n - 1) if i not in folded]
    if ablation == "delete_steps":
        k = min(len(candidates), int(share * n + 0.5))
        return {"drop": frozenset(rng.sample(candidates, k))}
    k = min(len(candidates), int(share * (n - 1) + 0.5))
    wrong = {}
    for i in sorted(rng.sample(candidates, k)):
        wrong[i] = rng.choice([d for d in (-10, -2, -1, 1, 2, 10) if problem["steps"][i]["result"] + d >= 0])
    return {"wrong": wrong}


class ProgramTeacher:
    """Writes `n_paths` traces per problem in format `fmt`; deterministic in (config, format, problem id)."""

    name = "program"

    def __init__(self, config: ProgramTeacherConfig, fmt: TraceFormat | None = None) -> None:
        self.config = config
        self.fmt = fmt or TraceFormat()

    @staticmethod
    def _slipped(
        problem: dict[str, Any],
        path: int,
        rng: random.Random,
        fold_step: int | None = None,
        fmt: TraceFormat | None = None,
        **ablation: Any,
    ) -> tuple[str, str] | None:
        """A trace with one arithmetic slip that really changes the final answer (a slip absorbed by a later
        floor division or by the clamp at 0 would give a 'verified' trace with false arithmetic), or None."""
        candidates = [(step, slip) for step in range(len(problem["steps"])) for slip in (-10, -2, -1, 1, 2, 10)]
        rng.shuffle(candidates)
        for step, slip in candidates:
            trace, answer = write_trace(problem, path, step, slip, fold_step, fmt, **ablation)
            if answer != problem["final_answer"]:
                return trace, answer
        return None

    def traces(self, problem: dict[str, Any]) -> list[dict[str, Any]]:
        """Trace records for one problem (the paths that differ; `verified` set against the true answer)."""
        c = self.config
        rng = random.Random(f"{c.seed}-{problem['id']}")
        # skipped steps and ablations draw from their own streams, so skip_share=0 and ablation=none write exactly
        # the traces they always wrote
        skip_rng = random.Random(f"{c.seed}-{problem['id']}-skip")
        ablation_rng = random.Random(f"{c.seed}-{problem['id']}-ablation")
        paths = rng.sample(range(4), 4)
        if c.n_paths > 4:  # the third phrasing only when asked for: n_paths <= 4 keeps its draws and traces
            paths += list(range(4, MAX_PATHS))
        foldable = foldable_steps(problem) if c.skip_share > 0 else []
        out, seen = [], set()
        for path in paths:
            if len(out) == c.n_paths:
                break
            fold = None
            if foldable and skip_rng.random() < c.skip_share:
                fold = skip_rng.choice(foldable)
            ablation = ablation_plan(problem, c.ablation, c.ablation_share, ablation_rng, fold)
            trace, answer = write_trace(problem, path, fold_step=fold, fmt=self.fmt, **ablation)
            if rng.random() < c.wrong_share:
                trace, answer = self._slipped(problem, path, rng, fold, self.fmt, **ablation) or (trace, answer)
            if trace in seen:
                continue
            seen.add(trace)
            record = {
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
            if c.ablation != "none":
                record["ablation"] = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in ablation.items()}
            out.append(record)
        return out
