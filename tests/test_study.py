"""The study recipe (issue 15): conf/study/reasoning_distillation.yaml plans the reference study's base row and five
conditions with its settings; the smoke version runs every row end to end on the tiny model (the shared GSM8K and
MATH-500 files, the trace-set fixtures of tests/fixtures/study/); bad input is refused before anything trains, with
the value and what would be valid; training data is decontaminated against every eval benchmark; the benchmark
cache key follows the file's content."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from launch.conditions import plan_stages
from launch.config_check import CONF_DIR, ConfigError, compose
from tests._files import need_file, write_jsonl

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
GSM8K_TEST = SHARED / "gsm8k" / "test.jsonl"
MATH500_TEST = SHARED / "math500" / "test.jsonl"
FIXTURES = REPO / "tests" / "fixtures" / "study"
STUDY = "+study=reasoning_distillation"
SMOKE = "+study=smoke_reasoning_distillation"


def _rows() -> list[str]:
    return OmegaConf.load(CONF_DIR / "study" / "reasoning_distillation.yaml").hydra.sweeper.params.condition.split(",")


def _names(cfg) -> list[str]:
    return [s.name for s in plan_stages(cfg)]


def test_the_study_recipe_is_the_reference_study():
    """Six rows (base + five conditions), each on Qwen3-1.7B with rsLoRA r=64 in bf16, binary + format reward,
    GSM8K and MATH-500 eval, the trace sets of the reference study, as a Slurm GPU multirun."""
    study = OmegaConf.load(CONF_DIR / "study" / "reasoning_distillation.yaml")
    assert "override /hydra/launcher: slurm_gpu" in [str(d) for d in study.defaults][0].replace("'", "")
    plans, teachers = {}, {}
    for row in _rows():
        cfg = compose([STUDY, f"condition={row}"])
        plans[cfg.condition.name], teachers[cfg.condition.name] = _names(cfg), cfg.teacher.name
        assert cfg.model.name_or_path == "Qwen/Qwen3-1.7B" and cfg.model.dtype == "bfloat16"
        assert cfg.sft.lora.r == 64 and cfg.sft.lora.use_rslora and cfg.rl.lora.r == 64 and cfg.rl.lora.use_rslora
        assert [f.name for f in cfg.reward.funcs] == ["correctness", "format"]
        assert list(cfg.eval.benchmarks) == ["gsm8k", "math500"] and cfg.data.name == "gsm8k"
    assert plans == {
        "base": ["data", "base", "eval"],
        "answer_only_sft": ["data", "base", "teacher", "sft", "eval"],
        "trace_sft": ["data", "base", "teacher", "sft", "eval"],
        "redistill": ["data", "base", "policy_traces", "redistill_sft", "eval"],  # 1k verified OpenR1-Math traces
        "grpo": ["data", "base", "rl", "eval"],
        "sft_grpo": ["data", "base", "teacher", "sft", "rl", "eval"],
    }
    assert (
        teachers["answer_only_sft"] == "dataset_orca" and teachers["trace_sft"] == teachers["sft_grpo"] == "dataset_s1k"
    )
    cfg = compose([STUDY, "condition=study/redistill"])
    assert cfg.redistill.source == "dataset_openr1" and cfg.redistill.max_traces == 1000
    policy = compose([STUDY, "condition=study/redistill", "redistill.source=policy"])
    assert _names(policy) == [
        *["data", "base", "teacher", "sft", "rl"],
        *["policy_traces", "redistill_sft", "eval"],
    ]  # the GRPO policy's own verified traces: trace SFT on s1K-1.1, then GRPO, then sampling


@pytest.mark.slow
def test_smoke_study_runs_every_row_end_to_end(tmp_path):
    """`make smoke-study` as it is: every stage of every row runs, and base plus the
    five conditions land in results.json with GSM8K items scored. ~60-90 s on 2 cores."""
    need_file(GSM8K_TEST), need_file(MATH500_TEST)
    out = tmp_path / "outputs"
    code = subprocess.call([sys.executable, "-m", "launch.smoke_study", f"output_root={out}"], cwd=REPO)
    assert code == 0
    results = json.loads((out / "smoke_study" / "multirun" / "results.json").read_text())
    from launch.smoke_study import ROWS

    assert list(results["conditions"]) == list(ROWS) and not results["missing"]
    for row, entry in results["conditions"].items():
        assert entry["benchmarks"]["gsm8k"]["n_eval"] > 0 and entry["benchmarks"]["math500"]["n_eval"] > 0, row
        assert "gsm8k_test" in entry["benchmarks"]  # the data's own test split, scored alongside
    summaries = {row: json.loads((out / "smoke_study" / row / "seed0" / "summary.json").read_text()) for row in ROWS}
    assert summaries["grpo"]["rl_steps"] == 2 and summaries["sft_grpo"]["rl_steps"] == 2
    assert summaries["answer_only_sft"]["sft_steps"] == summaries["trace_sft"]["sft_steps"] == 3
    # decontamination per held-out set: the GSM8K train fixture's MATH-500 problem, the s1K rows copied from GSM8K test
    assert summaries["base"]["data_report"]["train"]["decontam_benchmarks"] == {"gsm8k": 0, "math500": 1}
    assert summaries["trace_sft"]["filter_report"]["decontam_test"] == 2
    source = summaries["redistill"]["rounds"][0]
    assert source["policy_path"] == "dataset_openr1" and source["source_report"]["decontam_test"] == 1
    assert source["n_rows"] == 12  # redistill.max_traces of the smoke recipe
    shared = out / "shared"
    assert len([d for d in (shared / "rl").iterdir() if d.is_dir()]) == 2  # grpo's and sft_grpo's GRPO runs only
    assert not (shared / "policy_traces").exists()  # dataset source: the policy is never sampled


def _copy_without(src: Path, dst: Path, column: str) -> Path:
    rows = [json.loads(line) for line in src.read_text().splitlines()]
    return write_jsonl(dst, [{k: v for k, v in r.items() if k != column} for r in rows])


@pytest.mark.parametrize(
    "overrides, message",
    [
        # a stage its data cannot feed
        (
            ["condition=study/trace_sft", "teacher=dataset_orca"],
            r"condition 'trace_sft' trains on reasoning traces .* teacher=dataset_orca has answers only .* valid: a "
            r"trace teacher \(teacher=dataset_s1k",
        ),
        (
            ["condition=study/redistill", "redistill.rounds=2"],
            r"redistill.rounds=2 with redistill.source=dataset_openr1",
        ),
        (["condition=study/redistill", "redistill.source=dataset_orca"], r"redistill.source='dataset_orca'.*policy"),
        (
            ["condition=study/trace_sft", "+condition.answers_from=teacher"],
            r"answers_from=teacher with .*sft_data='trace'",
        ),
        # a benchmark that does not exist, an eval budget that is not a positive integer
        (["condition=base", "eval.benchmarks=[gsm8k,gsm9k]"], r"gsm9k.*arc_challenge.*gsm8k.*math500"),
        (["condition=base", "eval.max_new_tokens=0"], r"eval.max_new_tokens=0: must be .*>= 1"),
        (["condition=base", "eval.max_new_tokens=1.5"], r"eval.max_new_tokens=1.5: must be an integer"),
    ],
)
def test_bad_study_input_is_refused_before_anything_runs(overrides, message):
    with pytest.raises(ConfigError, match=message):
        plan_stages(compose([STUDY, *overrides]))  # the real recipe (hub paths: nothing read)


def test_a_benchmark_budget_that_is_not_a_positive_integer_is_named(monkeypatch):
    from launch import stages

    monkeypatch.setattr(stages, "benchmark_preset", lambda name: {"path": None, "max_new_tokens": "lots"})
    with pytest.raises(ConfigError, match=r"conf/benchmark/gsm8k.yaml max_new_tokens='lots': .*positive integer"):
        plan_stages(compose([STUDY, "condition=base"]))


@pytest.mark.parametrize(
    "which, column, override",
    [
        ("s1k_1.1.jsonl", "deepseek_attempt", "study.files.s1k"),
        ("orca_math.jsonl", "answer", "study.files.orca"),
        ("openr1_math.jsonl", "correctness_math_verify", "study.files.openr1"),
        ("gsm8k_train.jsonl", "question", "data.train_path"),
    ],
)
def test_a_dataset_missing_a_column_is_refused_before_anything_runs(tmp_path, which, column, override):
    bad = _copy_without(FIXTURES / which, tmp_path / which, column)
    row = {"study.files.s1k": "study/trace_sft", "study.files.orca": "study/answer_only_sft"}.get(
        override, "study/redistill"
    )
    cfg = compose([SMOKE, "model.name_or_path=/absent", f"condition={row}", f"{override}={bad}"])
    with pytest.raises(ConfigError, match=rf"lacks column\(s\) \['{column}'\]; its columns: \[.*\]; needed: "):
        plan_stages(cfg)


def test_the_cli_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "launch.pipeline", STUDY, "condition=study/trace_sft"]
        + ["teacher=dataset_orca", f"output_root={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: condition 'trace_sft' trains on reasoning traces")
    assert not any(tmp_path.iterdir())


def test_the_dataset_teacher_names_a_missing_column():
    from sft.teachers.dataset import DatasetTeacher, DatasetTeacherConfig

    config = DatasetTeacherConfig("openr1", None, "x.jsonl", "train", None, "deepseek", None)
    with pytest.raises(
        ValueError,
        match=r"lacks column\(s\) \['generations', 'correctness_math_verify'\]; its columns: \['answer', 'problem'\]",
    ):
        list(DatasetTeacher(config, rows=[{"problem": "p", "answer": "1"}]).generate())


@pytest.mark.parametrize("evaluation", ["greedy", "sample"])
def test_eval_greedy_and_sample_plan_for_trace_sft(evaluation):
    """`python -m launch.pipeline condition=trace_sft eval=greedy` (or sample) is checked whole before training:
    the eval stage has its budget (the data's benchmark's) before any stage runs."""
    from launch.stages import benchmark_preset, eval_budget

    cfg = compose(["condition=trace_sft", f"eval={evaluation}"])
    assert _names(cfg)[-1] == "eval" and eval_budget(cfg) == benchmark_preset("tinygsm")["max_new_tokens"]


def test_training_data_is_decontaminated_against_every_benchmark():
    need_file(GSM8K_TEST), need_file(MATH500_TEST)
    from data.benchmarks import load_benchmark
    from data.sources import load_source
    from rewards.extract import last_boxed

    cfg = OmegaConf.to_container(compose(["data=gsm8k"]).data)
    cfg.update(train_path=str(FIXTURES / "gsm8k_train.jsonl"), test_path=str(GSM8K_TEST), n_test=4)
    held_out = {"math500": [i["question"] for i in load_benchmark("math500", path=MATH500_TEST)]}
    records, report = load_source(cfg, last_boxed, held_out)
    assert report["train"]["decontam_benchmarks"] == {"math500": 1} and report["train"]["n_kept"] == 29
    assert not any("divisors does 196" in p["question"] for p in records["train"])


def test_the_benchmark_cache_key_follows_the_files_content(tmp_path, monkeypatch):
    """An edited benchmark file at the same path is scored again (its sha256 is part of the eval fingerprint)."""
    need_file(GSM8K_TEST)
    from eval import evaluate
    from launch import stages

    calls = []

    def fake_evaluate(model_path, items, out, settings):
        calls.append(len(items))
        return {"accuracy": 0.0, "n_eval": len(items), "truncation_rate": 0.0}

    monkeypatch.setattr(evaluate, "evaluate_items", fake_evaluate)
    copy = tmp_path / "gsm8k.jsonl"
    shutil.copy(GSM8K_TEST, copy)
    cfg = compose(
        ["eval=greedy", "eval.benchmarks=[gsm8k]", f"eval.benchmark_paths.gsm8k={copy}", f"output_root={tmp_path}"]
    )
    stages.stage_benchmarks(cfg, "model")
    stages.stage_benchmarks(cfg, "model")  # complete: read back
    copy.write_text("".join(copy.read_text().splitlines(keepends=True)[:5]))
    stages.stage_benchmarks(cfg, "model")
    assert calls == [1319, 5]


def test_gpu_check_says_it_needs_a_gpu_on_a_cpu_machine(capsys):
    import torch

    from launch import gpu_check

    for overrides in (["condition=trace_sft"], ["condition=sft_grpo"], gpu_check.VLLM_RL):
        plan_stages(compose([*gpu_check.SIZES, *overrides]))  # every path's overrides are a valid config
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: `make gpu-check` runs for real")
    assert gpu_check.main([]) == 2
    assert "gpu-check needs one CUDA GPU" in capsys.readouterr().err


def test_the_study_is_one_slurm_gpu_job_per_row():
    """`-m +study=reasoning_distillation` hands sbatch one GPU job per row (the launcher the study selects)."""
    pytest.importorskip("submitit")
    from tests.test_slurm_launcher_conf import launcher_sbatch

    cfg, script = launcher_sbatch("slurm_gpu", STUDY)
    assert f"#SBATCH --gpus-per-node={cfg.cluster.run.gpus}" in script.splitlines() and cfg.cluster.name == "gpu_node"
    assert "reasoning_distillation/multirun/.submitit" in script
    assert cfg.condition.name == "trace_sft" and _names(cfg)  # a run without -m: a row that plans


def test_eval_sample_runs_in_the_pipelines_eval_stage(tmp_path, tiny_model_dir):
    """eval=sample (8 samples, temperature 0.6) in the pipeline: pass@k and the accuracy of sample 0."""
    from launch.pipeline import run_condition

    cfg = compose(
        ["condition=trace_sft", "condition.stages=[data,base,eval]", "eval=sample", "eval.max_new_tokens=6"]
        + ["data.n_train=20", "data.n_test=2", f"model.name_or_path={tiny_model_dir}", f"output_root={tmp_path}"]
    )
    assert run_condition(cfg)["n_eval"] == 2
    metrics = json.loads((tmp_path / "default" / "trace_sft" / "seed0" / "eval" / "summary.json").read_text())
    assert metrics["n_samples"] == 8 or "pass@8" in json.dumps(metrics)


def test_a_sweep_table_without_a_base_row_says_so():
    from launch.sweep_report import markdown

    entry = {"accuracy_mean": 0.5, "accuracy_std": 0.0, "n_seeds": 1, "accuracy_by_seed": {"0": 0.5}}
    entry.update(dict.fromkeys(("train_seconds_mean", "wall_seconds_mean", "gpu_hours_mean", "price_usd_mean")))
    results = {"benchmark": "gsm8k", "missing": [], "conditions": {"trace_sft": entry}}
    assert "No `base` row" in markdown(results)
    assert "No `base` row" not in markdown({**results, "conditions": {"base": entry, "trace_sft": entry}})
