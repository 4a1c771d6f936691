"""Token counts of the study data with the student tokenizer: the measured half of docs/paper_plan.md.

For each local file it can find (the GSM8K and MATH-500 test files, and the trace-set files given by path) it counts,
with the tokenizer at `--tokenizer` (a Qwen3 tokenizer folder or hub id), the prompt tokens the pipeline sends
(chat template, question + the \\boxed{} instruction, thinking on) and the reference-solution tokens, as mean / p50 /
p90 / max / total. Trace sets give their completion tokens (s1K-1.1: `<think>` trajectory + attempt; OpenR1-Math:
its verified generations; Orca-Math: the worded answer and the answer-only target).

    python -m launch.study_tokens --tokenizer <qwen3 tokenizer dir> [--gsm8k F] [--math500 F] [--s1k F] [--openr1 F]
        [--orca F] [--out docs/study_tokens.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from data.benchmarks import read_local_rows
from data.records import answer_only_completion, prompt_messages

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def stats(counts: list[int]) -> dict[str, Any]:
    ordered = sorted(counts)
    return {
        "n": len(ordered),
        "mean": round(statistics.fmean(ordered), 1),
        "p50": ordered[len(ordered) // 2],
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max": ordered[-1],
        "total": sum(ordered),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--gsm8k", default=str(SHARED / "gsm8k" / "test.jsonl"))
    parser.add_argument("--math500", default=str(SHARED / "math500" / "test.jsonl"))
    parser.add_argument("--s1k", default=None)
    parser.add_argument("--openr1", default=None)
    parser.add_argument("--orca", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)

    def n(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt(question: str) -> int:
        text = tokenizer.apply_chat_template(
            prompt_messages(question), add_generation_prompt=True, tokenize=False, enable_thinking=True
        )
        return n(text)

    report: dict[str, Any] = {"tokenizer": args.tokenizer, "vocab": len(tokenizer)}
    if Path(args.gsm8k).exists():
        rows = read_local_rows(args.gsm8k)
        report["gsm8k_test"] = {
            "prompt": stats([prompt(r["question"]) for r in rows]),
            "solution": stats([n(r["answer"]) for r in rows]),
        }
    if Path(args.math500).exists():
        rows = read_local_rows(args.math500)
        report["math500"] = {
            "prompt": stats([prompt(r["problem"]) for r in rows]),
            "solution": stats([n(r["solution"]) for r in rows]),
        }
    if args.s1k:
        rows = read_local_rows(args.s1k)
        report["s1k"] = {
            "prompt": stats([prompt(r["question"]) for r in rows]),
            "trace": stats(
                [n(f"<think>\n{r['deepseek_thinking_trajectory']}\n</think>\n{r['deepseek_attempt']}") for r in rows]
            ),
        }
    if args.openr1:
        rows = read_local_rows(args.openr1)
        traces = [g for r in rows for g, ok in zip(r["generations"], r["correctness_math_verify"]) if ok]
        report["openr1"] = {
            "prompt": stats([prompt(r["problem"]) for r in rows]),
            "trace": stats([n(t) for t in traces]),
        }
    if args.orca:
        rows = read_local_rows(args.orca)
        report["orca"] = {
            "prompt": stats([prompt(r["question"]) for r in rows]),
            "answer": stats([n(r["answer"]) for r in rows]),
            "answer_only_target": stats([n(answer_only_completion("42")) for _ in rows[:1]]),
        }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
