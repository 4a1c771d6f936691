"""Score completions against an item's gold answer, and give the key each answer votes with in maj@k.

Numbers and LaTeX expressions go through the bounded math verifier (:func:`rewards.verify_batch`: the final
``\\boxed{}`` outside ``<think>``, exact numbers, math-verify in a worker with a hard time bound); choice letters
and yes/no through :mod:`eval.choice`. Works on given completions, so it is testable without a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eval.choice import extract_choice, extract_yesno, normalize_gold_choice, normalize_gold_yesno
from rewards import verify_batch

Scored = tuple[list[str | None], list[bool]]  # (extracted answers, verdicts), one per completion


def _score_choice(item: Mapping[str, Any], completions: Sequence[str]) -> Scored:
    if item["answer_type"] == "choice":
        gold = normalize_gold_choice(item["gold"])
        choices = item.get("choices")
        n = len(choices) if choices else 26
        answers = [extract_choice(text, n) for text in completions]
    else:
        gold = normalize_gold_yesno(item["gold"])
        answers = [extract_yesno(text) for text in completions]
    return answers, [answer == gold for answer in answers]


def score_many(items: Sequence[Mapping[str, Any]], completions: Sequence[Sequence[str]]) -> list[Scored]:
    """(answers, verdicts) for each item's completions; the math items of the whole batch are verified together."""
    if len(items) != len(completions):
        raise ValueError(f"{len(items)} items but {len(completions)} lists of completions")
    out: list[Scored | None] = [None] * len(items)
    math_pairs: list[tuple[int, str, str]] = []
    for index, (item, texts) in enumerate(zip(items, completions)):
        if item["answer_type"] in ("number", "expression"):
            math_pairs += [(index, text, str(item["gold"])) for text in texts]
        elif item["answer_type"] in ("choice", "yesno"):
            out[index] = _score_choice(item, texts)
        else:
            raise ValueError(
                f"item {item.get('id')!r}: answer_type {item['answer_type']!r} is not one of "
                "['number', 'expression', 'choice', 'yesno']"
            )
    if math_pairs:
        results = verify_batch([text for _, text, _ in math_pairs], [gold for _, _, gold in math_pairs])
        for (index, _, _), result in zip(math_pairs, results):
            if out[index] is None:
                out[index] = ([], [])
            out[index][0].append(result.pred_answer)
            out[index][1].append(bool(result.correct))
    return [scored if scored is not None else ([], []) for scored in out]


def score_completions(item: Mapping[str, Any], completions: Sequence[str]) -> Scored:
    """(answers, verdicts) of one item's completions (see :func:`score_many`)."""
    return score_many([item], [completions])[0]


def _math_vote_key(answer: str) -> str | None:
    from rewards.extract import clean_answer
    from rewards.fast_path import parse_number, structural_key

    cleaned = clean_answer(answer)
    if cleaned is None:
        return None
    number = parse_number(cleaned)
    if number is not None:
        return str(number.value)  # "0.5", "1/2", "\\frac{1}{2}" and "$0.50" vote together
    return structural_key(cleaned) or cleaned


def vote_key(answer: str | None, answer_type: str) -> str | None:
    """The key an extracted answer votes with in maj@k (equal values vote together); None does not vote."""
    if answer is None:
        return None
    if answer_type in ("number", "expression"):
        return _math_vote_key(answer)
    return answer  # choice letters and yes/no are already normalised
