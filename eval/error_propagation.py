"""Error propagation: force a wrong intermediate result into the first step of a trace prefix, let the model
continue, and count how often it still reaches the right answer.

For each toy problem the forced prefix is the think block opened with the problem's first operation written
as a bare equation with a wrong result (`<think>\\n9 * 7 = 65\\n`, off by 2, or another small offset that stays
>= 0); the model's continuation after it is scored as a whole completion (prefix + continuation). Reported:
`recovery_rate` (share of probed problems answered right after the forced error), and `propagation_rate`: among
the problems the model answers right WITHOUT the forced error (the eval stage's own records), the share it gets
wrong with it (the literature's "error propagation rate"). Only formats whose steps come before the answer can be
probed this way (pre, adaptive); post writes the answer first, so nothing written in a step can reach it: it is
reported as not applicable (null), never as a rate of 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from data.atomic_io import write_text_atomic
from data.trace_format import trace_format
from eval.items import to_eval_items
from eval.scoring import score_many
from eval.settings import settings_from

OFFSETS = (2, -2, 10, 1, -1)


def forced_prefix(problem: dict[str, Any], format_name: str) -> str | None:
    """The forced wrong first step of `problem` in format `format_name`, or None (post: the answer comes first)."""
    if trace_format(format_name).name == "post":
        return None
    step = problem["steps"][0]
    wrong = next(step["result"] + d for d in OFFSETS if step["result"] + d >= 0)
    return f"<think>\n{step['a']} {step['op']} {step['b']} = {wrong}\n"


def error_propagation(
    model_path: str,
    problems: list[dict[str, Any]],
    baseline: dict[str, bool],
    out_dir: str | Path,
    cfg: dict[str, Any],
) -> dict[str, Any]:
    """Probe `problems` (toy problems with `steps`) with a forced wrong first step; `baseline` maps a problem id to
    whether the unforced eval answered it right. Writes `items.jsonl` and `metrics.json` into `out_dir`."""
    from eval.evaluate import make_backend

    settings = settings_from(cfg)
    fmt = trace_format(settings.trace_format)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"format": fmt.name, "n_probed": 0, "recovery_rate": None, "propagation_rate": None}
    if fmt.name == "post":
        summary["note"] = "post writes the answer before any step: a forced step cannot reach it (not applicable)"
        write_text_atomic(out_dir / "metrics.json", json.dumps(summary, indent=2))
        return summary
    items = to_eval_items(problems, settings.prompt_template)
    prefixes = [forced_prefix(p, fmt.name) or "" for p in problems]
    prompt_text, generate = make_backend(model_path, settings)
    prompts = [prompt_text(item["user_prompt"]) + prefix for item, prefix in zip(items, prefixes)]
    outputs = generate(prompts, None, settings.seed)
    completions = [prefix + samples[0]["text"] for prefix, samples in zip(prefixes, outputs)]
    scored = score_many(items, [[fmt.answer_region(c)] for c in completions])
    records = [
        {
            "id": item["id"],
            "gold": item["gold"],
            "prefix": prefix,
            "completion": completion,
            "extracted": answers[0],
            "correct": bool(verdicts[0]),
            "correct_unforced": baseline.get(str(item["id"])),
        }
        for item, prefix, completion, (answers, verdicts) in zip(items, prefixes, completions, scored)
    ]
    write_text_atomic(out_dir / "items.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    solved = [r for r in records if r["correct_unforced"]]
    summary.update(
        n_probed=len(records),
        recovery_rate=sum(r["correct"] for r in records) / len(records) if records else None,
        n_solved_unforced=len(solved),
        propagation_rate=sum(not r["correct"] for r in solved) / len(solved) if solved else None,
    )
    write_text_atomic(out_dir / "metrics.json", json.dumps(summary, indent=2))
    return summary
