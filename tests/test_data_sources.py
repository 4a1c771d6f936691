"""Real data sources (data/sources.py, conf/data/{gsm8k,math,hf}.yaml) on a few rows of the shared local copies:
columns checked with a clear error, records normalised to the pipeline's problem schema, training problems that share
an n-gram with a test question dropped and counted; then a whole condition on GSM8K files with a tiny hub-format
model, `eval.benchmarks`, and the bad inputs refused before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launch.conditions import plan_stages
from launch.config_check import ConfigError, compose
from rewards.extract import last_boxed
from tests._files import need_file, write_jsonl

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GSM8K_TEST = SHARED / "gsm8k" / "test.jsonl"
MATH500_TEST = SHARED / "math500" / "test.jsonl"


def _rows(path: Path, n: int, short: bool = False) -> list[dict]:
    rows = [json.loads(line) for line in need_file(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if short:  # the tiny model's 512 positions: short questions only
        rows = [r for r in rows if len(r["question"]) < 120]
    return rows[:n]


def _source(name: str, **keys) -> dict:
    cfg = compose([f"data={name}"], validate=False)
    from omegaconf import OmegaConf

    return {**OmegaConf.to_container(cfg.data, resolve=True), **keys}


def _gsm8k_files(tmp_path: Path, n_test: int = 4) -> tuple[Path, Path, list[dict]]:
    test = _rows(GSM8K_TEST, n_test, short=True)
    train = [
        {
            "question": f"Ann has {k} apples and buys {k + 2} more. How many apples does she have now?",
            "answer": f"#### {2 * k + 2}",
        }  # noqa: E501
        for k in range(1, 7)
    ]
    train.append({"question": test[0]["question"], "answer": test[0]["answer"]})  # a test question, verbatim
    train.append({"question": "Tom " + test[1]["question"].lower() + " Quickly.", "answer": "#### 1"})  # an 8-gram
    train.append({"question": "Bob has 3 pens. How many pens does Bob have?", "answer": "3"})  # no '####' answer
    return write_jsonl(tmp_path / "train.jsonl", train), write_jsonl(tmp_path / "test.jsonl", test), test


def test_gsm8k_from_local_files_is_normalised_and_decontaminated(tmp_path):
    from data.sources import load_source

    train_path, test_path, test = _gsm8k_files(tmp_path)
    records, report = load_source(_source("gsm8k", train_path=str(train_path), test_path=str(test_path)), last_boxed)
    assert report["train"] == {"n_rows": 9, "no_answer": 1, "decontam": 2, "n_kept": 6}
    assert report["test"] == {"n_rows": 4, "no_answer": 0, "n_kept": 4} and report["decontam_ngram"] == 8
    first = records["train"][0]
    assert first == {
        "id": "gsm8k-train-0",
        "question": "Ann has 1 apples and buys 3 more. How many apples does she have now?",
        "answer": "#### 4",
        "final_answer": "4",
        "source": "gsm8k",
    }
    assert [p["final_answer"] for p in records["test"]] == [r["answer"].rsplit("####", 1)[1].strip() for r in test]
    assert {p["question"] for p in records["test"]}.isdisjoint(p["question"] for p in records["train"])
    limited, _ = load_source(
        _source("gsm8k", train_path=str(train_path), test_path=str(test_path), n_train=2, n_test=1), last_boxed
    )
    assert len(limited["train"]) == 2 and len(limited["test"]) == 1


def test_math_reads_the_boxed_answer_of_training_solutions(tmp_path):
    from data.sources import load_source

    test = _rows(MATH500_TEST, 3)
    train = [
        {"problem": "What is $2+3$?", "solution": "We add: $2+3=\\boxed{5}$."},
        {"problem": "Simplify $\\frac{4}{8}$.", "solution": "It is $\\boxed{\\frac{1}{2}}$."},
        {"problem": test[0]["problem"], "solution": test[0]["solution"]},  # a MATH-500 problem: dropped
        {"problem": "No box here.", "solution": "The answer is 7."},  # no \boxed{}: no verifiable answer
    ]
    cfg = _source(
        "math",
        train_path=str(write_jsonl(tmp_path / "train.jsonl", train)),
        test_path=str(write_jsonl(tmp_path / "test.jsonl", test)),
    )
    records, report = load_source(cfg, last_boxed)
    assert [p["final_answer"] for p in records["train"]] == ["5", "\\frac{1}{2}"]
    assert report["train"] == {"n_rows": 4, "no_answer": 1, "decontam": 1, "n_kept": 2}
    assert [p["final_answer"] for p in records["test"]] == [r["answer"] for r in test]
    assert records["test"][0]["id"] == "math-test-0" and records["test"][0]["question"] == test[0]["problem"].strip()


def test_hf_reads_the_named_columns_and_names_a_missing_one(tmp_path):
    from data.sources import load_source

    rows = [{"prompt": f"What is {k} times 3?", "target": str(3 * k), "extra": 1} for k in range(6)]
    train = write_jsonl(tmp_path / "train.jsonl", rows[:4])
    test = write_jsonl(tmp_path / "test.jsonl", rows[4:])
    keys = {"train_path": str(train), "test_path": str(test), "question_key": "prompt", "answer_key": "target"}
    records, report = load_source(_source("hf", **keys, decontam_ngram=None), last_boxed)
    assert [p["final_answer"] for p in records["test"]] == ["12", "15"] and len(records["train"]) == 4
    assert report["train"]["decontam"] == 0  # n-gram check off: only verbatim test questions would be dropped
    with pytest.raises(ValueError) as error:
        load_source(_source("hf", **{**keys, "answer_key": "solution"}), last_boxed)
    message = str(error.value)
    assert "lacks column(s) ['solution']" in message and "['extra', 'prompt', 'target']" in message
    assert "data.answer_key" in message and "\n" not in message


def test_a_missing_column_in_a_gsm8k_file_is_refused_before_training(tmp_path):
    from launch.pipeline import run_condition

    train = write_jsonl(tmp_path / "train.jsonl", [{"problem": "1+1?", "answer": "#### 2"}])
    test = write_jsonl(tmp_path / "test.jsonl", [{"question": "2+2?", "answer": "#### 4"}])
    cfg = compose(
        ["condition=answer_only_sft", "data=gsm8k", f"data.train_path={train}", f"data.test_path={test}"]
        + [f"model.name_or_path={tmp_path / 'never_loaded'}", f"output_root={tmp_path / 'out'}"]
    )
    with pytest.raises(
        ValueError, match=r"data=gsm8k \(train split\): .*train.jsonl lacks column\(s\) \['question'\]; its columns"
    ):
        run_condition(cfg)
    assert not (tmp_path / "out" / "shared" / "base").exists() and not (tmp_path / "out" / "shared" / "sft").exists()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["data=gsm8k"], "data=gsm8k needs a pretrained student, but model.name_or_path is null"),
        (["data=hf", "model.name_or_path=x"], "data=hf: the train split has no source; set data.path="),
        (
            ["condition=trace_sft", "data=gsm8k", "model.name_or_path=x"],
            "teacher=program writes traces from the toy world's structured solutions, which data=gsm8k does not have",
        ),
        (["eval.benchmarks=[gsm8k,gsm9k]"], "eval.benchmarks[1]='gsm9k': must be one of ['arc_challenge', 'gsm8k',"),
        (["eval.max_new_tokens=0"], "eval.max_new_tokens=0: must be an integer >= 1 or null"),
        (["eval.max_new_tokens=many"], "eval.max_new_tokens='many': must be an integer >= 1 or null"),
        (["data=hf", "data.max_new_tokens=-3"], "data.max_new_tokens=-3: must be an integer >= 1"),
        (["data=hf", "data.answer_format=latex"], "data.answer_format='latex': must be one of ['plain', 'gsm8k',"),
    ],
)
def test_bad_inputs_are_refused_before_anything_runs(overrides, expected, tmp_path):
    with pytest.raises(ConfigError) as error:
        condition = [] if any(o.startswith("condition=") for o in overrides) else ["condition=answer_only_sft"]
        plan_stages(compose([*condition, f"output_root={tmp_path}", *overrides]))
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "shared").exists()


def test_a_benchmark_budget_that_is_not_a_positive_integer_is_refused(monkeypatch):
    from launch import stages

    cfg = compose(["eval=greedy", "eval.benchmarks=[gsm8k]"])
    monkeypatch.setattr(stages, "benchmark_preset", lambda name: {"path": None, "limit": None, "max_new_tokens": 0})
    with pytest.raises(ConfigError, match=r"conf/benchmark/gsm8k.yaml max_new_tokens=0: the eval budget must be a"):
        plan_stages(cfg)


def test_eval_greedy_falls_back_to_the_data_sources_budget():
    from launch.stages import benchmark_preset, eval_budget

    assert eval_budget(compose(["eval=greedy"])) == benchmark_preset("tinygsm")["max_new_tokens"]
    assert eval_budget(compose(["eval=greedy", "data=gsm8k"])) == benchmark_preset("gsm8k")["max_new_tokens"]
    assert eval_budget(compose(["eval=greedy", "data=math"])) == benchmark_preset("math500")["max_new_tokens"]
    assert eval_budget(compose(["eval=greedy", "data=hf", "data.max_new_tokens=77"])) == 77
    assert eval_budget(compose(["eval=greedy", "data=gsm8k", "eval.max_new_tokens=9"])) == 9
    assert eval_budget(compose(["eval=greedy"]), "math500") == benchmark_preset("math500")["max_new_tokens"]


SMALL = ["sft.max_steps=2", "sft.save_steps=2", "sft.per_device_train_batch_size=4", "eval.batch_size=8"]


@pytest.mark.slow
def test_answer_only_sft_on_gsm8k_files_runs_every_stage(tmp_path, tiny_model_dir):
    from launch.pipeline import run_condition

    train_path, test_path, _ = _gsm8k_files(tmp_path)
    out = tmp_path / "out"
    cfg = compose(
        ["condition=answer_only_sft", "data=gsm8k", f"data.train_path={train_path}", f"data.test_path={test_path}"]
        + [f"model.name_or_path={tiny_model_dir}", f"output_root={out}", "eval.max_new_tokens=8", *SMALL]
    )
    result = run_condition(cfg)
    assert result["n_eval"] == 4 and 0.0 <= result["accuracy"] <= 1.0 and result["sft_steps"] == 2
    data = json.loads(next((out / "shared" / "data").glob("*/summary.json")).read_text())
    assert data["source"] == "gsm8k" and data["filter_report"]["train"]["decontam"] == 2
    written = json.loads((out / "default" / "answer_only_sft" / "seed0" / "summary.json").read_text())
    assert written["n_eval"] == 4 and written["model_path"] == result["model_path"] != tiny_model_dir
    assert result["data_report"] == data["filter_report"]
    from launch.stages import stage_data

    first = stage_data(cfg)
    with open(test_path, "a", encoding="utf-8") as handle:  # an edited local file is read again
        handle.write(json.dumps({"question": "What is 20 plus 22?", "answer": "#### 42"}) + "\n")
    assert stage_data(cfg) != first and len((stage_data(cfg) / "test.jsonl").read_text().splitlines()) == 5


@pytest.mark.slow
def test_eval_benchmarks_each_at_its_budget_in_the_run_summary(tmp_path, tiny_model_dir):
    from launch.pipeline import run_condition

    gsm8k = write_jsonl(tmp_path / "gsm8k.jsonl", _rows(GSM8K_TEST, 3, short=True))
    math500 = write_jsonl(tmp_path / "math500.jsonl", _rows(MATH500_TEST, 2))
    cfg = compose(
        [
            "condition=answer_only_sft",
            "condition.stages=[data,base,eval]",  # the tiny model as the base, evaluated as it is
            f"model.name_or_path={tiny_model_dir}",
            f"output_root={tmp_path}",
            "data.n_train=20",
            "data.n_test=4",
            "eval=greedy",
            "eval.benchmarks=[gsm8k,math500]",
            f"eval.benchmark_paths.gsm8k={gsm8k}",
            f"eval.benchmark_paths.math500={math500}",
            "eval.limit=2",
        ]
    )
    from launch import stages

    budgets = {
        name: stages.benchmark_eval_config(cfg, name, tiny_model_dir)["max_new_tokens"] for name in ("gsm8k", "math500")
    }
    assert budgets == {n: stages.benchmark_preset(n)["max_new_tokens"] for n in budgets}  # each its own budget
    cfg.eval.max_new_tokens = 6  # the tiny model has 512 positions: a small budget for the run itself
    result = run_condition(cfg)
    assert set(result["benchmarks"]) == {"gsm8k", "math500", "toy_test"}  # the data's test split alongside
    assert result["benchmarks"]["gsm8k"]["n_eval"] == 2 == result["benchmarks"]["math500"]["n_eval"]
    assert result["benchmarks"]["toy_test"]["n_eval"] == 2  # eval.limit applies to it too
    assert result["accuracy"] == result["benchmarks"]["gsm8k"]["accuracy"]
    assert result["benchmarks"]["math500"]["max_new_tokens"] == 6
    items = (tmp_path / "default" / "answer_only_sft" / "seed0" / "eval_math500" / "items.jsonl").read_text()
    assert "Put the final answer in \\\\boxed{}" in items  # prompted as the pipeline trains


def test_eval_greedy_runs_in_the_pipeline_at_the_test_splits_budget(tmp_path, tiny_model_dir):
    """conf/eval/greedy.yaml has max_new_tokens null: the pipeline's eval stage takes the data's own budget."""
    from launch.pipeline import run_condition

    cfg = compose(
        ["condition=trace_sft", "condition.stages=[data,base,eval]", "eval=greedy", "data.n_train=20", "data.n_test=3"]
        + [f"model.name_or_path={tiny_model_dir}", f"output_root={tmp_path}"]
    )
    result = run_condition(cfg)
    summary = json.loads((tmp_path / "default" / "trace_sft" / "seed0" / "eval" / "summary.json").read_text())
    from launch.stages import benchmark_preset

    assert result["n_eval"] == 3 and summary["max_new_tokens"] == benchmark_preset("tinygsm")["max_new_tokens"]


def test_each_source_asks_the_hub_for_its_own_splits_and_fails_in_one_line(monkeypatch):
    """The hub path, without network: `datasets.load_dataset` replaced by a recorder."""
    import datasets

    from data.sources import read_split

    asked = []

    def fake_load(hub_id, config, split):
        asked.append((hub_id, config, split))
        return [{"question": "q", "answer": "#### 1"}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    for name, extra in (
        ("gsm8k", {}),
        ("math", {}),
        ("hf", {"path": "org/set", "config": "main", "test_split": "dev"}),
    ):
        for split in ("train", "test"):
            read_split(_source(name, **extra), split)
    assert asked == [
        ("openai/gsm8k", "main", "train"),
        ("openai/gsm8k", "main", "test"),
        ("DigitalLearningGmbH/MATH-lighteval", "default", "train"),
        ("HuggingFaceH4/MATH-500", None, "test"),
        ("org/set", "main", "train"),
        ("org/set", "main", "dev"),
    ]

    def offline(hub_id, config, split):
        raise ConnectionError("no network\nsecond line")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(RuntimeError) as error:
        read_split(_source("gsm8k"), "train")
    message = str(error.value)
    assert "data=gsm8k (train split): could not load 'openai/gsm8k'" in message and "data.train_path=" in message
    assert "\n" not in message
