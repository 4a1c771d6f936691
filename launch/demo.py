"""`python -m launch.demo [overrides...]`: the README's main job on the embedded default.

Builds the shared stages once (toy world, toy base model, teacher traces) on every core, then trains and
evaluates each condition of `demo.conditions` side by side (one process and `threads` threads each, the
same training budget), and prints a table of held-out accuracy that it also writes to
`${output_root}/${run_name}/results.json` as `{"conditions": {name: {accuracy, n_eval, train_seconds, wall_seconds,
sft_steps, rl_steps, rl_learning}}}` (rl_learning: rl.learning_check's verdict on the GRPO training pass rate).
`sft_grpo` starts GRPO from the very trace-SFT run of `trace_sft` (a shared stage), so the table shows the SFT
start and what GRPO made of it side by side.
Any pipeline override (`sft.max_steps=100`, `data.n_test=200`, `model=...`) is passed to every condition.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from launch.conditions import plan_stages
from launch.config_check import ConfigError, compose
from launch.stage_state import read_summary


def _pipeline(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "launch.pipeline", *args], env=env)


def run_demo(overrides: list[str]) -> dict[str, Any]:
    """Run the demo's conditions and return the results table (also written to disk)."""
    cfg = compose(["run_name=demo", *overrides])
    overrides = [*cfg.demo.overrides, *overrides]
    conditions = list(cfg.demo.conditions)
    for name in conditions:  # fail before any work on an unknown condition, a bad value or a stage list that cannot run
        plan_stages(compose(["run_name=demo", *overrides, f"condition={name}"]))
    env = dict(os.environ, HYDRA_FULL_ERROR="1")
    base_args = ["run_name=demo", *overrides]
    start = time.perf_counter()
    shared = "[data,base,teacher]"
    if (
        _pipeline(
            [
                *base_args,
                f"condition={conditions[-1]}",
                f"only_stages={shared}",
                f"threads={cfg.model.pretrain.threads if cfg.model.pretrain else cfg.threads}",
            ],
            env,
        ).wait()
        != 0
    ):
        raise SystemExit("demo: the shared stages (data, base, teacher) failed; see the log above")
    procs = []
    for name in conditions:
        proc = _pipeline([*base_args, f"condition={name}"], env)
        if not cfg.demo.parallel:
            proc.wait()
        procs.append((name, proc))
    failed = [name for name, proc in procs if proc.wait() != 0]
    if failed:
        raise SystemExit(f"demo: condition(s) {failed} failed; see the log above")
    table: dict[str, Any] = {}
    for name in conditions:
        summary = read_summary(Path(cfg.output_root) / "demo" / name / f"seed{cfg.seed}") or {}
        table[name] = {
            "accuracy": summary.get("accuracy"),
            "n_eval": summary.get("n_eval"),
            "train_seconds": summary.get("train_seconds"),
            "wall_seconds": summary.get("wall_seconds"),
            "sft_steps": summary.get("sft_steps"),
            "rl_steps": summary.get("rl_steps"),
            "rl_learning": (summary.get("rl_learning") or {}).get("verdict"),
        }
    results = {"conditions": table, "wall_seconds": time.perf_counter() - start, "seed": int(cfg.seed)}
    path = Path(cfg.demo.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    plot_results(table, path.with_suffix(".png"))
    print_table(table, path)
    return results


def plot_results(table: dict[str, Any], png: Path) -> None:
    """A bar chart of held-out accuracy per condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    values = [100 * (table[n]["accuracy"] or 0.0) for n in names]
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(names), 3.2))
    bars = ax.bar(names, values, color="#4C72B0")
    ax.bar_label(bars, fmt="%.1f%%")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_ylim(0, max(100.0, max(values, default=0) * 1.15))
    ax.set_title(f"Toy world, n_eval={table[names[0]]['n_eval'] if names else 0}")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def print_table(table: dict[str, Any], path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(title="Held-out accuracy (toy world)")
    for column in ("condition", "accuracy", "n_eval", "SFT steps", "GRPO steps", "GRPO pass rate", "train s", "wall s"):
        view.add_column(column, justify="left" if column == "condition" else "right")
    for name, row in table.items():
        view.add_row(
            name,
            f"{100 * row['accuracy']:.1f}%",
            str(row["n_eval"]),
            str(row["sft_steps"] or "—"),
            str(row["rl_steps"] or "—"),
            row.get("rl_learning") or "—",
            f"{row['train_seconds'] or 0:.0f}",
            f"{row['wall_seconds'] or 0:.0f}",
        )
    console = Console()
    console.print(view)
    console.print(f"written to {path} and {path.with_suffix('.png')}")


def main() -> None:
    try:
        run_demo(sys.argv[1:])
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
