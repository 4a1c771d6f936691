"""Benchmark: ``rewards.verify`` vs plain math-verify, same run, same inputs.

Run: ``python -m bench.rewards [--repeats N] [--out bench/results/rewards.json]``.

* numeric  -- GSM8K test golds (``/work/shared/data/gsm8k/test.jsonl`` if present,
  else generated integers); per gold one right and one wrong completion with a
  ``<think>`` block and a ``\\boxed{}`` answer in varied surface forms.
* latex    -- MATH-500 answers (``/work/shared/data/math500/test.jsonl`` if
  present, else a built-in list); right = the gold in an equivalent surface form,
  wrong = another problem's answer.
* accuracy_labelled -- ``rewards.labelled_cases.LABELLED_CASES``.
* accuracy_public -- balanced accuracy on ``tests/fixtures/verifier_public_cases.jsonl`` (labelled cases from
  public verifier test suites: bare answers, prose, multi-box sets, ...), ours and math-verify's on the same
  cases, overall and per kind (printed, and under ``by_kind``).
* accuracy_real -- balanced accuracy on real solutions: GSM8K reference solutions with and without their
  ``####`` line against their gold and another problem's, MATH-500 solutions likewise.
* bound -- the slowest single call, in seconds, with both cores loaded by two busy-loop processes started and
  stopped here: every public case, the hostile inputs, MATH-500 solutions, a call right after a worker was
  SIGKILLed and one whose worker stopped answering (SIGSTOP: killed at the deadline).  ``speedup`` is
  1 s / that figure (>= 1: no call took over 1 s).

Baseline: ``math_verify.verify(math_verify.parse(gold), math_verify.parse(pred))``
with its default (signal-based) timeouts, main thread.  It is given its *best
case* gold: the answer already cut out of a GSM8K solution and wrapped in ``$..$``;
ours gets the same string.  Our result cache is disabled so every symbolic
comparison really runs; both sides get the same LaTeX-parser warm-up first.
Throughput is answers per second over the whole list, measured in alternating
chunks of 50 pairs (ours, baseline, ours, ...) so load drift hits both alike.
The "right" LaTeX variants are, in equal shares, markup/spacing changes,
redundant outer parentheses, and reordered sum terms or a ``1 \\cdot`` factor
(the last kind is only accepted by a symbolic comparison).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VERIFIER_PACKAGES = ("math-verify", "latex2sympy2_extended", "sympy", "antlr4-python3-runtime")  # machine.versions
SHARED = REPO.parent / "shared" / "data"

_BUILTIN_LATEX = [
    "\\frac{3}{4}",
    "\\sqrt{2}",
    "2\\pi",
    "\\left( 3, \\frac{\\pi}{2} \\right)",
    "[1,2)",
    "\\{1,2,3\\}",
    "x^2+2x+1",
    "\\frac{\\sqrt{3}}{2}",
    "(-\\infty, 0)",
    "y=2x+1",
    "\\text{Evelyn}",
    "12",
    "-5",
    "0.25",
    "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
    "4\\sqrt{3}",
    "\\frac{1}{2}\\pi",
    "x=3",
    "90^\\circ",
    "10\\%",
]


def _wrap_gold(answer: str) -> str:
    return "$" + answer + "$"


def _completion(ans: str, rng: random.Random) -> str:
    think = "<think>Let me compute this carefully. " + "step " * rng.randint(5, 40) + "</think>\n"
    return think + f"The final answer is $\\boxed{{{ans}}}$."


def _numeric_forms(gold: str, rng: random.Random) -> tuple[str, str]:
    """(right, wrong) surface forms for a GSM8K integer/decimal gold."""
    from rewards.fast_path import parse_number

    num = parse_number(gold)
    value = num.value if num is not None else 0
    plain = str(value.numerator) if value.denominator == 1 else gold
    choice = rng.randrange(5)
    if choice == 0 and value.denominator == 1 and abs(value) >= 1000:
        right = f"{value.numerator:,}"
    elif choice == 1:
        right = "\\$" + plain
    elif choice == 2 and value.denominator == 1:
        right = plain + ".00"
    elif choice == 3:
        right = plain + " \\text{ dollars}"
    else:
        right = plain
    delta = rng.choice([1, -1, 2, 10])
    wrong_value = value + delta
    wrong = str(wrong_value.numerator) if wrong_value.denominator == 1 else str(float(wrong_value))
    return right, wrong


def numeric_pairs(rng: random.Random) -> list[tuple[str, str]]:
    from rewards import parse_gold

    path = SHARED / "gsm8k" / "test.jsonl"
    if path.exists():
        golds = [parse_gold(json.loads(line)["answer"]) for line in path.open()]
    else:
        golds = [str(rng.randint(0, 100_000)) for _ in range(1319)]
    pairs = []
    for g in golds:
        if g is None:
            continue
        right, wrong = _numeric_forms(g, rng)
        pairs.append((_completion(right, rng), _wrap_gold(g)))
        pairs.append((_completion(wrong, rng), _wrap_gold(g)))
    return pairs


def _top_level_terms(v: str) -> list[str] | None:
    """Split ``a + b - c`` at depth-0 ``+``/``-`` (keeping signs), or None."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(v):
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch in "+-" and depth == 0 and i > 0 and v[i - 1] not in "^_{(=,":
            terms.append(v[start:i].strip())
            start = i
    terms.append(v[start:].strip())
    return terms if len(terms) > 1 and all(terms) and "=" not in v and "," not in v else None


def _latex_variant(ans: str, rng: random.Random) -> str:
    """An equivalent surface form of a MATH answer, one of three kinds:
    markup/spacing changes, redundant outer parentheses, or reordered sum terms
    (``x^2 + 1`` -> ``+1 + x^2``, which only a symbolic comparison can accept)."""
    v = ans.replace("\\dfrac", "\\frac").replace("\\left", "").replace("\\right", "")
    kind = rng.randrange(3)
    if kind == 0 and rng.random() < 0.5:
        v = v.replace(" ", "")
    elif kind == 1 and "," not in v and "=" not in v and "\\text" not in v:
        v = "(" + v + ")"
    elif kind == 2:
        terms = _top_level_terms(v)
        if terms:
            terms = [t if t[0] in "+-" else "+" + t for t in reversed(terms)]
            v = " ".join(terms).lstrip("+").strip()
        elif "\\text" not in v and "," not in v and "=" not in v:
            v = "1 \\cdot " + v  # a trivially equal product: also symbolic-only
    return v


def latex_pairs(rng: random.Random) -> list[tuple[str, str]]:
    path = SHARED / "math500" / "test.jsonl"
    if path.exists():
        answers = [json.loads(line)["answer"] for line in path.open()]
    else:
        answers = list(_BUILTIN_LATEX) * 10
    pairs = []
    n = len(answers)
    for i, ans in enumerate(answers):
        pairs.append((_completion(_latex_variant(ans, rng), rng), _wrap_gold(ans)))
        pairs.append((_completion(answers[(i + 7) % n], rng), _wrap_gold(ans)))
    return pairs


def _ours() -> Callable[[str, str], bool]:
    import rewards

    return rewards.verify


def _baseline() -> Callable[[str, str], bool]:
    import math_verify

    def run(pred: str, gold: str) -> bool:
        return math_verify.verify(math_verify.parse(gold), math_verify.parse(pred))

    return run


def _run(fn: Callable[[str, str], bool], chunk: list[tuple[str, str]]) -> tuple[float, float, list[bool]]:
    """(total seconds, max single-call seconds, verdicts) of ``fn`` over ``chunk``."""
    verdicts, worst = [], 0.0
    t_all = time.perf_counter()
    for pred, gold in chunk:
        t0 = time.perf_counter()
        verdicts.append(bool(fn(pred, gold)))
        worst = max(worst, time.perf_counter() - t0)
    return time.perf_counter() - t_all, worst, verdicts


def _interleaved(
    ours: Callable[[str, str], bool],
    base: Callable[[str, str], bool],
    pairs: list[tuple[str, str]],
    our_repeats: int,
    chunk: int = 50,
) -> dict:
    """Alternate ours/baseline on chunks of the same pairs, so a machine whose load
    drifts during the run (shared CI boxes) penalises both alike."""
    t = {"ours": 0.0, "base": 0.0}
    worst = {"ours": 0.0, "base": 0.0}
    verdicts: dict[str, list[bool]] = {"ours": [], "base": []}
    for i in range(0, len(pairs), chunk):
        part = pairs[i : i + chunk]
        for _ in range(our_repeats):  # ours is cheap on numbers: repeat for a stabler rate
            dt, w, v = _run(ours, part)
            t["ours"] += dt / our_repeats
            worst["ours"] = max(worst["ours"], w)
        verdicts["ours"] += v
        dt, w, v = _run(base, part)
        t["base"] += dt
        worst["base"] = max(worst["base"], w)
        verdicts["base"] += v
    return {
        "ours_rate": len(pairs) / t["ours"],
        "base_rate": len(pairs) / t["base"],
        "ours_worst": worst["ours"],
        "base_worst": worst["base"],
        "ours_verdicts": verdicts["ours"],
        "base_verdicts": verdicts["base"],
    }


def _baseline_gold(gold: str) -> str:
    if "####" in gold:
        gold = gold.rsplit("####", 1)[1].strip()
    return gold if "\\boxed" in gold else _wrap_gold(gold)


def _hostile_worst() -> float:
    """Max wall clock of ``rewards.verify`` over the hostile inputs of the tests."""
    import rewards

    code = "__import__('os').system('touch /tmp/pwned_bench')"
    cases = [
        ("\\boxed{9^{9^{9^9}}}", "5"),
        ("\\boxed{1000000!}", "x"),
        ("\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}", "1"),
        ("\\boxed{" * 10_000, "1"),
        ("step " * 200_000 + "\\boxed{5}", "5"),
        ("\\boxed{5\x00}", "5"),
        ("\\boxed{\uff15}", "5"),
        ("\\boxed{\\input{/etc/passwd}}", "x"),
        ("\\boxed{" + code + "}", "x+1"),
        ("\\boxed{9^{387420489}}", "1"),
        ("\\boxed{3^{3^{3^{3}}}}", "x"),
        ("\\boxed{10^{10^{8}}}", "x"),
        ("\\boxed{\\sum_{n=1}^{10^{9}} n^{2}}", "x"),
        ("\\boxed{" + "+".join(["x"] * 5000) + "}", "5000x"),
    ]
    worst = 0.0
    for pred, gold in cases:
        t0 = time.perf_counter()
        rewards.verify(pred, gold)
        worst = max(worst, time.perf_counter() - t0)
    if os.path.exists("/tmp/pwned_bench"):
        raise SystemExit("hostile input executed code!")
    return worst


PUBLIC_CASES = REPO / "tests" / "fixtures" / "verifier_public_cases.jsonl"


def _balanced(pairs: list[tuple[bool, bool]]) -> float:
    pos = [v for e, v in pairs if e]
    neg = [not v for e, v in pairs if not e]
    rates = [sum(x) / len(x) for x in (pos, neg) if x]
    return sum(rates) / len(rates) if rates else float("nan")


def public_cases() -> list[dict]:
    return [json.loads(line) for line in PUBLIC_CASES.open(encoding="utf-8")]


def _safe(fn: Callable[[str, str], bool], pred: str, gold: str) -> bool:
    try:
        return bool(fn(pred, gold))
    except Exception:  # math-verify raises on some inputs (e.g. off the main thread); count as "not equal"
        return False


def accuracy_public(ours: Callable[[str, str], bool], base: Callable[[str, str], bool]) -> dict:
    """Balanced accuracy of both verifiers on the public labelled cases, overall and per kind."""
    cases = public_cases()
    rows = [(c, _safe(ours, c["prediction"], c["gold"]), _safe(base, c["prediction"], c["gold"])) for c in cases]
    by_kind: dict[str, dict] = {}
    for kind in sorted({c["kind"] for c in cases}) + ["public_labels_only"]:
        sel = [
            r
            for r in rows
            if (r[0]["kind"] == kind if kind != "public_labels_only" else r[0]["label"] in ("source", "relabelled"))
        ]
        by_kind[kind] = {
            "n": len(sel),
            "ours": round(_balanced([(c["expected"], o) for c, o, _ in sel]), 4),
            "baseline": round(_balanced([(c["expected"], b) for c, _, b in sel]), 4),
        }
    o = _balanced([(c["expected"], v) for c, v, _ in rows])
    b = _balanced([(c["expected"], v) for c, _, v in rows])
    sources = sorted({c["source"].split(":")[0].split(" x ")[0] for c in cases})
    return {
        "name": "accuracy_public",
        "unit": "balanced accuracy",
        "ours": round(o, 4),
        "baseline": round(b, 4),
        "speedup": round(o / b, 3) if b else None,
        "n": len(cases),
        "sources": sources,
        "by_kind": by_kind,
    }


def real_pairs() -> list[tuple[str, str, bool]]:
    """(solution, gold, expected) from GSM8K and MATH-500 reference solutions (empty without the data)."""
    import re

    from rewards import parse_gold

    out: list[tuple[str, str, bool]] = []
    path = SHARED / "gsm8k" / "test.jsonl"
    if path.exists():
        rows = [json.loads(line) for line in path.open()][:300]
        for i, row in enumerate(rows):
            solution, answer = row["answer"].rsplit("####", 1)
            solution, answer = re.sub(r"<<[^>]*>>", "", solution).strip(), answer.strip()
            other = parse_gold(rows[(i + 1) % len(rows)]["answer"]) or ""
            out += [(row["answer"], answer, True), (solution, answer, True)]
            out.append((solution, other, other.replace(",", "") == answer.replace(",", "")))
    path = SHARED / "math500" / "test.jsonl"
    if path.exists():
        rows = [json.loads(line) for line in path.open()]
        for i, row in enumerate(rows):
            other = rows[(i + 7) % len(rows)]["answer"]
            out += [(row["solution"], row["answer"], True), (row["solution"], other, other == row["answer"])]
    return out


def accuracy_real(ours: Callable[[str, str], bool], base: Callable[[str, str], bool]) -> dict | None:
    pairs = real_pairs()
    if not pairs:
        return None
    o = _balanced([(e, _safe(ours, p, g)) for p, g, e in pairs])
    b = _balanced([(e, _safe(base, p, _baseline_gold(g))) for p, g, e in pairs])
    return {
        "name": "accuracy_real",
        "unit": "balanced accuracy",
        "ours": round(o, 4),
        "baseline": round(b, 4),
        "speedup": round(o / b, 3) if b else None,
        "n": len(pairs),
    }


class _BusyCores:
    """``n`` busy-loop processes for the duration of a ``with`` block (ours: stopped by pid)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.procs: list = []

    def __enter__(self) -> _BusyCores:
        import subprocess

        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def bound_under_load(timeout_s: float, busy: int = 2) -> dict:
    """Slowest single ``rewards.verify`` call with ``busy`` cores loaded (see the module docstring)."""
    import signal

    from rewards import verify_answer_detailed, verify_detailed
    from rewards.symbolic import get_pool
    from rewards.trl_rewards import make_correctness_reward

    make_correctness_reward(timeout_s=timeout_s)  # building the reward starts and warms the pool
    pool = get_pool()
    sys.path.insert(0, str(REPO))
    from tests.test_rewards_hostile import _hostile_cases

    marker = "/tmp/pwned_bench_bound"
    jobs = [(c["prediction"], c["gold"]) for c in public_cases()]
    jobs += [(c, g) for _, c, g in _hostile_cases(marker)]
    jobs += [(p, g) for p, g, _ in real_pairs()[-400:]]
    worst, worst_what, reasons = 0.0, "", {}

    def timed(fn, *args, what: str) -> object:
        nonlocal worst, worst_what
        t0 = time.perf_counter()
        res = fn(*args, timeout_s=timeout_s)
        dt = time.perf_counter() - t0
        if dt > worst:
            worst, worst_what = dt, what
        reasons[res.reason] = reasons.get(res.reason, 0) + 1
        return res

    with _BusyCores(busy):
        for i, (pred, gold) in enumerate(jobs):
            timed(verify_detailed, pred, gold, what=f"job {i}: {pred[:40]!r}")
        os.kill(pool._idle.queue[-1].proc.pid, signal.SIGKILL)
        after_kill = timed(verify_answer_detailed, "\\sqrt{49}", "7", what="right after SIGKILL")
        os.kill(pool._idle.queue[-1].proc.pid, signal.SIGSTOP)
        stuck = timed(verify_answer_detailed, "\\sqrt{64}", "8", what="stuck worker (SIGSTOP)")
        after_stuck = timed(verify_answer_detailed, "\\sqrt{81}", "9", what="right after the stuck worker's kill")
    if os.path.exists(marker):
        raise SystemExit("hostile input executed code!")
    return {
        "name": "bound",
        "unit": "s",
        "ours": round(worst, 4),
        "baseline": None,
        "speedup": round(1.0 / worst, 2),
        "n": len(jobs) + 3,
        "timeout_s": timeout_s,
        "busy_processes": busy,
        "slowest_call": worst_what,
        "reasons": reasons,
        "after_kill_correct": after_kill.correct,
        "stuck_reason": stuck.reason,
        "after_stuck_correct": after_stuck.correct,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="passes of ours per numeric chunk (it is fast)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "rewards.json"))
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # math-verify warns on every disabled/timed-out call

    import rewards
    from rewards.labelled_cases import LABELLED_CASES
    from rewards.symbolic import get_pool

    rng = random.Random(args.seed)
    rewards.warmup(full=True)  # workers finish warming before anything is timed
    pool = get_pool()
    pool._cache_size = 0  # every symbolic comparison really runs
    ours, base = _ours(), _baseline()
    from rewards._mv_worker import _WARM_PAIRS

    for gold, pred in _WARM_PAIRS:  # same parser warm-up as our workers got
        base(_wrap_gold(pred), _wrap_gold(gold))

    results = []
    worst = {"ours": 0.0, "baseline": 0.0}
    for name, pairs, repeats in (
        ("numeric", numeric_pairs(rng), args.repeats),
        ("latex", latex_pairs(rng), 1),
    ):
        rewards.STATS.snapshot_and_reset()
        m = _interleaved(ours, base, pairs, repeats)
        fast_frac = rewards.STATS.snapshot_and_reset()["verify/fast_path_frac"]
        worst["ours"] = max(worst["ours"], m["ours_worst"])
        worst["baseline"] = max(worst["baseline"], m["base_worst"])
        expected = [i % 2 == 0 for i in range(len(pairs))]
        results.append(
            {
                "name": name,
                "unit": "answers/s",
                "ours": round(m["ours_rate"], 1),
                "baseline": round(m["base_rate"], 1),
                "speedup": round(m["ours_rate"] / m["base_rate"], 2),
                "n": len(pairs),
                "ours_agree_with_label": round(
                    sum(v == e for v, e in zip(m["ours_verdicts"], expected)) / len(pairs), 4
                ),
                "baseline_agree_with_label": round(
                    sum(v == e for v, e in zip(m["base_verdicts"], expected)) / len(pairs), 4
                ),
                "ours_fast_path_frac": round(fast_frac, 4),
                "ours_max_call_s": round(m["ours_worst"], 4),
                "baseline_max_call_s": round(m["base_worst"], 4),
            }
        )

    o_ok = sum(rewards.verify(c.completion, c.gold) == c.expected for c in LABELLED_CASES)
    b_ok = sum(base(c.completion, _baseline_gold(c.gold)) == c.expected for c in LABELLED_CASES)
    n = len(LABELLED_CASES)
    results.append(
        {
            "name": "accuracy_labelled",
            "unit": "accuracy",
            "ours": round(o_ok / n, 4),
            "baseline": round(b_ok / n, 4),
            "speedup": round((o_ok / n) / (b_ok / n), 3) if b_ok else None,
            "n": n,
        }
    )
    results.append(accuracy_public(ours, base))
    real = accuracy_real(ours, base)
    if real is not None:
        results.append(real)
    hostile = _hostile_worst()
    results.append(
        {
            "name": "max_call_latency",
            "unit": "s",
            "ours": round(max(worst["ours"], hostile), 4),
            "baseline": round(worst["baseline"], 4),
            "speedup": None,
            "note": "ours includes the hostile-input set; baseline is not run on it (signal.alarm, 5 s timeouts)",
        }
    )
    from launch.provenance import machine_info
    from rewards.verify import DEFAULT_TIMEOUT_S

    pool._cache_size = 0
    results.append(bound_under_load(DEFAULT_TIMEOUT_S))
    report = {
        "results": results,
        "machine": machine_info(
            VERIFIER_PACKAGES,
            symbolic_workers=pool.n_workers,
            verify_timeout_s=DEFAULT_TIMEOUT_S,
            worker_kills=pool.kills,
        ),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{'benchmark':<20}{'unit':<11}{'ours':>12}{'math-verify':>14}{'ratio':>9}")
    for r in results:
        ratio = "" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        print(f"{r['name']:<20}{r['unit'][:10]:<11}{r['ours']:>12}{str(r['baseline']):>14}{ratio:>9}")
    public = next(r for r in results if r["name"] == "accuracy_public")
    print(f"accuracy_public by kind (n={public['n']}; sources: {', '.join(public['sources'])}):")
    for kind, v in public["by_kind"].items():
        print(f"  {kind:<20}n={v['n']:<5} ours {v['ours']:.3f}   math-verify {v['baseline']:.3f}")
    bound = results[-1]
    print(f"bound: slowest call {bound['ours']} s ({bound['slowest_call']}), reasons {bound['reasons']}")
    for r in results[:2]:
        print(
            f"  {r['name']}: n={r['n']}, agree-with-label ours {r['ours_agree_with_label']:.3f} / "
            f"math-verify {r['baseline_agree_with_label']:.3f}, our fast-path share {r['ours_fast_path_frac']:.2f}"
        )
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
