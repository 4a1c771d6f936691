"""Turn pipeline problems and benchmark items into one eval item schema, with the user prompt of each.

Two inputs are accepted:

* pipeline problems (the toy world's splits): ``{id, question, final_answer, ...}`` -- answer type
  ``number``, prompted as the pipeline trains (question + the records' ``\\boxed{}`` instruction);
* benchmark items (:mod:`data.benchmarks`): ``{id, question, answer, answer_type, choices, source, ...}`` --
  prompted with the benchmark's own template (:func:`data.benchmarks.format_prompt`).

An eval item is ``{id, question, gold, answer_type, choices, source, user_prompt}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from data.benchmarks import ANSWER_TYPES, format_prompt
from data.records import prompt_messages


class EvalItem(TypedDict):
    """One problem as the harness sees it."""

    id: str
    question: str
    gold: str
    answer_type: str
    choices: list[str] | None
    source: str | None
    user_prompt: str


def to_eval_item(item: Mapping[str, Any], template: str | None = None) -> EvalItem:
    """The eval item for a pipeline problem or a benchmark item; ``template`` overrides the prompt template."""
    missing = [key for key in ("id", "question") if key not in item]
    if missing:
        raise ValueError(
            f"eval item lacks {missing}; give pipeline problems {{id, question, final_answer}} or "
            f"benchmark items {{id, question, answer, answer_type}}; got keys {sorted(item)}"
        )
    if "answer_type" in item and "answer" in item:  # a benchmark item
        answer_type = item["answer_type"]
        if answer_type not in ANSWER_TYPES:
            raise ValueError(f"item {item['id']!r}: answer_type {answer_type!r} is not one of {list(ANSWER_TYPES)}")
        return EvalItem(
            id=item["id"],
            question=str(item["question"]),
            gold=str(item["answer"]),
            answer_type=answer_type,
            choices=item.get("choices"),
            source=item.get("source"),
            user_prompt=format_prompt(dict(item), template),
        )
    if "final_answer" in item:  # a pipeline problem (GSM8K record layout)
        question = str(item["question"])
        user = (
            prompt_messages(question)[0]["content"]
            if template is None
            else format_prompt({"id": item["id"], "question": question, "answer_type": "number"}, template)
        )
        return EvalItem(
            id=item["id"],
            question=question,
            gold=str(item["final_answer"]),
            answer_type="number",
            choices=None,
            source=None,
            user_prompt=user,
        )
    raise ValueError(
        f"eval item {item['id']!r} has neither `final_answer` (pipeline problem) nor `answer` + "
        f"`answer_type` (benchmark item); got keys {sorted(item)}"
    )


def to_eval_items(items: list[Mapping[str, Any]], template: str | None = None) -> list[EvalItem]:
    """:func:`to_eval_item` over a list; ids must be unique (a resumed run skips items by id)."""
    out = [to_eval_item(item, template) for item in items]
    seen: set[str] = set()
    duplicates = sorted({str(it["id"]) for it in out if str(it["id"]) in seen or seen.add(str(it["id"]))})
    if duplicates:
        raise ValueError(
            f"eval item ids must be unique (resume skips finished items by id); duplicated: {duplicates[:10]}"
        )
    return out
