"""`python -m launch.demo [overrides...]`: the README's main job on the embedded default.

Builds the shared stages once (toy world, toy base model, teacher traces) on every core, then trains and
evaluates each condition of `demo.conditions` side by side (one process and `threads` threads each, the
same training budget), and prints a table of held-out accuracy that it also writes to
`${output_root}/${run_name}/results.json` as `{"conditions": {name: {accuracy, n_eval, train_seconds, wall_seconds,
sft_steps, rl_steps, rl_learning}}}` (rl_learning: rl.learning_check's verdict on the GRPO training pass rate).
`sft_grpo` starts GRPO from the very trace-SFT run of `trace_sft` (a shared stage), so the table shows the SFT
start and what GRPO made of it side by side.
`base` is the start model evaluated untrained; `redistill` samples the GRPO run of `sft_grpo` (also shared).
Any pipeline override (`sft.max_steps=100`, `data.n_test=200`, `model=...`) is passed to every condition.
The conditions of `demo.critical_path` (the chain redistill waits on) run at the demo's priority, the others at
`demo.nice`, so the cores serve the longest chain first.

The terminal shows one line when a condition starts and one when it ends (seconds, accuracy); each process's full
log (trainer logs, warnings, a traceback) goes to `<run folder>/pipeline.log` (the shared stages':
`${output_root}/demo/shared_stages.log`), with progress bars off. `results.png`: accuracy by condition, and GRPO's
training pass rate over its steps (the rl stage's `log_history.json`).
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
from launch.quiet_output import QUIET_ENV
from launch.stage_state import read_summary


def _pipeline(args: list[str], env: dict[str, str], log_path: Path, nice: int = 0) -> subprocess.Popen:
    """`python -m launch.pipeline <args>` with stdout and stderr written to `log_path` (appended), not the terminal;
    at niceness `nice` (0: the demo's own priority)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log_file:
        log_file.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} launch.pipeline {' '.join(args)}\n")
        log_file.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "launch.pipeline", *args],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )


def _tail(log_path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _say(text: str) -> None:
    print(text, flush=True)


def shared_stages(plans: dict[str, list[str]]) -> list[str]:
    """The stages built once before the conditions start: data, base and teacher where some condition needs them."""
    used = {s for plan in plans.values() for s in plan}
    return [s for s in ("data", "base", "teacher") if s in used]


def run_demo(overrides: list[str]) -> dict[str, Any]:
    """Run the demo's conditions and return the results table (also written to disk). The terminal shows one line
    when a condition starts and one when it ends; each process's full log is `<run folder>/pipeline.log`."""
    cfg = compose(["run_name=demo", *overrides])
    overrides = [*cfg.demo.overrides, *overrides]
    conditions = list(cfg.demo.conditions)
    plans = {}
    for name in conditions:  # fail before any work on an unknown condition, a bad value or a stage list that cannot run
        plans[name] = [s.name for s in plan_stages(compose(["run_name=demo", *overrides, f"condition={name}"]))]
    env = dict(os.environ, **QUIET_ENV)
    base_args = ["run_name=demo", *overrides]
    demo_dir = Path(cfg.output_root) / "demo"
    start = time.perf_counter()
    shared = shared_stages(plans)
    host = next(name for name in conditions if set(shared) <= set(plans[name]))  # builds the shared stages
    shared_log = demo_dir / "shared_stages.log"
    _say(f"shared stages ({', '.join(shared)}): started, log in {shared_log}")
    threads = cfg.model.pretrain.threads if cfg.model.pretrain else cfg.threads
    args = [*base_args, f"condition={host}", f"only_stages=[{','.join(shared)}]", f"threads={threads}"]
    if _pipeline(args, env, shared_log).wait() != 0:
        print(_tail(shared_log), file=sys.stderr)
        raise SystemExit(f"demo: the shared stages ({', '.join(shared)}) failed; full log: {shared_log}")
    _say(f"shared stages: finished in {time.perf_counter() - start:.0f} s")
    failed: list[str] = []
    running: list[tuple[str, subprocess.Popen, Path, float]] = []
    for name in conditions:
        log_path = demo_dir / name / f"seed{cfg.seed}" / "pipeline.log"
        _say(f"{name}: started ({' -> '.join(plans[name])}), log in {log_path}")
        nice = 0 if name in cfg.demo.critical_path else int(cfg.demo.nice)
        proc = _pipeline([*base_args, f"condition={name}"], env, log_path, nice=nice)
        running.append((name, proc, log_path, time.perf_counter()))
        while running and (not cfg.demo.parallel or name == conditions[-1]):  # report each as it ends
            for job in [j for j in running if j[1].poll() is not None]:
                running.remove(job)
                if _report(job, demo_dir, cfg.seed) != 0:
                    failed.append(job[0])
            time.sleep(0.5 if running else 0)
    if failed:
        raise SystemExit(f"demo: condition(s) {failed} failed; see their pipeline.log (tails above)")
    table: dict[str, Any] = {}
    curves: dict[str, list[tuple[int, float]]] = {}
    rl_runs: dict[str, str] = {}  # GRPO run -> the conditions that share it (sft_grpo and redistill do)
    for name in conditions:
        summary = read_summary(demo_dir / name / f"seed{cfg.seed}") or {}
        table[name] = {
            "accuracy": summary.get("accuracy"),
            "n_eval": summary.get("n_eval"),
            "train_seconds": summary.get("train_seconds"),
            "wall_seconds": summary.get("wall_seconds"),
            "sft_steps": summary.get("sft_steps"),
            "rl_steps": summary.get("rl_steps"),
            "rl_learning": (summary.get("rl_learning") or {}).get("verdict"),
        }
        if summary.get("rl_path") and pass_rate_curve(summary["rl_path"]):
            label = rl_runs.pop(summary["rl_path"], None)
            curves.pop(label, None)
            rl_runs[summary["rl_path"]] = f"{label}, {name}" if label else name
            curves[rl_runs[summary["rl_path"]]] = pass_rate_curve(summary["rl_path"])
    results = {"conditions": table, "wall_seconds": time.perf_counter() - start, "seed": int(cfg.seed)}
    path = Path(cfg.demo.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    plot_results(table, path.with_suffix(".png"), curves)
    print_table(table, path)
    return results


def _report(job: tuple[str, subprocess.Popen, Path, float], demo_dir: Path, seed: int) -> int:
    """The finished line of one condition's ended process (or its log's last lines when it failed); its exit code."""
    name, proc, log_path, started = job
    rc = proc.returncode
    seconds = time.perf_counter() - started
    if rc != 0:
        print(f"{name}: FAILED after {seconds:.0f} s (exit {rc}); last lines of {log_path}:", file=sys.stderr)
        print(_tail(log_path), file=sys.stderr)
        return rc
    accuracy = (read_summary(demo_dir / name / f"seed{seed}") or {}).get("accuracy")
    _say(f"{name}: finished in {seconds:.0f} s" + (f", accuracy {100 * accuracy:.1f}%" if accuracy is not None else ""))
    return rc


def pass_rate_curve(rl_model_path: str | None) -> list[tuple[int, float]]:
    """GRPO's training pass rate per logged step, `[(step, rate)]`, from the rl stage's `log_history.json` (next to
    its `final/` model; `signals/correctness_reward/pass_rate`, else TRL's mean `reward`); [] without a GRPO run."""
    if not rl_model_path:
        return []
    from rl.learning_check import PASS_RATE

    try:
        history = json.loads((Path(rl_model_path).parent / "log_history.json").read_text())
    except (OSError, json.JSONDecodeError):
        return []
    logs = [e for e in history if "reward" in e and "step" in e]
    metric = PASS_RATE if any(PASS_RATE in e for e in logs) else "reward"
    return [(int(e["step"]), float(e[metric])) for e in logs if e.get(metric) is not None]


def plot_results(table: dict[str, Any], png: Path, curves: dict[str, list[tuple[int, float]]] | None = None) -> None:
    """A bar chart of held-out accuracy per condition and, beside it when a condition ran GRPO, the GRPO training
    pass rate over steps (one line per GRPO run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {k: v for k, v in (curves or {}).items() if v}
    names = list(table)
    values = [100 * (table[n]["accuracy"] or 0.0) for n in names]
    width = 1.6 + 1.2 * len(names)
    fig, axes = plt.subplots(1, 2 if curves else 1, figsize=(width + (5.0 if curves else 0), 3.6), squeeze=False)
    ax = axes[0][0]
    bars = ax.bar(names, values, color="#4C72B0")
    ax.bar_label(bars, fmt="%.1f%%")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_ylim(0, max(100.0, max(values, default=0) * 1.15))
    ax.set_title(f"Toy world, n_eval={table[names[0]]['n_eval'] if names else 0}")
    ax.tick_params(axis="x", labelrotation=30)
    if curves:
        curve_ax = axes[0][1]
        for name, points in curves.items():
            steps, rates = zip(*points, strict=True)
            curve_ax.plot(steps, [100 * r for r in rates], marker=".", label=name)
        top = max(100 * r for points in curves.values() for _, r in points)
        curve_ax.set_ylim(0, max(5.0, 1.15 * top))
        curve_ax.set_xlabel("GRPO step")
        curve_ax.set_ylabel("training pass rate (%)")
        curve_ax.set_title("GRPO training pass rate")
        curve_ax.legend(fontsize="small")
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
            "—" if row["accuracy"] is None else f"{100 * row['accuracy']:.1f}%",
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
