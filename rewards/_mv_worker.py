"""Child program of the symbolic pool: math-verify behind a JSON-lines pipe.

Run as ``python -m rewards._mv_worker``.  Reads one JSON object per line on stdin
(``{"gold": str, "pred": str, "soft_s": float}``) and answers one per line on the
original stdout (``{"v": "correct"|"wrong"|"bad_gold"|"timeout"|"error"}``).
First line written is ``{"ready": true}``, once the LaTeX parser has been warmed on
common answer shapes; ``{"op": "warm"}`` is answered ``{"v": "warm"}`` (kept for callers
that ask).

Why a separate program: math-verify's own timeouts use ``signal.alarm`` (main
thread only, whole seconds) and cannot interrupt C-level work such as a huge
integer power.  Here we *are* the main thread of our own process, so a sub-second
``setitimer`` gives a soft stop that keeps this warm process alive; the parent
kills us (SIGKILL) if even that does not return in time.  Only
``LatexExtractionConfig`` is used: ``ExprExtractionConfig`` would run
``sympy.parse_expr`` (which ``eval``s) on model text.  Stdin EOF (parent gone)
ends the process.
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal
import sys


class _SoftTimeout(BaseException):
    """BaseException so math-verify's ``except Exception`` does not swallow it."""


def _on_alarm(signum, frame):  # noqa: ARG001
    raise _SoftTimeout()


_WARM_PAIRS = [
    ("\\frac{1}{2}", "0.5"),
    ("(1, \\pi)", "(1,\\pi)"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3)"),
    ("[1, 2)", "(-\\infty, 0]"),
    ("\\{1, 2, 3\\}", "\\{1\\}"),
    ("\\sqrt{2}", "(\\sqrt{3})"),
    ("2\\sqrt{3}", "\\frac{\\sqrt{21}}{5}"),
    ("x^2 + 2x + 1", "(x+1)^{2}"),
    ("y = 2x + 1", "x=3"),
    ("\\text{Evelyn}", "\\textbf{(A)}"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} -1/3 & 2 \\end{pmatrix}"),
    ("90^\\circ", "10\\%"),
    ("3 + 4i", "5 - 2i"),
    ("\\dfrac{3}{4}", "(6)"),
    ("4210_{5}", "(42)"),
    ("\\pi^2", "\\cos \\theta"),
    ("\\log_2 8", "e^{-x}"),
    ("a, b", "1, 2, 3"),
    ("x \\in [2, 5]", "-2 < x < 3"),
    ("\\frac{x+1}{x-1}", "\\sin^2 x + \\cos^2 x"),
    ("x \\geq 5", "5 \\leq x"),
    ("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}"),
    ("-2 \\le x \\le 7", "x \\in [-2,7]"),
    ("\\left[\\begin{array}{cc}1 & 2\\\\3 & 4\\end{array}\\right]", "(-793, 10)"),
    ("\\frac{\\pi}{2}", "\\frac{1}{2}\\pi"),
]


def _limit_memory() -> None:
    try:
        import resource

        gib = float(os.environ.get("REWARDS_WORKER_MEM_GIB", "4"))
        limit = int(gib * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except Exception:  # not available on this platform: the parent's kill still bounds time
        pass


def main() -> None:
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything printed by libraries goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    _limit_memory()

    import logging

    logging.disable(logging.CRITICAL)
    from math_verify import LatexExtractionConfig, parse, verify

    cfg = [LatexExtractionConfig(boxed_match_priority=0)]

    @functools.lru_cache(maxsize=4096)
    def parsed(answer: str) -> tuple:
        # GRPO verifies G completions against one gold, and repeats answers: parse once.
        # Sympy objects are immutable, so sharing them between calls is safe.
        return tuple(parse("\\boxed{" + answer + "}", extraction_config=cfg, parsing_timeout=None))

    def check(gold: str, pred: str, soft_s: float) -> str:
        signal.setitimer(signal.ITIMER_REAL, max(soft_s, 0.01))
        try:
            g = list(parsed(gold))
            if not g:
                return "bad_gold"
            p = list(parsed(pred))
            if not p:
                return "wrong"
            return "correct" if verify(g, p, timeout_seconds=None) else "wrong"
        except _SoftTimeout:
            return "timeout"
        except RecursionError:
            return "error"
        except Exception:
            return "error"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    signal.signal(signal.SIGALRM, _on_alarm)
    warm = list(_WARM_PAIRS)
    check(*warm.pop(0), 5.0)  # latex2sympy imported, parser built
    # ANTLR's prediction cache (DFA) starts empty: the first parse of each syntactic shape
    # costs 10-50 ms (several times that on a busy machine), enough for the first real
    # checks to miss their deadline.  So a worker reports ready only once warm: the pool
    # starts (and replaces) workers off the callers' time.
    while warm:
        check(*warm.pop(0), 1.0)
    proto.write('{"ready": true}\n')

    buf = b""
    while True:
        while b"\n" not in buf:
            # ANTLR's prediction cache (DFA) starts empty: the first parse of each
            # syntactic shape costs 10-50 ms.  Warm it on generic shapes while idle,
            # one at a time, so a request waits behind at most one of them.
            if warm and not select.select([0], [], [], 0)[0]:
                check(*warm.pop(0), 0.2)
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                return  # parent gone
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        try:
            job = json.loads(line)
            if job.get("op") == "warm":  # finish warming now, then answer
                while warm:
                    check(*warm.pop(0), 0.5)
                proto.write('{"v": "warm"}\n')
                continue
            verdict = check(str(job["gold"]), str(job["pred"]), float(job.get("soft_s", 0.4)))
        except _SoftTimeout:  # alarm fired between check() and here
            verdict = "timeout"
        except Exception:
            verdict = "error"
        try:
            proto.write(json.dumps({"v": verdict}) + "\n")
        except (BrokenPipeError, OSError):
            return


if __name__ == "__main__":
    main()
