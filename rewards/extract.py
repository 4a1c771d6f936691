"""Find the *final answer* in a model completion and the answer in a gold string.

Written by hand rather than delegated to ``math_verify.parse`` because math-verify
(a) has no notion of ``<think> ... </think>`` blocks, so a number guessed inside the
reasoning can be graded as the answer, (b) matches with regexes over the whole text
(slow on 16k-token traces, and super-linear on hostile input), and (c) mixes
"where is the answer" with "what does it mean".  Here extraction is purely textual,
linear-time, and bounded:

* the completion is cut to its tail (``MAX_COMPLETION_CHARS``) before any scanning;
* thinking blocks are removed first (an unclosed ``<think>`` hides everything after
  it; an orphan ``</think>`` -- Qwen3 puts ``<think>`` in the prompt -- hides
  everything before it);
* braces are matched in one stack pass, so 10 000 nested or unbalanced braces cost
  O(n) and never recurse.

Priority of answer sources in the visible text: last top-level ``\\boxed{}`` /
``\\fbox{}`` > last ``<answer>...</answer>`` > last ``#### N`` > last
"final answer: ..." / "the answer is ..." / a line starting "Answer:".
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_COMPLETION_CHARS",
    "MAX_ANSWER_CHARS",
    "extract_final_answer",
    "parse_gold",
    "strip_thinking",
    "last_boxed",
    "box_spans",
    "match_braces",
    "clean_answer",
]

#: Completions longer than this are cut to their tail before extraction.
MAX_COMPLETION_CHARS = 32_000
#: An extracted answer longer than this is still returned, but verification treats
#: it structurally (no symbolic parsing).  A gold without marker longer than this is
#: treated as an unparseable solution.
MAX_ANSWER_CHARS = 256

_THINK_TAG = re.compile(r"<(/?)think>")
_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES = re.compile(r"####[ \t]*([^\n]*)")
_PHRASE = re.compile(
    r"(?:final\s+answer|the\s+answer|^[ \t*#]*answer)\s*(?:is|:|=)\s*:?[ \t]*([^\n]{1,%d})" % MAX_ANSWER_CHARS,
    re.IGNORECASE | re.MULTILINE,
)
_LAST_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def strip_thinking(text: str) -> str:
    """Return the text outside ``<think> ... </think>`` blocks (linear time).

    An unclosed ``<think>`` hides the rest of the text; a ``</think>`` seen while
    outside any block (the opening tag was in the prompt) hides everything before it.
    """
    parts: list[str] = []
    pos = 0
    inside = False
    for m in _THINK_TAG.finditer(text):
        closing = m.group(1) == "/"
        if not inside and not closing:
            parts.append(text[pos : m.start()])
            inside = True
        elif closing:
            # Either the end of a normal block, or an orphan close: drop everything before.
            if not inside:
                parts.clear()
            inside = False
        pos = m.end()
    if not inside:
        parts.append(text[pos:])
    return "\n".join(parts)


_BRACE = re.compile(r"(?<!\\)[{}]")


def match_braces(text: str, start: int) -> dict[int, int]:
    """Map each ``{`` at index >= start to its matching ``}`` (one stack pass).

    Escaped braces ``\\{`` / ``\\}`` are literal characters and do not count.
    Unmatched ``{`` simply have no entry.  Visits only brace characters.
    """
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE.finditer(text, start):
        i = m.start()
        if text[i] == "{":
            stack.append(i)
        elif stack:
            pairs[stack.pop()] = i
    return pairs


def box_spans(text: str) -> list[tuple[int, int]]:
    """(content_start, content_end) of each top-level balanced ``\\boxed{...}``."""
    first = _BOX_OPEN.search(text)
    if first is None:
        return []
    pairs = match_braces(text, first.end() - 1)
    spans: list[tuple[int, int]] = []
    covered_until = -1
    for m in _BOX_OPEN.finditer(text, first.start()):
        if m.start() < covered_until:
            continue  # nested inside a box already taken
        brace = m.end() - 1
        close = pairs.get(brace)
        if close is None:
            continue  # unbalanced: no answer here
        spans.append((brace + 1, close))
        covered_until = close
    return spans


def last_boxed(text: str) -> str | None:
    """Content of the last top-level ``\\boxed{}``/``\\fbox{}`` in ``text``.

    ``\\boxed{\\boxed{5}}`` unwraps to ``5`` (iteratively, never recursively).
    """
    spans = box_spans(text)
    if not spans:
        return None
    s, e = spans[-1]
    content = text[s:e].strip()
    for _ in range(64):  # unwrap redundant nesting, bounded
        inner = box_spans(content)
        if len(inner) == 1 and _BOX_OPEN.match(content) and inner[0][1] == len(content) - 1:
            content = content[inner[0][0] : inner[0][1]].strip()
        else:
            break
    return content


_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"), ("`", "`"))


def clean_answer(ans: str) -> str | None:
    """Trim an extracted answer: whitespace, math delimiters, markdown, final period."""
    ans = ans.replace("\x00", "").strip()
    for _ in range(4):
        before = ans
        for left, right in _WRAPPERS:
            if len(ans) >= len(left) + len(right) and ans.startswith(left) and ans.endswith(right):
                ans = ans[len(left) : len(ans) - len(right)].strip()
        ans = ans.rstrip(" \t.;,")  # "The answer is 42." -> "42"
        ans = ans.lstrip("*: \t").strip()
        if ans == before:
            break
    return ans or None


def _from_phrase(text: str) -> str | None:
    last = None
    for last in _PHRASE.finditer(text):  # noqa: B007 (keeps the last match)
        pass
    if last is None:
        return None
    ans = last.group(1)
    # a sentence ends the answer: "is 42. Next ..." -> "42" (but keep decimals "4.5")
    m = re.search(r"\.(?:\s|$)", ans)
    if m:
        ans = ans[: m.start()]
    return clean_answer(ans)


def _last_answer_tag(text: str) -> str | None:
    """Content of the last closed ``<answer>...</answer>`` (two rfinds: linear)."""
    close = text.rfind("</answer>")
    if close < 0:
        return None
    open_ = text.rfind("<answer>", 0, close)
    if open_ < 0:
        return None
    return text[open_ + len("<answer>") : close]


def _answer_from_visible(visible: str) -> str | None:
    boxed = last_boxed(visible)
    if boxed is not None:
        return clean_answer(boxed)
    tagged = _last_answer_tag(visible)
    if tagged is not None:
        return clean_answer(tagged)
    hashes = None
    for hashes in _HASHES.finditer(visible):  # noqa: B007 (keeps the last match)
        pass
    if hashes is not None:
        return clean_answer(hashes.group(1))
    return _from_phrase(visible)


def extract_final_answer(text: str, last_number_fallback: bool = False) -> str | None:
    """Final answer of a completion, or None when it has none outside ``<think>``.

    There is deliberately no "last number in the text" guess by default (it rewards
    rambling); ``last_number_fallback=True`` enables it for scoring base models that
    were never taught a format (lm-eval's "flexible extract"), outside thinking only.

    >>> extract_final_answer("<think>maybe \\\\boxed{3}</think> so \\\\boxed{4}")
    '4'
    """
    if not isinstance(text, str) or not text:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "")
    # Cheap C-speed pre-cut: an unclosed trailing <think> hides what follows it.
    low_open = text.rfind("<think>")
    if low_open >= 0 and low_open > text.rfind("</think>"):
        text = text[:low_open]
    if len(text) > MAX_COMPLETION_CHARS:
        text = text[-MAX_COMPLETION_CHARS:]
    visible = strip_thinking(text)
    ans = _answer_from_visible(visible)
    if ans is None and last_number_fallback:
        last = None
        for last in _LAST_NUMBER.finditer(visible[-2000:]):  # noqa: B007 (keeps the last match)
            pass
        if last is not None:
            ans = clean_answer(last.group(0))
    return ans


def parse_gold(gold: str) -> str | None:
    """Answer in a gold string: GSM8K solution (``... #### 1,234``), a MATH solution
    with ``\\boxed{}``, or a bare answer.  None when nothing usable is there."""
    if gold is None:
        return None
    if not isinstance(gold, str):
        if isinstance(gold, (int, float)) and not isinstance(gold, bool):
            return str(gold)
        return None
    gold = gold.replace("\x00", "")
    if len(gold) > 4 * MAX_COMPLETION_CHARS:
        gold = gold[-4 * MAX_COMPLETION_CHARS :]
    idx = gold.rfind("####")
    if idx >= 0:
        return clean_answer(gold[idx + 4 :].split("\n", 1)[0])
    boxed = last_boxed(gold)
    if boxed is not None:
        return clean_answer(boxed)
    stripped = gold.strip()
    if len(stripped) <= MAX_ANSWER_CHARS and "\n" not in stripped:
        return clean_answer(stripped)
    # A long solution without a box: try the answer phrases, else give up.
    tagged = _last_answer_tag(gold)
    if tagged is not None:
        return clean_answer(tagged)
    return _from_phrase(gold)
