"""Decide the common, purely numeric cases without sympy, and normalise strings.

Why by hand: math-verify parses every answer through latex2sympy + sympy (~0.5 ms
for "18" vs "18", ~100 ms for an answer with unit words), compares decimals with
float rounding (``0.333333`` == ``1/3`` to 6 places), reads ``18 dollars`` as the
product ``18*d*o*l*l*a*r*s``, and does not match a GSM8K ``50%`` with ``50``.  GSM8K
style answers are >90 % of what a GRPO run verifies, so they get an exact,
linear-time path here:

* thousands separators ``1,234`` / ``1 234`` / ``1{,}234`` (strict groups of three,
  so ``1,2`` is *not* a number: it is a tuple and goes to the symbolic path);
* signs (also U+2212), decimals, ``\\frac``/``\\dfrac``/``\\tfrac``/``\\frac12``,
  ``a/b``, scientific ``1.5e3`` / ``1.5\\times10^{3}`` (exponent |k| <= 400);
* currency and unit words around a number (``$18``, ``\\$18.00``, ``18 dollars``,
  ``18 \\text{ cm}``), degrees, and a leading single-variable assignment ``x = 2``;
* full-width digits via NFKC.

Values are ``fractions.Fraction`` and compared exactly: ``0.5 == 1/2`` but
``0.333 != 1/3``.

Percent convention (GSM8K): a ``%`` is read as a unit, so ``50%`` matches ``50``;
it *also* matches its value ``0.5`` (``50%`` == ``1/2``).  Without a ``%`` on either
side ``50`` and ``0.5`` differ.

``structural_key`` is the normal form used to accept identical non-numeric answers
without sympy, and as the only comparison for inputs too big or too deep to parse.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "Number",
    "parse_number",
    "numbers_equal",
    "structural_key",
    "strip_assignment",
    "strip_outer_parens",
    "is_non_scalar",
]

MAX_EXPONENT = 400
MAX_NUMBER_CHARS = 120  # longer strings are never parsed as numbers here


@dataclass(frozen=True)
class Number:
    """A parsed numeric answer; ``percent`` when it carried a ``%``."""

    value: Fraction
    percent: bool = False

    def candidates(self) -> tuple[Fraction, ...]:
        if self.percent:
            return (self.value, self.value / 100)
        return (self.value,)


_NEG_SPACE = re.compile(r"\\!\s*")
_SPACING = re.compile(r"\\[!,;:> ]|\\q?quad\b|~|\\displaystyle\b|\\left\b|\\right\b")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textrm|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_CURRENCY = re.compile(r"\\\$|\$|€|£|¥|₹|\\euro\b|\\pounds\b|\bUSD\b|\bEUR\b|\bGBP\b|\bINR\b|\bRs\.?(?=\s|\d)")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\circ\b|\\degree\b|\bdegrees?\b")
_PERCENT = re.compile(r"\\%|%|\bpercent(?:age)?\b|\bper\s+cent\b|\bpct\b")
_UNIT_TAIL = re.compile(
    r"(?:\s+(?:[A-Za-z][A-Za-z.']+|[mgshlLK])(?:\^\{?[23]\}?)?(?:/[A-Za-z]+)?)+$"  # no lone i, e, x
    r"|(?<=\d)(?:cm|mm|km|m|kg|g|mg|lbs?|oz|ft|mi|mph|s|sec|min|hrs?|h|ml|mL|L)(?:\^\{?[23]\}?)?$"
)
_ASSIGN = re.compile(r"^\s*[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?\s*(?:=|\\approx|≈)\s*")

_INT = r"(?:[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d{0,2}(?: \d{3})+|\d+)"  # 0,111 is no thousands grouping
_DEC = r"(?:%s(?:\.\d*)?|\.\d+)" % _INT
_NUM = re.compile(r"([+-]?)(%s)$" % _DEC)
_SCI_E = re.compile(r"([+-]?)(%s)[eE]([+-]?\d+)$" % _DEC)
_SCI_TIMES = re.compile(r"([+-]?)(%s)\s*(?:\\times|\\cdot|×|\*|x)\s*10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?$" % _DEC)
_POW10 = re.compile(r"([+-]?)10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?$")
_EU = re.compile(r"([+-]?)(\d{1,3}(?:\.\d{3})+),(\d+)")
_FRAC = re.compile(r"([+-]?)\\[dt]?frac\s*\{\s*([+-]?)\s*(%s)\s*\}\s*\{\s*([+-]?)\s*(%s)\s*\}$" % (_DEC, _DEC))
_FRAC_SHORT = re.compile(r"([+-]?)\\[dt]?frac\s*(\d)\s*(\d)$")
_SLASH = re.compile(r"([+-]?)\s*(%s)\s*/\s*([+-]?)\s*(%s)$" % (_DEC, _DEC))


def _dec(s: str) -> Fraction:
    s = s.replace(",", "").replace(" ", "")
    if s.endswith("."):
        s = s[:-1]
    return Fraction(s)


def _sign(s: str) -> int:
    return -1 if s == "-" else 1


def _normalize_text(s: str) -> str:
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s).replace("\u2212", "-").replace("\u2013", "-")
    return s.replace("\x00", "")


def strip_assignment(s: str) -> str:
    """``x = 2`` -> ``2``; ``f(x) = ...`` and ``a=1, b=2`` are left alone."""
    m = _ASSIGN.match(s)
    if m and "=" not in s[m.end() :] and "," not in s[m.end() :]:
        return s[m.end() :]
    return s


def strip_outer_parens(s: str) -> str:
    """``(x+1)`` -> ``x+1``; ``(-5)`` -> ``-5``.  Only a single matching outer pair
    with no comma inside (``(1,2)`` is a tuple; ``(a)(b)`` is a product).  Saves
    math-verify's parser a full-context ANTLR prediction (~20-80 ms per "(...)")."""
    for _ in range(4):
        if len(s) < 2 or s[0] != "(" or s[-1] != ")" or "," in s:
            return s
        depth = 0
        for i, ch in enumerate(s):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0 and i != len(s) - 1:
                    return s  # the first "(" closes before the end
        s = s[1:-1].strip()
    return s


def _core(s: str) -> tuple[str, bool]:
    s = _normalize_text(s).strip()
    for _ in range(3):  # \text{\textbf{..}} nests at most a few levels in practice
        s2 = _TEXT_CMD.sub(r" \1 ", s)
        if s2 == s:
            break
        s = s2
    s = _NEG_SPACE.sub("", s)  # 900,\!000,\!000 -> 900,000,000
    s = _SPACING.sub(" ", s)
    s = s.replace("{,}", ",").replace("\\{", "{").replace("\\}", "}")
    s = _CURRENCY.sub(" ", s)
    s = _DEGREE.sub(" ", s)
    s, n_pct = _PERCENT.subn(" ", s)
    s = s.strip().rstrip(".").strip()
    s = strip_assignment(s)
    s = _CURRENCY.sub(" ", s).strip()
    s = _UNIT_TAIL.sub("", s).strip()
    while len(s) >= 2 and s[0] == "{" and s[-1] == "}":
        s = s[1:-1].strip()
    s = strip_outer_parens(s)
    return s, n_pct > 0


def parse_number(ans: str) -> Number | None:
    """Exact value of a plain numeric answer, or None if it is anything else."""
    if not ans or len(ans) > MAX_NUMBER_CHARS:
        return None
    s, pct = _core(ans)
    if not s or len(s) > MAX_NUMBER_CHARS:
        return None
    s = re.sub(r"^([+-])\s+", r"\1", s)
    eu = _EU.fullmatch(s)
    if eu:  # 1.000,5 (European grouping and decimal comma)
        s = eu.group(1) + eu.group(2).replace(".", "") + "." + eu.group(3)
    try:
        m = _NUM.match(s)
        if m:
            return Number(_sign(m.group(1)) * _dec(m.group(2)), pct)
        m = _FRAC.match(s)
        if m:
            den = _dec(m.group(5))
            if den == 0:
                return None
            sign = _sign(m.group(1)) * _sign(m.group(2)) * _sign(m.group(4))
            return Number(sign * _dec(m.group(3)) / den, pct)
        m = _FRAC_SHORT.match(s)
        if m:
            if m.group(3) == "0":
                return None
            return Number(_sign(m.group(1)) * Fraction(int(m.group(2)), int(m.group(3))), pct)
        m = _SLASH.match(s)
        if m:
            den = _dec(m.group(4))
            if den == 0:
                return None
            return Number(_sign(m.group(1)) * _sign(m.group(3)) * _dec(m.group(2)) / den, pct)
        m = _SCI_E.match(s) or _SCI_TIMES.match(s)
        if m:
            exp = int(m.group(3))
            if abs(exp) > MAX_EXPONENT:
                return None
            return Number(_sign(m.group(1)) * _dec(m.group(2)) * Fraction(10) ** exp, pct)
        m = _POW10.match(s)
        if m:
            exp = int(m.group(2))
            if abs(exp) > MAX_EXPONENT:
                return None
            return Number(_sign(m.group(1)) * Fraction(10) ** exp, pct)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return None


def numbers_equal(gold: Number, pred: Number) -> bool:
    """Exact equality; a ``%`` on either side also allows the /100 reading."""
    g, p = gold.candidates(), pred.candidates()
    return any(a == b for a in g for b in p)


_KEY_DROP = re.compile(r"\\left\b|\\right\b|\\[!,;: ]|\\q?quad\b|~|\\displaystyle|\$|\s+")
_KEY_TEXT = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")

_KEY_SCRIPT = re.compile(r"([\^_])\{([A-Za-z0-9])\}")
_KEY_FRAC = re.compile(r"\\frac(\d)(\d)")
_KEY_SQRT = re.compile(r"\\sqrt(\d)")


def structural_key(ans: str) -> str:
    """Whitespace/markup-insensitive normal form of an answer (linear time)."""
    s = _normalize_text(ans)
    s = _KEY_TEXT.sub(r"\1", s)
    s = _KEY_DROP.sub("", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("{,}", ",")
    s = _DEGREE.sub("", s)
    s = s.replace("\\%", "%").rstrip(".")
    s = _KEY_SCRIPT.sub(r"\1\2", s)  # x^{2} -> x^2
    s = _KEY_FRAC.sub(r"\\frac{\1}{\2}", s)  # \frac12 -> \frac{1}{2}
    s = _KEY_SQRT.sub(r"\\sqrt{\1}", s)  # \sqrt2 -> \sqrt{2}
    return strip_outer_parens(strip_assignment(s))


_NON_SCALAR = re.compile(r"\\begin\s*\{\s*[pbvBV]?matrix|\\cup\b|\\cap\b|\\infty\b|\\emptyset\b|\\varnothing\b")
_OPEN = {"(": ")", "[": "]", "{": "}"}


def is_non_scalar(ans: str) -> bool:
    """True when ``ans`` is certainly not a single number: a matrix, a set operation,
    something with infinity, or a bare/bracketed list of two or more items.  A
    rational gold never equals such an answer, so no sympy is needed to say so.
    ``\\max(3, 5)`` (a function call) is *not* flagged."""
    if _NON_SCALAR.search(ans):
        return True
    s = _SPACING.sub("", ans).replace("\\{", "(").replace("\\}", ")").strip()
    wrapped = len(s) >= 2 and s[0] in "([" and s[-1] in ")]"
    depth = 0
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and (depth == 0 or (depth == 1 and wrapped)):
            return True
    return False
