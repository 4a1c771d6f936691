"""Read the final multiple-choice letter or yes/no verdict out of a model completion, and score it.

Extraction rules (both :func:`extract_choice` and :func:`extract_yesno`):

* If the completion has a closed ``<think>…</think>`` block, only the text after the LAST
  ``</think>`` is searched first; the reasoning is searched only when that tail states no answer
  (e.g. a completion whose answer is still inside the reasoning).
* Only the last :data:`MAX_CHARS` characters of the searched text are read (bounded work), and every
  pattern uses bounded quantifiers, so there is no catastrophic backtracking.
* Statements come in two strengths. Explicit ones — ``\\boxed{C}`` and ``Answer: C`` /
  ``the answer is C`` — beat loose mentions — ``(C)``, a line starting ``C.``, ``**C**``,
  ``option C``, a trailing ``C.``. Within the strongest kind present, the LAST one in the text wins,
  so ``Answer: A … wait, the answer is C`` gives ``C`` while ``\\boxed{C} (not (A))`` also gives ``C``.

Numbers and LaTeX expressions are scored elsewhere (the math verifier); this module only does letters
and yes/no.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

MAX_CHARS = 4000
_THINK_CLOSE = "</think>"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# A letter answer must end here: punctuation, end of line/text, or a short continuation word.
_END = r"(?=[ \t]{0,3}(?:[).,;:!?*}\]<\n]|$)|[ \t]{1,3}(?:(?:because|since|as|which)\b|--?|—|\())"
# "Answer", "answer is", "the answer to this question is", "correct option:", ...
_ANSWER_KEY = (
    r"(?i:\b(?:answer|correct\s{1,3}(?:option|choice)|best\s{1,3}(?:option|choice))\b)"
    r"(?:[^\n.]{0,40}?(?i:\bis\b|\bbe\b))?"
    r"[\s*:]{0,6}"
)
_BOXED_OPEN = r"\\boxed\s{0,3}\{\s{0,3}(?:\\(?:text|textbf|mathrm|mathbf)\s{0,3}\{\s{0,3})?"


@lru_cache(maxsize=32)
def _choice_patterns(n_choices: int) -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
    upper = _LETTERS[:n_choices]
    L = f"[{upper}]"
    Li = f"[{upper}{upper.lower()}]"
    strong = [
        re.compile(_BOXED_OPEN + rf"\(?\s{{0,3}}({Li})\s{{0,3}}[).:}}]"),
        re.compile(_ANSWER_KEY + rf"(?i:(?:option|choice)\s{{1,3}})?\(?[ \t]{{0,2}}({L})\)?" + _END, re.M),
    ]
    weak = [
        re.compile(rf"\(({L})\)"),  # (C)
        re.compile(rf"^[ \t>#*-]{{0,6}}\(?({L})[.):](?=\s|$)", re.M),  # line starting "C." / "C)"
        re.compile(rf"\*\*[ \t]{{0,2}}\(?({L})\)?[.:)]?[ \t]{{0,2}}\*\*"),  # **C**
        re.compile(rf"\*\*[ \t]{{0,2}}\(?({L})[.):][ \t]"),  # **C. text**
        re.compile(rf"(?i:\b(?:option|choice|choose|chose|pick|select))[ \t]{{1,3}}\(?({L})\)?(?![A-Za-z0-9])"),
        re.compile(rf"^[ \t*]{{0,4}}\(?({L})\)?[.!]?[ \t*]{{0,4}}$", re.M),  # a line holding only "C"
        re.compile(rf"(?<![A-Za-z0-9\\])({L})[ \t]{{0,2}}[.)!]?\s{{0,5}}\Z"),  # text ends "... C."
    ]
    return strong, weak


_YN = r"(yes|no|true|false)"
_YESNO_STRONG = [
    re.compile(_BOXED_OPEN + r"(?i:" + _YN + r")(?![A-Za-z])"),
    re.compile(_ANSWER_KEY + r"(?i:" + _YN + r")\b"),
]
_YESNO_WEAK = [
    re.compile(r"(?i)\*\*[ \t]{0,2}" + _YN + r"[.!]?[ \t]{0,2}\*\*"),  # **Yes**
    re.compile(r"(?im)^[ \t*]{0,4}" + _YN + r"[.!]?[ \t*]{0,4}$"),  # a line holding only "No."
    re.compile(r"(?im)(?:^|(?<=[.!?] ))[ \t*]{0,3}(yes|no)(?=[,.!;:])"),  # "No, because ..."
    re.compile(r"(?i)\b(yes|no)[ \t]{0,2}[.!]?\s{0,5}\Z"),  # text ends "... so, no."
]
_YESNO_MAP = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}


def _last_match(text: str, patterns: list[re.Pattern[str]]) -> str | None:
    best_pos, best = -1, None
    for pattern in patterns:
        for m in pattern.finditer(text):
            if m.start(1) > best_pos:
                best_pos, best = m.start(1), m.group(1)
    return best


def _search(text: str, tiers: tuple[list[re.Pattern[str]], ...]) -> str | None:
    text = text[-MAX_CHARS:]
    for patterns in tiers:
        found = _last_match(text, patterns)
        if found is not None:
            return found
    return None


def _extract(text: str | None, tiers: tuple[list[re.Pattern[str]], ...]) -> str | None:
    if not text:
        return None
    if not isinstance(text, str):
        raise TypeError(f"completion must be a str, got {type(text).__name__}")
    cut = text.rfind(_THINK_CLOSE)
    if cut >= 0:
        found = _search(text[cut + len(_THINK_CLOSE) :], tiers)
        if found is not None:
            return found
    return _search(text, tiers)


def extract_choice(text: str | None, n_choices: int = 4) -> str | None:
    """The final option letter (``"A"``…) stated in ``text``, or None; letters beyond ``n_choices`` are ignored."""
    if isinstance(n_choices, bool) or not isinstance(n_choices, int) or not 1 <= n_choices <= 26:
        raise ValueError(f"n_choices must be an int in 1..26, got {n_choices!r}")
    found = _extract(text, _choice_patterns(n_choices))
    return found.upper() if found is not None else None


def extract_yesno(text: str | None) -> str | None:
    """The final ``"yes"``/``"no"`` stated in ``text`` (``True``/``False`` map to yes/no), or None."""
    found = _extract(text, (_YESNO_STRONG, _YESNO_WEAK))
    return _YESNO_MAP[found.lower()] if found is not None else None


def normalize_gold_choice(gold: Any) -> str:
    """Gold letter from ``"C"``, ``"c"``, ``"(C)"`` or a 1-based number (``3`` → ``"C"``)."""
    text = str(gold).strip().strip("().").strip()
    if text.isdigit() and 1 <= int(text) <= 26:
        return _LETTERS[int(text) - 1]
    if len(text) == 1 and text.upper() in _LETTERS:
        return text.upper()
    raise ValueError(f"gold choice {gold!r} is not a letter A-Z or a number 1-26")


def normalize_gold_yesno(gold: Any) -> str:
    """Gold ``"yes"``/``"no"`` from a bool, ``"True"``/``"False"``, ``"yes"``/``"no"`` or 1/0."""
    if isinstance(gold, bool):
        return "yes" if gold else "no"
    text = str(gold).strip().lower()
    mapped = {"yes": "yes", "true": "yes", "1": "yes", "no": "no", "false": "no", "0": "no"}.get(text)
    if mapped is None:
        raise ValueError(f"gold yes/no answer {gold!r} is not one of yes/no, true/false, 1/0")
    return mapped


def score_choice(completion: str | None, gold: Any, answer_type: str, n_choices: int | None = None) -> bool:
    """True when the answer extracted from ``completion`` equals ``gold``.

    ``answer_type`` is ``"choice"`` or ``"yesno"``. For choices pass ``n_choices`` (the item's number
    of options) when known; ``None`` accepts any letter A-Z so a real answer is never ignored.
    """
    if answer_type == "choice":
        want = normalize_gold_choice(gold)
        return extract_choice(completion, 26 if n_choices is None else n_choices) == want
    if answer_type == "yesno":
        return extract_yesno(completion) == normalize_gold_yesno(gold)
    raise ValueError(
        f"score_choice handles answer_type 'choice' or 'yesno', got {answer_type!r}; "
        "score 'number'/'expression' answers with the math verifier"
    )
