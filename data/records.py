"""The project's record schemas, as TypedDicts, and the chat formatting of prompt / trace / answer.

Problem records use the GSM8K layout (`question`, `answer` ending in `#### N`) plus an `id`;
trace records are `{id, problem, answer, trace, teacher, verified, tokens, ...}` (one JSONL line each).
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

# One system-free user turn; the instruction is part of every prompt so that a hub model sees it too.
PROMPT_SUFFIX = "\nPut the final answer in \\boxed{}."


class ProblemRecord(TypedDict, total=False):
    id: str
    question: str
    answer: str  # GSM8K worked solution ending in "#### N"
    final_answer: str  # N, as a string
    steps: list[dict[str, Any]]  # structured solution (toy world only), read by the program teacher
    n_steps: int


class TraceRecord(TypedDict, total=False):
    id: str  # f"{problem_id}/{teacher}/{path}"
    problem_id: str
    problem: str
    answer: str  # gold final answer
    trace: str  # the completion: "<think>...</think>\n\\boxed{N}"
    teacher: str
    path: int
    verified: bool
    tokens: int


_GSM8K_FINAL = re.compile(r"####\s*(-?[\d,]*\.?\d+)\s*$")


def gsm8k_final_answer(solution: str) -> str:
    """The number after `####` in a GSM8K solution, commas removed; ValueError when there is none."""
    match = _GSM8K_FINAL.search(solution.strip())
    if match is None:
        raise ValueError(f"GSM8K solution has no final '#### N' line: {solution[-80:]!r}")
    return match.group(1).replace(",", "")


def prompt_messages(question: str) -> list[dict[str, str]]:
    """The conversational prompt for one problem (TRL prompt-completion format)."""
    return [{"role": "user", "content": question + PROMPT_SUFFIX}]


def teacher_messages(problem: dict[str, Any], fmt: Any = None) -> list[dict[str, str]]:
    """The prompt a hub teacher (hf, vllm, openai) gets for `problem`: the pipeline's prompt for the `pre` format
    (None), else the format's instruction (data/trace_format.py TraceFormat.teacher_prompt; adaptive adds Qwen3's
    `/think` or `/no_think` when the problem's operation count `n_steps` is known)."""
    if fmt is None or fmt.is_default:
        return prompt_messages(problem["question"])
    return [{"role": "user", "content": fmt.teacher_prompt(problem["question"], problem.get("n_steps"))}]


def completion_messages(completion: str) -> list[dict[str, str]]:
    """The conversational completion (the assistant turn) for one trace or answer."""
    return [{"role": "assistant", "content": completion}]


def answer_only_completion(final_answer: str) -> str:
    """The answer-only SFT target (the reference study's Orca-Math-style baseline): no reasoning."""
    return f"\\boxed{{{final_answer}}}"
