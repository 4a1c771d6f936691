"""The embedded default world: a seeded generator of multi-step arithmetic word problems.

Problems are GSM8K records (`question`, `answer` = worked solution ending in `#### N`) plus the
structured `steps` the programmatic teacher reads. Every problem is a chain of 1-operation steps on one
quantity (buying, groups of, giving away, sharing, rates, times as many); `min_steps..max_steps` is the
difficulty knob. All intermediate values and answers are integers in `[0, max_value]`.

The held-out test split is generated first from its own random stream; training problems whose
signature (templates + numbers) occurs in the test split are skipped, so no test problem is ever
trained on, not even reworded. A dev split (for tuning; the test split is for reporting) comes from a third
stream after both, skipping every train and test signature.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

NAMES = [
    "Mia",
    "Leo",
    "Ava",
    "Noah",
    "Zoe",
    "Omar",
    "Lena",
    "Ivan",
    "Ruth",
    "Sam",
    "Nina",
    "Theo",
    "Ella",
    "Kofi",
    "Maya",
    "Raj",
    "Ada",
    "Finn",
    "Lila",
    "Jon",
]
ITEMS = [
    "apple",
    "marble",
    "sticker",
    "pencil",
    "cookie",
    "shell",
    "card",
    "egg",
    "book",
    "flower",
    "coin",
    "stamp",
    "button",
    "orange",
    "candle",
    "ribbon",
    "bead",
    "toy car",
    "muffin",
    "kite",
]


SPLITS = ("train", "test", "dev")  # dev: for tuning (eval.split=dev); test: for reporting


@dataclass(frozen=True)
class ToyWorldConfig:
    """Knobs of the toy world. No defaults: the values live in conf/data/toy.yaml (its one source; the pipeline
    passes the composed `data` group, tests read the preset through tests/_presets.py)."""

    n_train: int
    n_test: int
    n_dev: int
    min_steps: int
    max_steps: int
    max_value: int
    max_factor: int
    max_addend: int
    seed: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_steps <= self.max_steps:
            raise ValueError(
                f"need 1 <= min_steps <= max_steps, got min_steps={self.min_steps}, max_steps={self.max_steps}"
            )
        if self.max_value < 20 or self.max_factor < 2 or self.max_addend < 2:
            raise ValueError(
                f"toy world ranges too small: max_value={self.max_value} (>=20), "
                f"max_factor={self.max_factor} (>=2), max_addend={self.max_addend} (>=2)"
            )


@dataclass
class _Story:
    name: str
    item: str
    friend: str
    subject: str  # whose quantity the chain is about now
    value: int
    sentences: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    question: str = ""
    closed: bool = False  # a closing step (share / sell) ends the chain


def _plural(item: str) -> str:
    return item + "s"


def _step(kind: str, op: str, a: int, b: int, result: int, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "op": op, "a": a, "b": b, "result": result, **extra}


class ToyWorld:
    """Generates problems; `problems(split)` is deterministic in (config, split)."""

    def __init__(self, config: ToyWorldConfig) -> None:
        self.config = config

    # ---- openings -------------------------------------------------------------------------
    def _open(self, rng: random.Random, story: _Story, use_op: bool) -> int:
        c, items = self.config, _plural(story.item)
        if not use_op:
            story.value = rng.randint(5, min(60, c.max_value))
            story.sentences.append(f"{story.name} has {story.value} {items}.")
            return 0
        a = rng.randint(2, min(c.max_factor, c.max_value // 2))
        b = rng.randint(2, min(12, c.max_value // a))
        story.value = a * b
        if rng.random() < 0.5:
            story.sentences.append(f"{story.name} has {a} boxes of {items} with {b} {items} in each box.")
            story.steps.append(_step("groups", "*", a, b, a * b))
        else:
            story.sentences.append(f"{story.name} picks {b} {items} every hour for {a} hours.")
            story.steps.append(_step("rate", "*", a, b, a * b))
        return 1

    # ---- one middle or closing operation ---------------------------------------------------
    def _extend(self, rng: random.Random, story: _Story, last: bool) -> bool:
        c, items, x = self.config, _plural(story.item), story.value
        kinds = ["add", "sub", "times"] + (["share", "sell"] if last else [])
        kind = rng.choice(kinds)
        if kind == "add":
            k = rng.randint(2, c.max_addend)
            if x + k > c.max_value:
                return False
            verb = rng.choice(["finds", "buys", "is given"])
            story.sentences.append(f"{story.subject} {verb} {k} more {items}.")
            story.steps.append(_step("add", "+", x, k, x + k, verb=verb))
            story.value = x + k
        elif kind == "sub":
            if x < 3:
                return False
            k = rng.randint(1, min(x - 1, c.max_addend))
            verb = rng.choice(["gives away", "loses", "donates"])
            story.sentences.append(f"{story.subject} {verb} {k} {items}.")
            story.steps.append(_step("sub", "-", x, k, x - k, verb=verb))
            story.value = x - k
        elif kind == "times":
            k = rng.randint(2, min(4, c.max_factor))
            if x * k > c.max_value or x < 2:
                return False
            who = story.friend
            story.sentences.append(f"{who} has {k} times as many {items} as {story.subject}.")
            story.steps.append(_step("times", "*", x, k, x * k, who=who))
            story.subject, story.value = who, x * k
        elif kind == "share":
            divisors = [k for k in range(2, min(c.max_factor, 9) + 1) if x % k == 0 and x // k >= 1]
            if not divisors:
                return False
            k = rng.choice(divisors)
            story.sentences.append(f"{story.subject} shares the {items} equally among {k} friends.")
            story.question = f"How many {items} does each friend get?"
            story.steps.append(_step("share", "/", x, k, x // k))
            story.value, story.closed = x // k, True
        else:  # sell
            p = rng.randint(2, c.max_factor)
            if x * p > c.max_value:
                return False
            story.sentences.append(f"{story.subject} sells each {story.item} for ${p}.")
            story.question = f"How many dollars does {story.subject} get?"
            story.steps.append(_step("sell", "*", x, p, x * p))
            story.value, story.closed = x * p, True
        return True

    def _problem(self, rng: random.Random) -> dict[str, Any] | None:
        c = self.config
        n_ops = rng.randint(c.min_steps, c.max_steps)
        name, friend = rng.sample(NAMES, 2)
        story = _Story(name=name, item=rng.choice(ITEMS), friend=friend, subject=name, value=0)
        done = self._open(rng, story, use_op=rng.random() < 0.5)
        tries = 0
        while done < n_ops:
            tries += 1
            if tries > 50:
                return None
            if self._extend(rng, story, last=done == n_ops - 1):
                done += 1
        if not story.closed:
            story.question = f"How many {_plural(story.item)} does {story.subject} have now?"
        question = " ".join(story.sentences + [story.question])
        answer = story.value
        solution = (
            "\n".join(
                f"{s['a']} {s['op']} {s['b']} = <<{s['a']}{s['op']}{s['b']}={s['result']}>>{s['result']}"
                for s in story.steps
            )
            + f"\n#### {answer}"
        )
        return {
            "question": question,
            "answer": solution,
            "final_answer": str(answer),
            "steps": story.steps,
            "n_steps": len(story.steps),
            "start": story.sentences[0],
            "item": story.item,
            "name": name,
        }

    @staticmethod
    def signature(problem: dict[str, Any]) -> str:
        """What makes two problems the same problem: the question with names and items removed."""
        return (
            " ".join(f"{s['kind']}:{s['a']}{s['op']}{s['b']}" for s in problem["steps"])
            + "|"
            + problem["start"].split(" ", 1)[1].replace(problem["item"], "ITEM")
        )

    def _stream(self, split: str) -> Iterator[dict[str, Any]]:
        rng = random.Random(f"{self.config.seed}-{split}")
        while True:
            problem = self._problem(rng)
            if problem is not None:
                yield problem

    def _unique(self, split: str, wanted: int, seen: set[str]) -> list[dict[str, Any]]:
        """`wanted` problems of `split` whose signatures are not in `seen` (which it extends)."""
        out: list[dict[str, Any]] = []
        misses = 0
        for problem in self._stream(split):
            if len(out) == wanted:
                break
            sig = self.signature(problem)
            if sig in seen:
                misses += 1
                if misses > 1000 + 50 * wanted:
                    raise ValueError(
                        f"the toy world is too small for n_{split}={wanted}: only {len(out)} new distinct problems "
                        f"found; widen max_value / max_factor / max_addend / steps or ask for fewer problems"
                    )
                continue
            seen.add(sig)
            out.append(problem)
        return out

    def problems(self, split: str) -> list[dict[str, Any]]:
        """The `train`, `test` or `dev` split: `n_train` / `n_test` / `n_dev` unique problems, no signature in two
        splits. Test is drawn first, then train, then dev (so adding a dev split leaves train and test as they were)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(map(repr, SPLITS))}")
        seen: set[str] = set()
        test = self._unique("test", self.config.n_test, seen)
        if split == "test":
            return [{"id": f"toy-test-{i}", **p} for i, p in enumerate(test)]
        train = self._unique("train", self.config.n_train, seen)
        if split == "train":
            return [{"id": f"toy-train-{i}", **p} for i, p in enumerate(train)]
        dev = self._unique("dev", self.config.n_dev, seen)
        return [{"id": f"toy-dev-{i}", **p} for i, p in enumerate(dev)]

    def arithmetic_facts(self, n: int, seed: int) -> list[str]:
        """Single operations `a op b = c` over the world's number ranges (pretraining text)."""
        rng, c, facts = random.Random(f"{self.config.seed}-facts-{seed}"), self.config, []
        while len(facts) < n:
            op = rng.choice("+-*/")
            if op == "+":
                a = rng.randint(0, c.max_value)
                b = (
                    rng.randint(0, min(c.max_addend, c.max_value - a))
                    if rng.random() < 0.8
                    else rng.randint(0, c.max_value - a)
                )
                facts.append(f"{a} + {b} = {a + b}")
            elif op == "-":
                a = rng.randint(0, c.max_value)
                b = rng.randint(0, min(a, c.max_addend)) if rng.random() < 0.8 else rng.randint(0, a)
                facts.append(f"{a} - {b} = {a - b}")
            elif op == "*":
                b = rng.randint(0, c.max_factor)
                a = rng.randint(0, c.max_value // max(b, 1))
                facts.append(f"{a} * {b} = {a * b}" if rng.random() < 0.5 else f"{b} * {a} = {a * b}")
            else:
                b = rng.randint(1, c.max_factor)
                q = rng.randint(0, c.max_value // b)
                facts.append(f"{q * b} / {b} = {q}")
        return facts


# ---- the template-shift split ------------------------------------------------------------------------------------
# Surface stories the generator above never writes (names, items and sentence templates), for the same arithmetic:
# `shift_problem` re-tells a held-out problem with them, so accuracy on the shifted split beside the usual held-out
# accuracy measures how much a student leans on the training templates.
SHIFT_NAMES = ["Greta", "Hugo", "Iris", "Pablo", "Wanda", "Yusuf", "Clara", "Dmitri", "Esme", "Felix"]
SHIFT_ITEMS = ["plum", "walnut", "crayon", "sock", "pebble", "tulip", "mitten", "cupcake", "feather", "lantern"]
_SHIFT_TEMPLATES = {
    "start": "At first, {name} owns {a} {items}.",
    "groups": "{name} owns {a} crates, and every crate holds {b} {items}.",
    "rate": "For {a} hours, {name} gathers {b} {items} per hour.",
    "add": "Later, {subject} receives another {b} {items}.",
    "sub": "Then {subject} hands {b} {items} to a neighbour.",
    "times": "{who} owns {b} times the number of {items} that {subject} owns.",
    "share": "{subject} splits the {items} evenly between {b} cousins.",
    "sell": "{subject} charges ${b} per {item}.",
}
_SHIFT_QUESTIONS = {
    "share": "How many {items} does every cousin receive?",
    "sell": "How much money, in dollars, does {subject} make?",
    None: "How many {items} does {subject} own in the end?",
}


def shift_problem(problem: dict[str, Any]) -> dict[str, Any]:
    """`problem` re-told in surface stories never used in training (SHIFT_NAMES, SHIFT_ITEMS, _SHIFT_TEMPLATES):
    the same steps, numbers and answer; id `<id>-shift`. Deterministic in the problem."""
    names = {n: SHIFT_NAMES[i % len(SHIFT_NAMES)] for i, n in enumerate(NAMES)}
    item = SHIFT_ITEMS[ITEMS.index(problem["item"]) % len(SHIFT_ITEMS)] if problem["item"] in ITEMS else "plum"
    items = _plural(item)
    name = names.get(problem["name"], "Greta")
    subject, sentences = name, []
    steps = problem["steps"]
    if steps[0]["kind"] not in ("groups", "rate"):
        sentences.append(_SHIFT_TEMPLATES["start"].format(name=name, a=steps[0]["a"], items=items))
    closing = None
    for step in steps:
        who = names.get(step.get("who", ""), "Hugo")
        if who == name:  # two training names share a shifted one: the friend stays someone else
            who = SHIFT_NAMES[(SHIFT_NAMES.index(who) + 1) % len(SHIFT_NAMES)]
        sentences.append(
            _SHIFT_TEMPLATES[step["kind"]].format(
                name=name, subject=subject, who=who, a=step["a"], b=step["b"], items=items, item=item
            )
        )
        if step["kind"] == "times":
            subject = who
        if step["kind"] in ("share", "sell"):
            closing = step["kind"]
    sentences.append(_SHIFT_QUESTIONS[closing].format(items=items, subject=subject))
    return {**problem, "id": f"{problem['id']}-shift", "question": " ".join(sentences), "name": name, "item": item}
