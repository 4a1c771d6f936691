"""Aggregate a Hydra multirun of `launch.pipeline` into `results.json`, `results.md` and `results.png`.

Registered as a Hydra callback in conf/config.yaml: after the last job of `python -m launch.pipeline -m ...`
(any launcher: local, joblib, submitit/Slurm) it reads each job's resolved config from the sweep folder
(`<condition>/seed<seed>/.hydra/config.yaml`, written by this multirun), finds the run's `summary.json`, checks
that the summary was produced by that same config (its `config_fingerprint`), and writes mean ± std over
seeds per condition with cost columns. A job without a matching summary is listed as missing, never dropped
silently. `python -m launch.sweep_report <sweep_dir>` re-aggregates by hand.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

ORDER = ("base", "answer_only_sft", "trace_sft", "redistill", "grpo", "sft_grpo", "sft_control", "kd")


def config_fingerprint(cfg: DictConfig | dict[str, Any]) -> str:
    """Fingerprint of a run's resolved task config (what the run summary records and the report checks)."""
    from launch.stage_state import fingerprint

    plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    plain.pop("hydra", None)
    return fingerprint("run-config", plain)


def run_label(cfg: DictConfig) -> str:
    """The table row of a run: its condition, plus what the format study varies when it is not the default (the
    trace format, the program teacher's structure ablation and path count), e.g. `trace_sft post`,
    `trace_sft delete_steps 0.67`, `trace_sft 5 paths`. A config without those knobs is its condition alone."""
    parts = [str(cfg.condition.name)]
    fmt = OmegaConf.select(cfg, "format.name")
    if fmt and fmt != "pre":
        min_ops = OmegaConf.select(cfg, "format.min_ops")
        parts.append(f"{fmt} (min_ops {min_ops})" if fmt == "adaptive" else str(fmt))
    ablation = OmegaConf.select(cfg, "teacher.ablation")
    if ablation and ablation != "none":
        parts.append(f"{ablation} {float(OmegaConf.select(cfg, 'teacher.ablation_share')):g}")
    if OmegaConf.select(cfg, "teacher.name") == "program":
        from launch.config_check import CONF_DIR

        default = OmegaConf.load(CONF_DIR / "teacher" / "program.yaml").n_paths
        n_paths = OmegaConf.select(cfg, "teacher.n_paths")
        if n_paths is not None and n_paths != default:
            parts.append(f"{n_paths} paths")
    return " ".join(parts)


def job_configs(sweep_dir: Path, since: float | None = None) -> list[tuple[Path, DictConfig]]:
    """Every job config of the sweep folder (only those written at or after `since`, when given)."""
    found = []
    for path in sorted(sweep_dir.glob("**/.hydra/config.yaml")):
        if since is not None and path.stat().st_mtime < since - 1.0:
            continue
        found.append((path.parent.parent, OmegaConf.load(path)))
    return found


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(sweep_dir: str | Path, since: float | None = None) -> dict[str, Any]:
    """The sweep's results: per condition, accuracy mean/std over seeds, per-seed values and costs."""
    from launch.stage_state import read_summary

    sweep_dir = Path(sweep_dir)
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    missing, benchmark = [], None
    for job_dir, cfg in job_configs(sweep_dir, since):
        run = Path(cfg.output_root) / str(cfg.run_name) / str(cfg.condition.name) / f"seed{cfg.seed}"
        summary = read_summary(run)
        listed = list(OmegaConf.select(cfg, "eval.benchmarks") or [])
        held_out = f"{cfg.data.name} held-out (n={cfg.data.get('n_test', '?') or 'all'})"
        benchmark = benchmark or (f"{', '.join(listed)} (accuracy: {listed[0]})" if listed else held_out)
        if not summary or "accuracy" not in summary or summary.get("config_fingerprint") != config_fingerprint(cfg):
            missing.append(
                {
                    "condition": run_label(cfg),
                    "seed": int(cfg.seed),
                    "job_dir": str(job_dir),
                    "reason": "no summary" if not summary else "summary from another config or incomplete",
                }
            )
            continue
        runs.setdefault(run_label(cfg), {})[int(cfg.seed)] = summary
    names = [n for n in ORDER if n in runs] + sorted(n for n in runs if n not in ORDER)
    table: dict[str, Any] = {}
    for name in names:
        by_seed = dict(sorted(runs[name].items()))
        rows = list(by_seed.values())
        mean, std = _mean_std([r["accuracy"] for r in rows])
        entry = {
            "accuracy_mean": mean,
            "accuracy_std": std,
            "n_seeds": len(rows),
            "accuracy_by_seed": {str(s): r["accuracy"] for s, r in by_seed.items()},
            "n_eval": rows[0].get("n_eval"),
        }
        for key in (
            "train_seconds",
            "wall_seconds",
            "gpu_hours",
            "price_usd",
            "teacher_usd",
            "total_usd",
            "cpu_core_hours",
        ):
            values = [float(r[key]) for r in rows if r.get(key) is not None]
            entry[f"{key}_mean"] = statistics.fmean(values) if values else None
        deployed = [r["deploy"] for r in rows if (r.get("deploy") or {}).get("accuracy") is not None]
        if deployed:  # deploy.enabled: the quantized GGUF's held-out accuracy beside the full-precision one
            entry["deploy"] = {
                "quant": deployed[0]["quant"],
                "accuracy_mean": _mean_std([float(d["accuracy"]) for d in deployed])[0],
                "accuracy_std": _mean_std([float(d["accuracy"]) for d in deployed])[1],
                "n_seeds": len(deployed),
            }
        skipped = [float(r["trace_shape"]["skipped_step_share"]) for r in rows if r.get("trace_shape")]
        entry["skipped_step_share_mean"] = statistics.fmean(skipped) if skipped else None  # eval.trace_shape
        per_benchmark: dict[str, list[float]] = {}  # eval.benchmarks: one column each
        n_items: dict[str, int | None] = {}  # items each benchmark scored (the first seed's)
        for r in rows:
            for bench, metrics in (r.get("benchmarks") or {}).items():
                per_benchmark.setdefault(bench, []).append(float(metrics["accuracy"]))
                n_items.setdefault(bench, metrics.get("n_eval"))
        if per_benchmark:
            entry["benchmarks"] = {
                b: {
                    "accuracy_mean": _mean_std(v)[0],
                    "accuracy_std": _mean_std(v)[1],
                    "n_seeds": len(v),
                    "n_eval": n_items[b],
                }
                for b, v in per_benchmark.items()
            }
        round_accs: dict[int, list[float]] = {}
        for r in rows:
            for entry_round in r.get("rounds") or []:
                acc = entry_round.get("accuracy")
                if entry_round["round"] == len(r["rounds"]):
                    acc = r["accuracy"]
                if acc is not None:
                    round_accs.setdefault(int(entry_round["round"]), []).append(float(acc))
        if round_accs:
            entry["rounds"] = [
                {"round": k, "accuracy_mean": _mean_std(v)[0], "accuracy_std": _mean_std(v)[1], "n_seeds": len(v)}
                for k, v in sorted(round_accs.items())
            ]
        entry.update(_measures(rows))
        learning = {str(s): r["rl_learning"] for s, r in by_seed.items() if r.get("rl_learning")}
        if learning:
            entry["rl_learning"] = learning
        table[name] = entry
    return {
        "sweep_dir": str(sweep_dir),
        "benchmark": benchmark,
        "conditions": table,
        "missing": missing,
        "n_jobs": sum(len(v) for v in runs.values()) + len(missing),
    }


# The format study's measures (issue 17; launch/conditions.py _measures), mean over seeds; absent from a run
# summary written before they existed, and then absent (None) here.
MEASURES = {
    "tokens_per_answer": lambda r: r.get("tokens_per_answer"),
    "seconds_per_answer": lambda r: r.get("seconds_per_answer"),
    "long_think_share": lambda r: (r.get("thinking") or {}).get("long_share"),
    "template_shift_accuracy": lambda r: r.get("template_shift_accuracy"),
    "propagation_rate": lambda r: (r.get("error_propagation") or {}).get("propagation_rate"),
    "recovery_rate": lambda r: (r.get("error_propagation") or {}).get("recovery_rate"),
}


def _measures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`<measure>_mean` (and `_std` over seeds) of every measure some run has; nothing for runs without them."""
    out: dict[str, Any] = {}
    for name, read in MEASURES.items():
        values = [float(v) for v in (read(r) for r in rows) if v is not None]
        if values:
            out[f"{name}_mean"], out[f"{name}_std"] = _mean_std(values)
    return out


def _learning_cell(seed: str, verdict: dict[str, Any]) -> str:
    """`seed 0 improving (probe 19.8 -> 28.2%, t=6.7, 256 prompts; training 20.1 -> 27.6%, t=6.0)`: the verdict, then
    the learning probe's numbers (which the verdict is, when the run had a probe), then the log history's."""
    parts = []
    probe = verdict.get("probe") or {}
    if probe.get("t") is not None:
        parts.append(
            f"probe {100 * probe['before']:.1f} -> {100 * probe['after']:.1f}%, t={probe['t']:.1f}, "
            f"{probe['n_prompts']} prompts"
        )
    if verdict.get("early") is not None:
        log = f"{100 * verdict['early']:.1f} -> {100 * verdict['late']:.1f}%, t={verdict['t']:.1f}"
        parts.append(f"training {log}" if parts else log)
    return f"seed {seed} {verdict['verdict']}" + (f" ({'; '.join(parts)})" if parts else "")


def _total(entry: dict[str, Any]) -> float | None:
    """Mean total cost of a condition; summaries from before `total_usd` existed: the GPU price plus the teachers'."""
    if entry.get("total_usd_mean") is not None:
        return entry["total_usd_mean"]
    if entry.get("price_usd_mean") is None:
        return None
    return entry["price_usd_mean"] + (entry.get("teacher_usd_mean") or 0.0)


def _pm(entry: dict[str, Any]) -> str:
    return f"{100 * entry['accuracy_mean']:.1f} ± {100 * entry['accuracy_std']:.1f}"


def markdown(results: dict[str, Any]) -> str:
    """The results as a markdown table (accuracy in %, mean ± std over seeds; costs per run, mean over seeds)."""
    benches = list(dict.fromkeys(b for e in results["conditions"].values() for b in e.get("benchmarks") or {}))
    quants = sorted({e["deploy"]["quant"] for e in results["conditions"].values() if e.get("deploy")})
    deploy_head = f"{'/'.join(quants)} GGUF accuracy % | " if quants else ""
    lines = [
        f"# Sweep results: {results['benchmark']}",
        "",
        "| condition | accuracy % (mean ± std) | "
        + "".join(f"{b} % | " for b in benches)
        + deploy_head
        + "seeds | per seed | steps skipped % | train s | wall s | GPU-h | total $ | GPU $ | teacher API $ |",
        "|---|---|" + "---|" * (len(benches) + bool(quants)) + "---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in results["conditions"].items():
        per_seed = ", ".join(f"{100 * v:.1f}" for v in e["accuracy_by_seed"].values())
        fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
        skipped = e.get("skipped_step_share_mean")
        cells = "".join(
            "— | " if b not in (e.get("benchmarks") or {}) else _pm(e["benchmarks"][b]) + " | " for b in benches
        )
        if quants:
            cells += (_pm(e["deploy"]) if e.get("deploy") else "—") + " | "
        lines.append(
            f"| {name} | {100 * e['accuracy_mean']:.1f} ± {100 * e['accuracy_std']:.1f} | {cells}{e['n_seeds']} | "
            f"{per_seed} | {fmt(None if skipped is None else 100 * skipped, '.1f')} | "
            f"{fmt(e['train_seconds_mean'], '.0f')} | {fmt(e['wall_seconds_mean'], '.0f')} | "
            f"{fmt(e['gpu_hours_mean'], '.3f')} | {fmt(_total(e), '.2f')} | {fmt(e['price_usd_mean'], '.2f')} | "
            f"{fmt(e.get('teacher_usd_mean'), '.2f')} |"
        )
    lines += _measures_table(results)
    rounds = {n: e["rounds"] for n, e in results["conditions"].items() if e.get("rounds")}
    for name, entries in rounds.items():
        lines += [
            "",
            f"{name} by round: "
            + "; ".join(
                f"round {r['round']}: {100 * r['accuracy_mean']:.1f} ± {100 * r['accuracy_std']:.1f} ({r['n_seeds']} seeds)"  # noqa: E501
                for r in entries
            ),
        ]
    learning = {n: e["rl_learning"] for n, e in results["conditions"].items() if e.get("rl_learning")}
    if learning:
        lines += [
            "",
            "GRPO learning check (rl.learning_check; flat = inside the noise, |t| <= 3): the learning probe's pass"
            " rate on fixed training prompts, start -> end, where the run had one (rl.learning_probe); the training"
            " pass rate, first -> last third of the run:",
        ]
    for name, by_seed in learning.items():
        lines.append(f"- {name}: " + "; ".join(_learning_cell(seed, v) for seed, v in by_seed.items()))
    if results["conditions"] and "base" not in results["conditions"]:  # the floor every recipe is read against
        lines += [
            "",
            "No `base` row (the start model, untrained): add `condition=base` to the multirun to have the floor.",
        ]
    if results["missing"]:
        lines += ["", "Missing or failed runs (not in the table):"]
        lines += [f"- {m['condition']} seed {m['seed']}: {m['reason']} ({m['job_dir']})" for m in results["missing"]]
    lines += [
        "",
        "Steps skipped: share of held-out completions with a line that folds two or more operations "
        "(eval.trace_shape). Wall s and costs charge every stage a run used after its start model (shared stages "
        "included); GPU-h = wall h × GPUs held, GPU $ = GPU-h × cost.price_per_gpu_hour, teacher API $ = the "
        "teachers' tokens × their price per million tokens (conf/teacher/*.yaml), total $ = GPU $ + teacher API $.",
    ]
    return "\n".join(lines) + "\n"


def _measures_table(results: dict[str, Any]) -> list[str]:
    """A second table with the format study's measures, when a run of the sweep has any (else nothing)."""
    entries = results["conditions"]
    if not any(f"{m}_mean" in e for e in entries.values() for m in ("template_shift_accuracy", "propagation_rate")):
        return []

    def cell(e: dict[str, Any], key: str, scale: float, spec: str, std: bool = False) -> str:
        if e.get(f"{key}_mean") is None:
            return "—"
        text = format(scale * e[f"{key}_mean"], spec)
        return text + (f" ± {format(scale * e[f'{key}_std'], spec)}" if std else "")

    lines = [
        "",
        "| run | accuracy % | template-shift accuracy % | tokens / answer | s / answer | long think % "
        "| error propagation % | recovery after a forced error % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in entries.items():
        lines.append(
            f"| {name} | {_pm(e)} | {cell(e, 'template_shift_accuracy', 100, '.1f', True)} | "
            f"{cell(e, 'tokens_per_answer', 1, '.1f')} | {cell(e, 'seconds_per_answer', 1, '.3f')} | "
            f"{cell(e, 'long_think_share', 100, '.1f')} | {cell(e, 'propagation_rate', 100, '.1f', True)} | "
            f"{cell(e, 'recovery_rate', 100, '.1f')} |"
        )
    lines += [
        "",
        "Template shift: the held-out problems re-told in surface stories never used in training "
        "(data.toy_world.shift_problem). Error propagation: of the problems a run answers right, the share it gets "
        "wrong when the first step of its trace is forced to a wrong result (eval/error_propagation.py; — for post, "
        "whose answer comes before any step, and where no probed problem is answered right unforced). "
        "Long think: share of answers with a non-empty think block "
        "(post: a justification). s / answer: eval generation seconds per problem, model load included.",
    ]
    return lines


def plot(results: dict[str, Any], png: Path) -> None:
    """Bar chart of mean accuracy per condition with ± std error bars and one dot per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["conditions"])
    entries = [results["conditions"][n] for n in names]
    fig, ax = plt.subplots(figsize=(1.8 + 1.5 * max(1, len(names)), 3.6))
    means = [100 * e["accuracy_mean"] for e in entries]
    shifted = [e.get("template_shift_accuracy_mean") for e in entries]
    paired = any(v is not None for v in shifted)  # the format study: template-shift accuracy beside each bar
    width, shift = (0.4, 0.2) if paired else (0.8, 0.0)
    xs = list(range(len(names)))
    errors = [100 * e["accuracy_std"] for e in entries]
    bars = ax.bar([x - shift for x in xs], means, width, yerr=errors, capsize=4, color="#4C72B0", alpha=0.85)
    for i, e in enumerate(entries):
        ax.scatter(
            [i - shift] * len(e["accuracy_by_seed"]),
            [100 * v for v in e["accuracy_by_seed"].values()],
            color="black",
            s=12,
            zorder=3,
        )
    ax.bar_label(bars, labels=[f"{m:.1f}" for m in means], padding=2)
    if paired:
        ax.bar(
            [x + shift for x in xs],
            [100 * (v or 0.0) for v in shifted],
            width,
            color="#DD8452",
            alpha=0.85,
            label="template shift",
        )
        bars.set_label("held-out")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xticks(xs, names)
    ax.set_ylabel("accuracy (%), mean ± std over seeds")
    ax.set_ylim(0, max(100.0, max(means, default=0) * 1.2))
    ax.set_title(results["benchmark"] or "sweep")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def write_report(sweep_dir: str | Path, since: float | None = None) -> dict[str, Any]:
    """Aggregate, then write results.json / results.md / results.png into `sweep_dir` and print the table."""
    sweep_dir = Path(sweep_dir)
    results = aggregate(sweep_dir, since)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "results.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    (sweep_dir / "results.md").write_text(text)
    if results["conditions"]:
        plot(results, sweep_dir / "results.png")
    print(text, flush=True)
    print(f"written to {sweep_dir / 'results.md'}, results.json and results.png", flush=True)
    return results


class SweepResults(Callback):
    """Hydra callback: remember when the multirun started, aggregate its jobs when it ends."""

    def __init__(self) -> None:
        self.started: float | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_report(config.hydra.sweep.dir, since=self.started)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m launch.sweep_report <sweep_dir>")
    write_report(sys.argv[1])


if __name__ == "__main__":
    main()
