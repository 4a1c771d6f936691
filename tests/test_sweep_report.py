"""The sweep aggregation (mean ± std over seeds, missing and stale runs listed), cost accounting, W&B redaction,
and a quick real multirun through Hydra's joblib launcher with the results callback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from launch.cost import run_cost
from launch.stage_state import write_summary
from launch.sweep_report import aggregate, config_fingerprint, markdown, write_report
from launch.wandb_run import REDACTED, redact
from tests._presets import TINY_PIPELINE

ROOT = Path(__file__).resolve().parents[1]


# The learning check a GRPO condition's summary carries: log history only (sft_grpo), and with a probe (grpo)
LEARNING = {
    "sft_grpo": {"verdict": "flat", "early": 0.064, "late": 0.066, "t": 0.4},
    "grpo": {
        "verdict": "improving",
        "early": 0.201,
        "late": 0.276,
        "t": 6.0,
        "probe": {"verdict": "improving", "before": 0.198, "after": 0.282, "t": 6.7, "n_prompts": 256},
    },
}


def _job(sweep: Path, root: Path, condition: str, seed: int, accuracy: float | None, stale: bool = False) -> None:
    cfg = OmegaConf.create(
        {
            "output_root": str(root),
            "run_name": "s",
            "seed": seed,
            "condition": {"name": condition},
            "data": {"name": "toy", "n_test": 50},
        }
    )
    job = sweep / condition / f"seed{seed}" / ".hydra"
    job.mkdir(parents=True)
    OmegaConf.save(cfg, job / "config.yaml")
    if accuracy is not None:
        fp = "not-this-config" if stale else config_fingerprint(cfg)
        write_summary(
            root / "s" / condition / f"seed{seed}",
            "run",
            {
                "accuracy": accuracy,
                "n_eval": 50,
                "config_fingerprint": fp,
                "train_seconds": 10.0 * (seed + 1),
                "wall_seconds": 20.0,
                "gpu_hours": 0.5,
                "price_usd": 1.25,
                "rounds": [{"round": 1, "accuracy": 0.1}, {"round": 2}] if condition == "redistill" else None,
                "rl_learning": LEARNING.get(condition),
                **({"trace_shape": {"skipped_step_share": 0.1 * seed}} if condition == "trace_sft" else {}),
            },
        )


def test_aggregate_gives_mean_std_per_condition_and_lists_missing_runs(tmp_path):
    sweep = tmp_path / "multirun"
    for seed, acc in enumerate([0.30, 0.40, 0.50]):
        _job(sweep, tmp_path, "trace_sft", seed, acc)
    _job(sweep, tmp_path, "answer_only_sft", 0, 0.05)
    _job(sweep, tmp_path, "answer_only_sft", 1, None)  # failed job: no summary
    _job(sweep, tmp_path, "answer_only_sft", 2, 0.99, stale=True)  # summary from another config
    _job(sweep, tmp_path, "redistill", 0, 0.2)
    _job(sweep, tmp_path, "sft_grpo", 2, 0.17)
    _job(sweep, tmp_path, "grpo", 0, 0.45)
    results = write_report(sweep)
    trace = results["conditions"]["trace_sft"]
    assert trace["n_seeds"] == 3 and trace["accuracy_mean"] == pytest.approx(0.40)
    assert trace["accuracy_std"] == pytest.approx(0.10)  # sample std over seeds
    assert trace["train_seconds_mean"] == pytest.approx(20.0) and trace["price_usd_mean"] == pytest.approx(1.25)
    assert results["conditions"]["answer_only_sft"]["n_seeds"] == 1
    assert list(results["conditions"]) == ["answer_only_sft", "trace_sft", "redistill", "grpo", "sft_grpo"]  # canonical
    assert {(m["condition"], m["seed"]) for m in results["missing"]} == {("answer_only_sft", 1), ("answer_only_sft", 2)}
    assert results["conditions"]["redistill"]["rounds"] == [
        {"round": 1, "accuracy_mean": 0.1, "accuracy_std": 0.0, "n_seeds": 1},
        {"round": 2, "accuracy_mean": 0.2, "accuracy_std": 0.0, "n_seeds": 1},
    ]
    md = (sweep / "results.md").read_text()
    assert "| trace_sft | 40.0 ± 10.0 | 3 | 30.0, 40.0, 50.0 | 10.0 |" in md  # steps skipped: mean over seeds
    assert "| redistill | 20.0 ± 0.0 | 1 | 20.0 | — |" in md  # no trace shape recorded
    assert trace["skipped_step_share_mean"] == pytest.approx(0.1)
    assert "answer_only_sft seed 1: no summary" in md and "redistill by round" in md
    assert (
        "- sft_grpo: seed 2 flat (6.4 -> 6.6%, t=0.4)" in md and "rl_learning" not in results["conditions"]["trace_sft"]
    )
    assert "- grpo: seed 0 improving (probe 19.8 -> 28.2%, t=6.7, 256 prompts; training 20.1 -> 27.6%, t=6.0)" in md
    assert json.loads((sweep / "results.json").read_text()) == results
    assert (sweep / "results.png").stat().st_size > 1000


def test_every_benchmark_of_eval_benchmarks_gets_a_column(tmp_path):
    sweep = tmp_path / "multirun"
    for seed, (gsm, math) in enumerate([(0.5, 0.1), (0.7, 0.3)]):
        cfg = OmegaConf.create(
            {
                "output_root": str(tmp_path),
                "run_name": "s",
                "seed": seed,
                "condition": {"name": "trace_sft"},
                "data": {"name": "gsm8k", "n_test": None},
                "eval": {"benchmarks": ["gsm8k", "math500"]},
            }
        )
        job = sweep / "trace_sft" / f"seed{seed}" / ".hydra"
        job.mkdir(parents=True)
        OmegaConf.save(cfg, job / "config.yaml")
        benchmarks = {"gsm8k": {"accuracy": gsm, "n_eval": 4}, "math500": {"accuracy": math, "n_eval": 3}}
        summary = {
            "accuracy": gsm,
            "n_eval": 4,
            "config_fingerprint": config_fingerprint(cfg),
            "benchmarks": benchmarks,
        }
        write_summary(tmp_path / "s" / "trace_sft" / f"seed{seed}", "run", summary)
    results = write_report(sweep)
    entry = results["conditions"]["trace_sft"]["benchmarks"]
    assert entry["math500"]["accuracy_mean"] == pytest.approx(0.2) and entry["gsm8k"]["n_seeds"] == 2
    md = (sweep / "results.md").read_text()
    assert "| condition | accuracy % (mean ± std) | gsm8k % | math500 % | seeds |" in md
    assert "| trace_sft | 60.0 ± 14.1 | 60.0 ± 14.1 | 20.0 ± 14.1 | 2 |" in md
    assert "gsm8k, math500 (accuracy: gsm8k)" in md


def test_aggregate_keeps_only_jobs_of_this_multirun(tmp_path):
    sweep = tmp_path / "multirun"
    _job(sweep, tmp_path, "trace_sft", 0, 0.3)
    import time

    later = time.time() + 5
    assert aggregate(sweep, since=later)["conditions"] == {}
    assert aggregate(sweep)["conditions"]["trace_sft"]["n_seeds"] == 1


def test_run_cost_charges_stages_after_the_start_model():
    cost = run_cost(
        {"teacher": 10.0, "sft": 3600.0, "rl": 1800.0, "eval": 0.0, "redistill:sample1": 360.0},
        {"gpus": 8, "price_per_gpu_hour": 2.0},
    )
    assert cost["wall_seconds"] == pytest.approx(5770.0)
    assert cost["gpu_hours"] == pytest.approx(5770.0 / 3600 * 8) and cost["price_usd"] == pytest.approx(
        cost["gpu_hours"] * 2
    )
    cpu = run_cost({"sft": 3600.0, "base": 999.0}, {"gpus": None, "price_per_gpu_hour": 2.0}, threads=2)
    assert (
        cpu["wall_seconds"] == 3600.0 and cpu["gpus"] == 0 and cpu["price_usd"] == 0.0 and cpu["cpu_core_hours"] == 2.0
    )


def test_redact_hides_secret_keys_and_secret_environment_values(monkeypatch):
    monkeypatch.setenv("MY_API_KEY", "sk-verysecret123")
    config = {
        "teacher": {"api_key": "sk-verysecret123", "api_key_env": "MY_API_KEY", "base_url": "http://x"},
        "logger": {"note": "key=sk-verysecret123"},
        "list": [{"token": "abc"}],
        "seed": 0,
    }
    clean = redact(config)
    assert clean["teacher"] == {"api_key": REDACTED, "api_key_env": "MY_API_KEY", "base_url": "http://x"}
    assert (
        clean["logger"]["note"] == f"key={REDACTED}" and clean["list"] == [{"token": REDACTED}] and clean["seed"] == 0
    )
    assert "sk-verysecret123" not in json.dumps(clean)


TINY = TINY_PIPELINE


@pytest.mark.slow
def test_quick_sweep_runs_as_one_hydra_multirun_and_writes_the_table(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "launch.pipeline",
        "-m",
        "+sweep=toy",
        f"output_root={tmp_path}",
        "condition=trace_sft,sft_grpo",
        "seed=0,1",
        *[o for o in TINY if not o.startswith("rl.learning_probe.")],  # sweep/toy turns the probe off
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    sweep = tmp_path / "sweep" / "multirun"
    results = json.loads((sweep / "results.json").read_text())
    assert set(results["conditions"]) == {"trace_sft", "sft_grpo"} and results["missing"] == []
    for entry in results["conditions"].values():
        assert entry["n_seeds"] == 2 and set(entry["accuracy_by_seed"]) == {"0", "1"} and entry["n_eval"] == 8
    assert "| sft_grpo |" in done.stdout and (sweep / "results.png").exists()
    # Quiet terminal: each job's output in its own folder, a started and a finished line per job on the terminal
    logs = sorted(sweep.rglob("output.log"))
    assert len(logs) == 4 and all("launch.pipeline" in p.read_text() for p in logs), logs
    assert done.stderr.count(": started, output in") == 4 and done.stderr.count(": finished in") == 4, done.stderr
    assert len((done.stdout + done.stderr).splitlines()) < 80, done.stdout + done.stderr
    # sft_grpo reused trace_sft's SFT run of the same seed: one SFT folder per seed, not per condition
    assert len([p for p in (tmp_path / "shared" / "sft").iterdir() if p.is_dir()]) == 2
    for seed in (0, 1):
        a = json.loads((tmp_path / "sweep" / "trace_sft" / f"seed{seed}" / "summary.json").read_text())
        b = json.loads((tmp_path / "sweep" / "sft_grpo" / f"seed{seed}" / "summary.json").read_text())
        assert a["sft_steps"] == b["sft_steps"] == 2 and b["rl_path"] == b["model_path"]


def test_base_is_a_row_first_like_any_condition(tmp_path):
    """The untrained start model (condition base: no training stage, so no train seconds) heads the table."""
    sweep = tmp_path / "multirun"
    _job(sweep, tmp_path, "trace_sft", 0, 0.3)
    cfg = OmegaConf.create(
        {
            "output_root": str(tmp_path),
            "run_name": "s",
            "seed": 0,
            "condition": {"name": "base"},
            "data": {"name": "toy"},
        }
    )
    (sweep / "base" / "seed0" / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, sweep / "base" / "seed0" / ".hydra" / "config.yaml")
    summary = {"accuracy": 0.02, "n_eval": 50, "config_fingerprint": config_fingerprint(cfg), "wall_seconds": 5.0}
    write_summary(tmp_path / "s" / "base" / "seed0", "run", summary)
    results = write_report(sweep)
    assert list(results["conditions"]) == ["base", "trace_sft"] and results["missing"] == []
    assert "| base | 2.0 ± 0.0 | 1 | 2.0 | — | — | 5 |" in (sweep / "results.md").read_text()


def test_total_usd_adds_the_teachers_api_cost_to_the_gpu_cost(tmp_path):
    """Issue 18: tokens x each teacher's price per million tokens, summed by the teacher accounting, plus GPU-h x
    price; the run summary carries the total and both parts, the sweep table a total column with the parts beside."""
    from sft.teachers.accounting import teacher_accounting

    records = [
        {"teacher": "glm", "problem_id": "p1", "tokens_in": 1_000_000, "tokens_out": 2_000_000, "verified": True},
        {"teacher": "kimi", "problem_id": "p1", "tokens_in": 500_000, "tokens_out": 1_000_000, "verified": True},
    ]
    from launch.teacher_configs import resolve_teacher_config

    cfg = {
        "name": "multi",
        "backend": "multi",
        "policy": "first_correct",
        "teachers": [
            {"base": "openai", "label": "glm", "price_per_million_input": 0.6, "price_per_million_output": 2.2},
            {"base": "openai", "label": "kimi", "price_per_million_input": 1.0, "price_per_million_output": 3.0},
        ],
    }
    accounting = teacher_accounting(records, resolve_teacher_config(cfg))
    api = 0.6 + 4.4 + 0.5 + 3.0
    assert accounting["total"]["price_usd"] == pytest.approx(api)
    cost = run_cost({"sft": 3600.0}, {"gpus": 1, "price_per_gpu_hour": 2.0}, teacher_accounting=accounting)
    assert cost["price_usd"] == pytest.approx(2.0) and cost["teacher_usd"] == pytest.approx(api)
    assert cost["total_usd"] == pytest.approx(2.0 + api)
    unpriced = run_cost({"sft": 3600.0}, {"gpus": 0, "price_per_gpu_hour": 2.0}, teacher_accounting=None)
    assert unpriced["teacher_usd"] == 0.0 and unpriced["total_usd"] == 0.0

    sweep = tmp_path / "multirun"
    _job(sweep, tmp_path, "trace_sft", 0, 0.3)  # a summary from before total_usd: the GPU price counts as the total
    text = markdown(aggregate(sweep))
    assert "| total $ | GPU $ | teacher API $ |" in text
    assert "| 1.25 | 1.25 | — |" in text
