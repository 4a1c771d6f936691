"""Trace formats (`conf/format/*.yaml`): where the reasoning goes relative to the answer, read by every stage that
writes or reads a trace (teachers, SFT rows, the rewards, eval).

* `pre` (the default, what the project always did): `<think>\\n<steps>\\n</think>\\n\\boxed{N}`: reason, then answer.
* `post`: `\\boxed{N}\\n<steps>`: the answer first, then its justification as plain text (no think block, so that
  Qwen3's chat template, which moves a `<think>` block out of the visible content, leaves it alone; with a Qwen3
  model the format maps onto `enable_thinking=False`, see `chat_kwargs`). The answer is read from the LEADING
  region only (`answer_region`): a number in the justification is never the answer.
* `adaptive`: the full `pre` trace for a problem that needs it (at least `min_ops` operations) and an empty think
  block (`<think>\\n\\n</think>\\n\\boxed{N}`, what a Qwen3 model writes under `/no_think`) for an easy one; the
  student chooses per problem and eval measures its choice (`is_long`: a think block with text in it).

This module imports nothing of the project, so data/, rewards/, eval/, sft/ and rl/ all read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FORMATS = ("pre", "post", "adaptive")
EMPTY_THINK = "<think>\n\n</think>\n"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_BOX = "\\boxed{"
# What a hub teacher is told, per format (appended to the question; `pre` keeps the pipeline's own instruction).
PRE_INSTRUCTION = "\nPut the final answer in \\boxed{}."
POST_INSTRUCTION = (
    "\nStart your reply with the final answer in \\boxed{}, then explain step by step how you got it. "
    "Do not think before the answer."
)
ADAPTIVE_INSTRUCTION = (
    "\nThink step by step only if the problem needs it; for an easy problem answer at once. "
    "Put the final answer in \\boxed{}."
)


@dataclass(frozen=True)
class TraceFormat:
    """One trace format (conf/format/<name>.yaml). `min_ops`: adaptive only, the fewest operations a problem needs
    for the full trace (fewer: an empty think block); null for pre and post."""

    name: str = "pre"
    min_ops: int | None = None

    def __post_init__(self) -> None:
        if self.name not in FORMATS:
            raise ValueError(f"unknown format {self.name!r}; valid: {list(FORMATS)}")
        if self.name == "adaptive":
            if isinstance(self.min_ops, bool) or not isinstance(self.min_ops, int) or self.min_ops < 1:
                raise ValueError(f"format=adaptive needs format.min_ops, an integer >= 1; got {self.min_ops!r}")
        elif self.min_ops is not None:
            raise ValueError(f"format.min_ops is read by format=adaptive only; format={self.name} needs null")

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any] | None) -> TraceFormat:
        """The format of a `format` config node (None or absent: `pre`)."""
        if cfg is None:
            return cls()
        unknown = sorted(set(cfg) - {"name", "min_ops"})
        if unknown:
            raise ValueError(f"unknown format key(s) {unknown}; valid: ['min_ops', 'name']")
        return cls(name=str(cfg.get("name", "pre")), min_ops=cfg.get("min_ops"))

    @property
    def is_default(self) -> bool:
        """`pre`: every stage behaves (and fingerprints) exactly as before formats existed."""
        return self.name == "pre"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "min_ops": self.min_ops}

    # ---- writing --------------------------------------------------------------------------------------------
    def thinks(self, n_ops: int | None) -> bool:
        """Whether a problem of `n_ops` operations gets the full reasoning (always, but for easy adaptive ones)."""
        if self.name != "adaptive" or n_ops is None:
            return True
        return n_ops >= int(self.min_ops or 0)

    def render(self, lines: list[str], answer: str, n_ops: int | None = None) -> str:
        """The completion for reasoning `lines` and final `answer` in this format."""
        box = "\\boxed{" + str(answer) + "}"
        if self.name == "post":
            return box + "\n" + "\n".join(lines)
        if not self.thinks(n_ops):
            return EMPTY_THINK + box
        return "<think>\n" + "\n".join(lines) + "\n</think>\n" + box

    def teacher_prompt(self, question: str, n_ops: int | None = None) -> str:
        """The user prompt a hub teacher (hf, vllm, openai) gets. Adaptive on a problem whose operation count is known
        (the toy world) adds Qwen3's soft switch: `/no_think` for an easy problem, `/think` for one that needs it."""
        if self.name == "post":
            return question + POST_INSTRUCTION
        if self.name == "adaptive":
            switch = "" if n_ops is None else (" /think" if self.thinks(n_ops) else " /no_think")
            return question + ADAPTIVE_INSTRUCTION + switch
        return question + PRE_INSTRUCTION

    def chat_kwargs(self) -> dict[str, Any]:
        """Extra `apply_chat_template` arguments: `post` answers without a think block, which a Qwen3 chat template
        gets from `enable_thinking=False` (it then puts an empty block in the prompt). Templates without the
        variable ignore it."""
        return {"enable_thinking": False} if self.name == "post" else {}

    # ---- reading --------------------------------------------------------------------------------------------
    def answer_region(self, text: str) -> str:
        """The part of a completion the final answer is read from: all of it for pre and adaptive (the extractor
        reads the last answer outside the think block); for post only the leading answer: up to the end of the
        first `\\boxed{...}` (after an optional empty think block), or the first non-empty line without a box,
        so that a number in the justification is never taken for the answer."""
        if self.name != "post" or not isinstance(text, str):
            return text
        s = text.lstrip()
        if s.startswith(THINK_OPEN) and THINK_CLOSE in s:  # a Qwen3 non-thinking completion's empty block
            head, rest = s.split(THINK_CLOSE, 1)
            if not head[len(THINK_OPEN) :].strip():
                s = rest.lstrip()
        start = s.find(_BOX)
        if start >= 0:
            end = _close_brace(s, start + len(_BOX))
            if end is not None:
                return s[: end + 1]
        for line in s.splitlines():
            if line.strip():
                return line
        return ""

    def reasoning(self, text: str) -> str:
        """The reasoning of a completion: the think block (pre, adaptive; all the text before `</think>` when the
        open tag is missing), or for post what follows the leading answer."""
        if not isinstance(text, str):
            return ""
        if self.name == "post":
            region = self.answer_region(text)
            rest = text.lstrip()
            index = rest.find(region) if region else -1
            return rest[index + len(region) :] if index >= 0 else rest
        if THINK_CLOSE not in text:
            return text.split(THINK_OPEN, 1)[1] if THINK_OPEN in text else ""
        head = text.split(THINK_CLOSE, 1)[0]
        return head.split(THINK_OPEN, 1)[1] if THINK_OPEN in head else head

    def is_long(self, text: str) -> bool:
        """Whether a completion reasons at length (a non-empty think block / justification): the student's choice
        that eval measures for adaptive."""
        return bool(self.reasoning(text).strip())


def _close_brace(s: str, i: int) -> int | None:
    """Index of the `}` closing the brace opened just before `i`, or None."""
    depth = 1
    while i < len(s):
        if s[i] == "{":
            depth += 1
        elif s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def trace_format(name_or_cfg: Any) -> TraceFormat:
    """A TraceFormat from a name, a config mapping, a TraceFormat or None (`pre`)."""
    if isinstance(name_or_cfg, TraceFormat):
        return name_or_cfg
    if name_or_cfg is None or isinstance(name_or_cfg, str):
        name = name_or_cfg or "pre"
        return TraceFormat(name=name, min_ops=1 if name == "adaptive" else None)
    return TraceFormat.from_mapping(name_or_cfg)
