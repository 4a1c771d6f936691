"""Word n-grams of a text, the one definition both decontamination checks use: the data stage's (training problems
against the held-out questions, data/sources.py) and the trace filters' (sft/filters.py)."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")


def normalize(text: str) -> list[str]:
    """Lower-cased word tokens (punctuation and whitespace dropped)."""
    return _WORD.findall(text.lower())


def ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    """Word n-grams; a text shorter than n gives itself as one gram."""
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}
