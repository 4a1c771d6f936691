"""Report eval results: a markdown table and a PNG plot (accuracy with its bootstrap CI per benchmark and
condition), gathered from one summary or every `metrics.json` under a folder.

A row is one (condition, benchmark) result: `condition` names the model (a run label or the checkpoint) and
the decoding, e.g. `trace_sft [greedy]`. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data.atomic_io import write_bytes_atomic, write_text_atomic

COLUMNS = (
    "condition",
    "benchmark",
    "n",
    "accuracy",
    "95% CI",
    "pass@k",
    "maj@k",
    "mean@n",
    "mean tokens",
    "truncated",
    "no answer",
)


def _model_name(summary: Mapping[str, Any]) -> str:
    if summary.get("label"):
        return str(summary["label"])
    parts = [p for p in str(summary.get("model_path", "?")).split("/") if p]
    return "/".join(parts[-3:]) or "?"


def summary_row(summary: Mapping[str, Any]) -> dict[str, Any]:
    """One report row from an `evaluate_items` summary (the largest k of pass@k / maj@k is shown)."""
    n_samples = int(summary.get("n_samples", 1) or 1)
    ks = sorted(int(key.split("@")[1]) for key in summary if key.startswith("pass@"))
    k = ks[-1] if ks else None
    decoding = summary.get("decoding", "greedy")
    if decoding == "sample":
        decoding = f"sample n={n_samples} T={summary.get('temperature')}"
    return {
        "condition": f"{_model_name(summary)} [{decoding}]",
        "benchmark": summary.get("benchmark") or "items",
        "n": int(summary.get("n_eval", 0)),
        "accuracy": float(summary.get("accuracy", 0.0)),
        "ci_low": float(summary.get("ci_low", summary.get("accuracy", 0.0))),
        "ci_high": float(summary.get("ci_high", summary.get("accuracy", 0.0))),
        "k": k,
        "pass@k": summary.get(f"pass@{k}") if k else None,
        "maj@k": summary.get(f"maj@{k}") if k else None,
        "mean@n": summary.get("mean@n"),
        "mean_tokens": float(summary.get("mean_tokens", 0.0)),
        "truncation_rate": float(summary.get("truncation_rate", 0.0)),
        "no_answer_rate": float(summary.get("no_answer_rate", 0.0)),
    }


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.1f}"


def table_cells(row: Mapping[str, Any]) -> list[str]:
    """The row's cells, in `COLUMNS` order (percentages with one decimal)."""
    k = row.get("k")
    return [
        str(row["condition"]),
        str(row["benchmark"]),
        str(row["n"]),
        _pct(row["accuracy"]),
        f"{_pct(row['ci_low'])}–{_pct(row['ci_high'])}",
        f"{_pct(row['pass@k'])} (k={k})" if k else "–",
        f"{_pct(row['maj@k'])} (k={k})" if k else "–",
        _pct(row.get("mean@n")),
        f"{row['mean_tokens']:.1f}",
        _pct(row["truncation_rate"]),
        _pct(row["no_answer_rate"]),
    ]


def markdown_table(rows: list[Mapping[str, Any]]) -> str:
    """A markdown table of the rows (accuracy, CI, pass@k, maj@k, mean@n, truncation in %)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(table_cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def natural_key(text: str) -> list[Any]:
    """Sort key comparing digit runs by value (`checkpoint-50` < `checkpoint-100`)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def plot_accuracy(rows: list[Mapping[str, Any]], path: str | Path, title: str = "accuracy") -> Path:
    """Grouped bars: one group per benchmark, one bar per condition, the bootstrap CI as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benchmarks = sorted({r["benchmark"] for r in rows})
    conditions = sorted({r["condition"] for r in rows}, key=natural_key)
    width = 0.8 / max(1, len(conditions))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(benchmarks) * max(1, len(conditions)) ** 0.5 + 2), 3.6))
    for c_index, condition in enumerate(conditions):
        xs, ys, low, high = [], [], [], []
        for b_index, benchmark in enumerate(benchmarks):
            row = next((r for r in rows if r["benchmark"] == benchmark and r["condition"] == condition), None)
            if row is None:
                continue
            xs.append(b_index + (c_index - (len(conditions) - 1) / 2) * width)
            ys.append(100 * row["accuracy"])
            low.append(100 * (row["accuracy"] - row["ci_low"]))
            high.append(100 * (row["ci_high"] - row["accuracy"]))
        ax.bar(xs, ys, width=width, yerr=[low, high], capsize=3, label=condition)
    ax.set_xticks(range(len(benchmarks)), benchmarks)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    path = Path(path)
    image = io.BytesIO()
    fig.savefig(image, dpi=120, format=path.suffix[1:].lower() or None)  # the format `path`'s suffix names
    plt.close(fig)
    return write_bytes_atomic(path, image.getvalue())


def write_report(
    rows: list[Mapping[str, Any]], out_dir: str | Path, title: str = "eval", stem: str = "report"
) -> dict[str, Path]:
    """`<stem>.md` (title + table) and `<stem>.png` (accuracy with CI) in `out_dir`; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f"{stem}.md"
    ci = "95% CI: percentile bootstrap over items. Percentages; pass@k / maj@k at the largest k sampled."
    write_text_atomic(md, f"# {title}\n\n{markdown_table(rows)}\n{ci}\n")
    png = plot_accuracy(rows, out_dir / f"{stem}.png", title=title)
    return {"markdown": md, "plot": png}


def collect_rows(root: str | Path) -> list[dict[str, Any]]:
    """A report row for every `metrics.json` under `root` (sorted by benchmark, then condition, numbers inside a
    name by value: checkpoint-50 before checkpoint-100)."""
    rows = []
    for path in sorted(Path(root).rglob("metrics.json")):
        try:
            rows.append(summary_row(json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError):
            continue  # one being written right now
    return sorted(rows, key=lambda r: (r["benchmark"], natural_key(r["condition"])))
