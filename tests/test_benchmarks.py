"""Tests for data/benchmarks.py: real local GSM8K/MATH-500 copies, crafted ARC/StrategyQA files, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from data.benchmarks import (
    BENCHMARKS,
    BenchmarkSpec,
    format_prompt,
    load_benchmark,
    register_benchmark,
)
from tests._files import need_file as _need
from tests._files import write_jsonl as _write_jsonl

SHARED = Path(__file__).resolve().parents[2] / "shared"
GSM8K_FILE = SHARED / "data" / "gsm8k" / "test.jsonl"
MATH500_FILE = SHARED / "data" / "math500" / "test.jsonl"
CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "benchmark"
SCHEMA_KEYS = {"id", "question", "answer", "solution", "choices", "answer_type", "source", "meta"}


# ---------------------------------------------------------------- real local copies


def test_gsm8k_local_copy():
    items = load_benchmark("gsm8k", path=_need(GSM8K_FILE))
    assert len(items) == 1319
    assert len({it["id"] for it in items}) == 1319
    for it in items:
        assert set(it) == SCHEMA_KEYS
        assert it["answer_type"] == "number" and it["source"] == "gsm8k" and it["choices"] is None
        assert "," not in it["answer"]
        float(it["answer"])  # every gold parses as a number
        assert it["question"] and "####" not in (it["solution"] or "")
    first = items[0]
    assert first["id"] == "gsm8k-0" and first["answer"] == "18"
    assert "<<" not in first["solution"]


def test_gsm8k_thousands_comma_removed(tmp_path):
    path = _write_jsonl(tmp_path / "g.jsonl", [{"question": "q", "answer": "a lot\n#### 1,234,567"}])
    assert load_benchmark("gsm8k", path=path)[0]["answer"] == "1234567"


def test_math500_local_copy():
    items = load_benchmark("math500", path=_need(MATH500_FILE))
    assert len(items) == 500
    assert len({it["id"] for it in items}) == 500
    assert items[0]["id"] == "test/precalculus/807.json"  # the set's own unique_id
    assert items[0]["answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert all(it["solution"] and "\\boxed" in it["solution"] for it in items)
    assert all(it["answer_type"] == "expression" and it["meta"].get("subject") for it in items)


def test_limit_keeps_first_items_and_ids():
    full = load_benchmark("math500", path=_need(MATH500_FILE))
    few = load_benchmark("math500", path=MATH500_FILE, limit=5)
    assert [it["id"] for it in few] == [it["id"] for it in full[:5]]
    with pytest.raises(ValueError, match="limit"):
        load_benchmark("math500", path=MATH500_FILE, limit=-1)


def test_parquet_and_json_copies(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    rows = [{"question": "What is 2+2?", "answer": "2+2=4\n#### 4"}, {"question": "What is 3+3?", "answer": "#### 6"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "g.parquet")
    (tmp_path / "g.json").write_text(json.dumps(rows), encoding="utf-8")
    for name in ("g.parquet", "g.json"):
        items = load_benchmark("gsm8k", path=tmp_path / name)
        assert [it["answer"] for it in items] == ["4", "6"]


def test_saved_dataset_folder(tmp_path):
    import datasets

    rows = [{"question": "Q?", "answer": "#### 7"}]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "saved"))
    assert load_benchmark("gsm8k", path=tmp_path / "saved")[0]["answer"] == "7"


# ---------------------------------------------------------------- crafted ARC / StrategyQA files


def test_arc_hub_schema_with_numeric_labels(tmp_path):
    rows = [
        {
            "id": "Mercury_1",
            "question": "Which is a gas?",
            "choices": {"text": ["rock", "steam", "ice", "wood"], "label": ["A", "B", "C", "D"]},
            "answerKey": "B",
        },
        {
            "id": "NYSEDREGENTS_2",
            "question": "Pick three.",
            "choices": {"text": ["one", "two", "three", "four"], "label": ["1", "2", "3", "4"]},
            "answerKey": "3",
        },
        {
            "id": "Mercury_3",
            "question": "Five options?",
            "choices": {"text": ["a", "b", "c", "d", "e"], "label": ["A", "B", "C", "D", "E"]},
            "answerKey": "E",
        },
    ]
    items = load_benchmark("arc_challenge", path=_write_jsonl(tmp_path / "arc.jsonl", rows))
    assert [it["answer"] for it in items] == ["B", "C", "E"]
    assert [it["id"] for it in items] == ["Mercury_1", "NYSEDREGENTS_2", "Mercury_3"]
    assert items[1]["choices"] == ["one", "two", "three", "four"]
    assert all(it["answer_type"] == "choice" for it in items)
    prompt = format_prompt(items[0])
    assert "Which is a gas?" in prompt and "(A) rock\n(B) steam\n(C) ice\n(D) wood" in prompt
    assert "\\boxed{}" in prompt and "A, B, C or D" in prompt


def test_arc_original_jsonl_schema(tmp_path):
    rows = [
        {
            "id": "x1",
            "answerKey": "A",
            "question": {"stem": "Stem?", "choices": [{"label": "A", "text": "yes"}, {"label": "B", "text": "no"}]},
        }
    ]
    item = load_benchmark("arc_challenge", path=_write_jsonl(tmp_path / "arc.jsonl", rows))[0]
    assert item["question"] == "Stem?" and item["choices"] == ["yes", "no"] and item["answer"] == "A"


def test_arc_bad_answer_key_names_row(tmp_path):
    rows = [{"id": "x", "question": "q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "D"}]
    with pytest.raises(ValueError, match=r"row 0.*answerKey"):
        load_benchmark("arc_challenge", path=_write_jsonl(tmp_path / "arc.jsonl", rows))


def test_strategyqa_chilled_schema(tmp_path):
    rows = [
        {
            "qid": "q1",
            "term": "Hamster",
            "description": "rodent",
            "question": "Do hamsters feed animals?",
            "answer": True,
            "facts": "Hamsters are prey. Prey feed predators.",
            "decomposition": "...",
        },
        {
            "qid": "q2",
            "term": "Moon",
            "description": "",
            "question": "Is the moon a planet?",
            "answer": False,
            "facts": "The moon is a satellite.",
            "decomposition": "...",
        },
    ]
    items = load_benchmark("strategyqa", path=_write_jsonl(tmp_path / "sqa.jsonl", rows))
    assert [it["answer"] for it in items] == ["yes", "no"]
    assert [it["id"] for it in items] == ["q1", "q2"]
    assert items[0]["solution"].startswith("Hamsters are prey")
    prompt = format_prompt(items[0])
    assert "\\boxed{yes}" in prompt and "\\boxed{no}" in prompt


def test_strategyqa_tasksource_schema(tmp_path):
    rows = [
        {
            "qid": "a",
            "term": "t",
            "description": "d",
            "question": "Q1?",
            "answer": False,
            "facts": ["Fact one.", "Fact two."],
            "decomposition": ["step"],
            "evidence": [[]],
        },
        {"qid": "a", "question": "Q2?", "answer": "True", "facts": []},
    ]  # duplicate qid → index ids
    items = load_benchmark("strategyqa", path=_write_jsonl(tmp_path / "sqa.jsonl", rows))
    assert [it["answer"] for it in items] == ["no", "yes"]
    assert items[0]["solution"] == "Fact one. Fact two." and items[1]["solution"] is None
    assert [it["id"] for it in items] == ["strategyqa-0", "strategyqa-1"]


# ---------------------------------------------------------------- prompts, registry, errors


def test_math_prompt_keeps_latex_braces():
    item = {
        "id": "m",
        "question": "Find $\\frac{1}{2}$ of {question}.",
        "answer": "x",
        "solution": None,
        "choices": None,
        "answer_type": "expression",
        "source": "math500",
        "meta": {},
    }
    prompt = format_prompt(item)
    assert prompt.startswith("Find $\\frac{1}{2}$ of {question}.")
    assert "step by step" in prompt and "\\boxed{}" in prompt
    assert format_prompt(item, template="Q: {question}") == "Q: Find $\\frac{1}{2}$ of {question}."


def test_unknown_benchmark_names_it_and_lists_valid():
    with pytest.raises(ValueError) as err:
        load_benchmark("gsm9k")
    message = str(err.value)
    assert "gsm9k" in message
    for name in ("gsm8k", "math500", "arc_challenge", "strategyqa"):
        assert name in message


def test_hub_unreachable_is_one_line_naming_hub_id(monkeypatch, tmp_path):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # The libraries read HF_HUB_OFFLINE at import time; mirror the env var into their flags.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets", raising=False)
    with pytest.raises(RuntimeError) as err:
        load_benchmark("gsm8k")
    message = str(err.value)
    assert "\n" not in message
    assert "openai/gsm8k" in message and "gsm8k" in message and "path=" in message
    assert "cache" in message


def test_register_benchmark_extends_registry(tmp_path, monkeypatch):
    monkeypatch.setattr("data.benchmarks.BENCHMARKS", dict(BENCHMARKS))
    spec = BenchmarkSpec(
        name="toy",
        hub_id=None,
        hub_config=None,
        split="test",
        answer_type="number",
        prompt_template="Solve: {question}",
        to_record=lambda r: {"question": r["q"], "answer": str(r["a"])},
    )
    register_benchmark(spec)
    with pytest.raises(ValueError, match="already registered"):
        register_benchmark(spec)
    items = load_benchmark("toy", path=_write_jsonl(tmp_path / "toy.jsonl", [{"q": "1+1?", "a": 2}]))
    assert items[0]["id"] == "toy-0" and items[0]["answer"] == "2"
    assert format_prompt(items[0]) == "Solve: 1+1?"
    with pytest.raises(ValueError, match="no hub copy"):
        load_benchmark("toy")
    with pytest.raises(ValueError, match="answer_type"):
        register_benchmark(
            BenchmarkSpec(
                name="bad",
                hub_id=None,
                hub_config=None,
                split="test",
                answer_type="essay",
                prompt_template="",
                to_record=dict,
            )
        )


def test_missing_file_and_bad_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_benchmark("gsm8k", path=tmp_path / "nope.jsonl")
    (tmp_path / "g.csv").write_text("question,answer\n")
    with pytest.raises(ValueError, match=r"\.csv"):
        load_benchmark("gsm8k", path=tmp_path / "g.csv")


def test_missing_field_names_row_and_fields(tmp_path):
    path = _write_jsonl(tmp_path / "g.jsonl", [{"question": "q", "answer": "#### 1"}, {"prompt": "q"}])
    with pytest.raises(ValueError, match=r"row 1.*prompt"):
        load_benchmark("gsm8k", path=path)


@pytest.mark.parametrize("name", ["gsm8k", "math500", "arc_challenge", "strategyqa"])
def test_benchmark_conf_files(name):
    conf = yaml.safe_load((CONF_DIR / f"{name}.yaml").read_text())
    assert conf["name"] == name and name in BENCHMARKS
    assert conf["path"] is None and conf["limit"] is None
    assert isinstance(conf["max_new_tokens"], int) and conf["max_new_tokens"] > 2048
