"""The eval harness: benchmarks by name (real GSM8K / MATH-500 copies, tinygsm), scoring of crafted completions,
pass@k / maj@k / truncation wired into summaries, resume (in process and a SIGKILLed `python -m eval.run`),
start_from / quick, settings validation, HF compaction and sampling, the vLLM guard, reports and W&B."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from decimal import Decimal
from math import comb
from pathlib import Path

import pytest
import yaml

import eval.evaluate as evaluate_module
from data.benchmarks import load_benchmark, read_local_rows
from data.jsonl_io import read_jsonl
from eval.evaluate import evaluate_items
from eval.items import to_eval_item, to_eval_items
from eval.scoring import score_completions, score_many, vote_key
from eval.settings import settings_from
from tests._files import need_file as _need
from tests._files import write_jsonl as _write_jsonl

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
GSM8K_FILE = SHARED / "data" / "gsm8k" / "test.jsonl"
MATH500_FILE = SHARED / "data" / "math500" / "test.jsonl"
CFG = {"max_new_tokens": 12, "batch_size": 4, "dtype": "float32"}


# ---- benchmarks by name, on the real local copies -------------------------------------------------------
def test_gsm8k_every_gold_parses_and_scores():
    from rewards import parse_gold, verify

    path = _need(GSM8K_FILE)
    items = load_benchmark("gsm8k", path=path)
    raw = read_local_rows(path)
    assert len(items) == len(raw) == 1319
    for item, row in zip(items, raw):
        float(item["answer"])  # every gold is a plain number
        assert verify(f"\\boxed{{{item['answer']}}}", row["answer"]), (item["id"], parse_gold(row["answer"]))
    evals = to_eval_items(items)
    right = [[f"<think>\nwork\n</think>\nSo the answer is \\boxed{{{it['gold']}}}."] for it in evals]
    wrong = [[f"\\boxed{{{Decimal(it['gold']) + 1}}}"] for it in evals]
    assert all(verdicts == [True] for _, verdicts in score_many(evals, right))
    assert not any(verdicts[0] for _, verdicts in score_many(evals, wrong))


def test_math500_reference_solutions_verify_against_their_answers():
    from rewards import verify

    items = load_benchmark("math500", path=_need(MATH500_FILE))
    assert len(items) == 500
    failures = [(it["id"], it["answer"]) for it in items if not verify(it["solution"], it["answer"])]
    assert failures == [], f"{len(failures)} MATH-500 solutions do not verify against their own answer: {failures[:10]}"
    # negative control: the verifier is not trivially true (integer answers, off by one)
    integers = [it for it in items if it["answer"].lstrip("-").isdigit()][:100]
    assert len(integers) > 50
    assert not any(verify(it["solution"], str(int(it["answer"]) + 1)) for it in integers)


def test_tinygsm_is_the_toy_test_split_prompted_like_the_pipeline():
    from data.records import prompt_messages
    from data.toy_world import ToyWorld, ToyWorldConfig

    conf = yaml.safe_load((REPO / "conf" / "data" / "toy.yaml").read_text())
    world_cfg = ToyWorldConfig(**{k: v for k, v in conf.items() if k != "name"})  # the loader's world: this preset
    problems = ToyWorld(world_cfg).problems("test")
    items = load_benchmark("tinygsm")
    assert len(items) == len(problems) == conf["n_test"]
    assert [it["id"] for it in items] == [p["id"] for p in problems]
    assert [it["answer"] for it in items] == [p["final_answer"] for p in problems]
    assert all(it["answer_type"] == "number" and it["source"] == "tinygsm" for it in items)
    bench_item, pipeline_item = to_eval_item(items[0]), to_eval_item(problems[0])
    assert (
        bench_item["user_prompt"]
        == pipeline_item["user_prompt"]
        == prompt_messages(problems[0]["question"])[0]["content"]
    )
    bench_conf = yaml.safe_load((REPO / "conf" / "benchmark" / "tinygsm.yaml").read_text())
    assert bench_conf["name"] == "tinygsm" and bench_conf["max_new_tokens"] >= 100


# ---- scoring crafted completions (no model) ---------------------------------------------------------------
def test_local_gsm8k_format_file_scored_right(tmp_path):
    rows = [
        {
            "question": "Sam has 1,000 apples and buys 234 more. How many?",
            "answer": "1000+234=<<1000+234=1234>>1234\n#### 1,234",
        },
        {"question": "Half of 36?", "answer": "36/2=18\n#### 18"},
    ]
    items = to_eval_items(load_benchmark("gsm8k", path=_write_jsonl(tmp_path / "g.jsonl", rows)))
    assert [it["gold"] for it in items] == ["1234", "18"]
    completions = [
        "\\boxed{1234}",
        "\\boxed{1,234}",
        "The answer is $1,234.",
        "\\boxed{1243}",
        "<think>\\boxed{1234}</think>\nI am not sure.",
        "<think>\nstill thinking \\boxed{1234}",
    ]
    answers, verdicts = score_completions(items[0], completions)
    assert verdicts == [True, True, True, False, False, False]
    assert answers[0] == "1234" and answers[4] is None and answers[5] is None
    # a bare "18" is the answer itself (rewards/extract.py, issue 19)
    assert score_completions(items[1], ["#### 18", "\\boxed{18.0}", "\\boxed{\\$18}", "18"])[1] == [True] * 4


def test_local_math_format_file_with_boxed_solutions_scored_right(tmp_path):
    rows = [
        {
            "problem": "What is $\\frac{2}{4}$ in lowest terms?",
            "solution": "Divide by 2: $\\boxed{\\frac{1}{2}}$.",
            "answer": "\\frac{1}{2}",
            "subject": "Prealgebra",
            "level": 1,
            "unique_id": "test/prealgebra/1.json",
        },
        {
            "problem": "Solve $x^2=4$, $x>0$.",
            "solution": "So $x=\\boxed{2}$.",
            "answer": "2",
            "subject": "Algebra",
            "level": 1,
            "unique_id": "test/algebra/2.json",
        },
        {
            "problem": "Write $\\sqrt{8}$ simply.",
            "solution": "$\\sqrt{8}=\\boxed{2\\sqrt{2}}$",
            "answer": "2\\sqrt{2}",
            "subject": "Algebra",
            "level": 2,
            "unique_id": "test/algebra/3.json",
        },
    ]
    bench = load_benchmark("math500", path=_write_jsonl(tmp_path / "m.jsonl", rows))
    items = to_eval_items(bench)
    assert [it["id"] for it in items] == [r["unique_id"] for r in rows] and items[0]["answer_type"] == "expression"
    half = ["\\boxed{\\dfrac12}", "\\boxed{0.5}", "$\\boxed{1/2}$", "\\boxed{2}", "no box"]
    assert score_completions(items[0], half)[1] == [True, True, True, False, False]
    assert score_completions(items[1], ["\\boxed{x=2}", "\\boxed{-2}"])[1] == [True, False]
    assert score_completions(items[2], ["\\boxed{2\\sqrt2}", "\\boxed{\\sqrt{8}}", "\\boxed{3\\sqrt{2}}"])[1] == [
        True,
        True,
        False,
    ]
    # the \boxed{} of a reference solution is usable as the gold itself (same verdicts as with `answer`)
    as_solution = {**items[0], "gold": bench[0]["solution"]}
    assert score_completions(as_solution, half)[1] == [True, True, True, False, False]


def test_choice_and_yesno_benchmarks_extract_letters_and_verdicts(tmp_path):
    arc = [
        {
            "id": "Mercury_1",
            "question": "Which is a gas?",
            "answerKey": "C",
            "choices": {"text": ["rock", "ice", "steam", "wood"], "label": ["A", "B", "C", "D"]},
        }
    ]
    item = to_eval_items(load_benchmark("arc_challenge", path=_write_jsonl(tmp_path / "arc.jsonl", arc)))[0]
    assert "(C) steam" in item["user_prompt"]
    completions = [
        "(C)",
        "C.",
        "Answer: C",
        "\\boxed{C}",
        "I think (A) is wrong, so the answer is C",
        "(A)",
        "Answer: E",
        "no idea",
    ]
    answers, verdicts = score_completions(item, completions)
    assert answers == ["C", "C", "C", "C", "C", "A", None, None]  # E is not one of the 4 options
    assert verdicts == [True] * 5 + [False] * 3
    sqa = [{"qid": "q1", "question": "Is the moon a planet?", "answer": False, "facts": "It is a satellite."}]
    item = to_eval_items(load_benchmark("strategyqa", path=_write_jsonl(tmp_path / "s.jsonl", sqa)))[0]
    answers, verdicts = score_completions(item, ["\\boxed{no}", "No, it orbits Earth.", "Answer: yes", "maybe"])
    assert answers == ["no", "no", "yes", None] and verdicts == [True, True, False, False]


def test_vote_keys_group_equal_answers():
    assert vote_key("0.5", "number") == vote_key("\\frac{1}{2}", "expression") == vote_key("$1/2$", "number")
    assert vote_key("18", "number") != vote_key("19", "number")
    assert vote_key(None, "number") is None and vote_key("C", "choice") == "C"


def test_items_accept_both_schemas_and_refuse_others():
    pipeline = to_eval_item({"id": "p1", "question": "Q?", "final_answer": "7", "answer": "x\n#### 7"})
    assert pipeline["gold"] == "7" and pipeline["answer_type"] == "number"
    bench = to_eval_item(
        {
            "id": "b1",
            "question": "Q?",
            "answer": "B",
            "answer_type": "choice",
            "choices": ["x", "y"],
            "source": "arc_challenge",
        }
    )
    assert bench["gold"] == "B" and "(B) y" in bench["user_prompt"]
    with pytest.raises(ValueError, match="final_answer"):
        to_eval_item({"id": "x", "question": "Q?"})
    with pytest.raises(ValueError, match="essay"):
        to_eval_item({"id": "x", "question": "Q?", "answer": "a", "answer_type": "essay"})
    with pytest.raises(ValueError, match="unique"):
        to_eval_items([{"id": "a", "question": "Q", "final_answer": "1"}] * 2)


# ---- evaluate_items with crafted samples ------------------------------------------------------------------
def _fake_generate(table: dict[str, list[tuple[str, bool]]], calls: list[str] | None = None):
    """A stand-in for `generate_batched` returning crafted `(text, truncated)` samples per question."""

    def fake(model, tokenizer, prompts, **kwargs):
        out = []
        for prompt in prompts:
            if calls is not None:
                calls.append(prompt)
            question = next(q for q in table if q in prompt)
            samples = table[question][: kwargs.get("num_return_sequences", 1)]
            out.append([{"text": t, "n_tokens": 10 + len(t), "truncated": tr} for t, tr in samples])
        return out

    return fake


def _problems(n: int) -> list[dict]:
    return [{"id": f"p{i}", "question": f"Question number {i}?", "final_answer": str(7 + i)} for i in range(n)]


def test_pass_at_k_for_every_k_and_maj_at_k_with_ties(tiny_model_dir, tmp_path, monkeypatch):
    items = _problems(3)
    ok = lambda i: (f"\\boxed{{{7 + i}}}", False)  # noqa: E731
    table = {
        "Question number 0?": [ok(0), ("\\boxed{8}", False), ("\\boxed{8}", False), ok(0)],  # c=2; 7 vs 8 tie 2-2
        "Question number 1?": [
            ("\\boxed{1}", False),
            ("none", False),
            ("\\boxed{2}", False),
            ("\\boxed{2}", False),
        ],  # c=0
        "Question number 2?": [("\\boxed{0.5}", False), ("\\boxed{1/2}", False), ok(2), ("\\boxed{3}", False)],  # c=1
    }
    monkeypatch.setattr(evaluate_module, "generate_batched", _fake_generate(table))
    cfg = {**CFG, "decoding": "sample", "n_samples": 4, "temperature": 0.7}
    summary = evaluate_items(tiny_model_dir, items, tmp_path / "eval", cfg)
    records = read_jsonl(tmp_path / "eval" / "items.jsonl")
    assert [r["verdicts"] for r in records] == [[True, False, False, True], [False] * 4, [False, False, True, False]]
    assert records[1]["answers"][1] is None and records[0]["extracted"] == "7" and records[0]["correct"] is True
    assert len(records[0]["completions"]) == 4 and records[0]["sample_n_tokens"][0] == 10 + len(
        table["Question number 0?"][0][0]
    )
    hand = {
        1: (0.5 + 0 + 0.25) / 3,
        2: ((1 - comb(2, 2) / comb(4, 2)) + 0 + (1 - comb(3, 2) / comb(4, 2))) / 3,
        3: (1 + 0 + (1 - comb(3, 3) / comb(4, 3))) / 3,
        4: 2 / 3,
    }
    for k, value in hand.items():
        assert summary[f"pass@{k}"] == pytest.approx(value, abs=1e-12), k
    # maj@k: item 0 - k=1 "7" right; k=3 "8" wins 2-1 (wrong); k=4 7 and 8 tie 2-2, the earliest ("7") wins.
    #        item 2 - "0.5" and "1/2" are one value, so it wins 2-1 at k=3, 4 (wrong).
    assert (
        summary["maj@1"] == pytest.approx(1 / 3)
        and summary["maj@3"] == 0.0
        and summary["maj@4"] == pytest.approx(1 / 3)
    )
    assert summary["mean@n"] == pytest.approx((0.5 + 0 + 0.25) / 3)
    assert summary["accuracy"] == pytest.approx(1 / 3) and summary["n_samples"] == 4
    assert summary["ci_low"] <= summary["accuracy"] <= summary["ci_high"]
    assert summary["no_answer_rate"] == 0.0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == summary


def test_truncated_completions_are_counted_and_warned(tiny_model_dir, tmp_path, monkeypatch, caplog):
    items = _problems(4)
    table = {f"Question number {i}?": [(f"\\boxed{{{7 + i}}}", False)] for i in range(3)}
    table["Question number 3?"] = [("<think>\nlong reasoning that ran out", True)]
    monkeypatch.setattr(evaluate_module, "generate_batched", _fake_generate(table))
    with caplog.at_level("WARNING", logger="eval.evaluate"):
        summary = evaluate_items(tiny_model_dir, items, tmp_path / "a", CFG)
    assert summary["truncation_rate"] == 0.25 and summary["accuracy"] == 0.75 and summary["no_answer_rate"] == 0.25
    assert any("hit max_new_tokens" in r.message for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="eval.evaluate"):
        clean = evaluate_items(tiny_model_dir, items[:3], tmp_path / "b", CFG)
    assert clean["truncation_rate"] == 0.0 and not any("hit max_new_tokens" in r.message for r in caplog.records)


def test_start_from_and_quick(tiny_model_dir, tmp_path, monkeypatch):
    items = _problems(8)
    calls: list[str] = []
    table = {f"Question number {i}?": [(f"\\boxed{{{7 + i}}}", False)] for i in range(8)}
    monkeypatch.setattr(evaluate_module, "generate_batched", _fake_generate(table, calls))
    quick = evaluate_items(tiny_model_dir, items, tmp_path / "quick", {**CFG, "quick": True})
    assert quick["n_eval"] == 5 and len(read_jsonl(tmp_path / "quick" / "items.jsonl")) == 5
    out = tmp_path / "eval"
    started = evaluate_items(tiny_model_dir, items, out, {**CFG, "start_from": 5})
    assert [r["id"] for r in read_jsonl(out / "items.jsonl")] == ["p5", "p6", "p7"] and started["n_eval"] == 3
    calls.clear()
    full = evaluate_items(tiny_model_dir, items, out, CFG)  # fills items 0-4, keeps 5-7
    ids = [r["id"] for r in read_jsonl(out / "items.jsonl")]
    assert sorted(ids) == sorted(it["id"] for it in items) and len(ids) == len(set(ids))
    assert len(calls) == 5 and full["n_eval"] == 8 and full["accuracy"] == 1.0
    with pytest.raises(ValueError, match="start_from=9"):
        evaluate_items(tiny_model_dir, items, out, {**CFG, "start_from": 9})


def test_resume_under_other_generation_settings_is_refused(tiny_model_dir, tmp_path, monkeypatch):
    items = _problems(2)
    table = {f"Question number {i}?": [(f"\\boxed{{{7 + i}}}", False)] * 2 for i in range(2)}
    monkeypatch.setattr(evaluate_module, "generate_batched", _fake_generate(table))
    evaluate_items(tiny_model_dir, items, tmp_path / "eval", CFG)
    with pytest.raises(ValueError, match="n_samples") as info:
        evaluate_items(tiny_model_dir, items, tmp_path / "eval", {**CFG, "decoding": "sample", "n_samples": 2})
    assert "new folder" in str(info.value)
    assert evaluate_items(tiny_model_dir, items, tmp_path / "eval", {**CFG, "batch_size": 1})["n_eval"] == 2


@pytest.mark.parametrize(
    "bad, needle",
    [
        ({"decoding": "beam"}, "valid decoding values: ['greedy', 'sample']"),
        ({"backend": "tpu"}, "valid backend values: ['hf', 'vllm', 'llama_cpp', 'openai']"),
        ({"n_samples": 4}, "needs eval.decoding=sample"),
        ({"max_new_token": 5}, "unknown eval config keys ['max_new_token']"),
        ({"decoding": "sample", "n_samples": 2, "ks": [1, 3]}, "valid ks are 1..2"),
        ({"decoding": "sample", "temperature": 0}, "temperature=0"),
        ({"batch_size": 0}, "batch_size=0"),
    ],
)
def test_bad_settings_name_the_value_and_the_valid_ones(bad, needle):
    with pytest.raises(ValueError) as info:
        settings_from({**CFG, **bad})
    assert needle in str(info.value)


def test_conf_eval_presets_are_valid():
    for name in ("toy", "greedy", "sample"):
        raw = yaml.safe_load((REPO / "conf" / "eval" / f"{name}.yaml").read_text())
        raw.pop("defaults", None)
        if name == "sample":
            raw = {**yaml.safe_load((REPO / "conf" / "eval" / "greedy.yaml").read_text()), **raw}
        settings = settings_from({**raw, "max_new_tokens": raw.get("max_new_tokens") or 8})
        assert settings.name == name
    assert settings.decoding == "sample" and settings.n_samples == 8


# ---- the HF backend: compaction and sampling ---------------------------------------------------------------
@pytest.fixture(scope="module")
def peaky(peaky_model_and_tokenizer):
    return peaky_model_and_tokenizer


def test_compaction_keeps_greedy_outputs_identical(peaky, small_world):
    from data.records import prompt_messages
    from eval.generate import chat_prompt_text, generate_batched

    model, tokenizer = peaky
    prompts = [
        chat_prompt_text(tokenizer, prompt_messages(p["question"] + " " * k))
        for p in small_world[2][:8]
        for k in range(2)
    ]
    plain = generate_batched(model, tokenizer, prompts, max_new_tokens=14, batch_size=8)
    compacted = generate_batched(model, tokenizer, prompts, max_new_tokens=14, batch_size=8, compact_every=3)
    assert compacted == plain
    ended = [s[0]["n_tokens"] for s in plain if not s[0]["truncated"]]
    assert ended and len(ended) < len(plain) and len(set(ended)) > 1, "want rows ending at different steps"


def test_hf_sampling_gives_n_samples_reproducibly(tiny_model_dir, small_world, tmp_path):
    items = [{"id": p["id"], "question": p["question"], "final_answer": p["final_answer"]} for p in small_world[2][:3]]
    cfg = {
        **CFG,
        "max_new_tokens": 6,
        "decoding": "sample",
        "n_samples": 3,
        "temperature": 1.0,
        "top_p": 0.9,
        "compact_every": 2,
    }
    summary = evaluate_items(tiny_model_dir, items, tmp_path / "a", cfg)
    records = read_jsonl(tmp_path / "a" / "items.jsonl")
    assert all(len(r["completions"]) == len(r["verdicts"]) == len(r["sample_truncated"]) == 3 for r in records)
    assert summary["n_samples"] == 3 and {"pass@1", "pass@2", "pass@3", "maj@3"} <= set(summary)
    assert any(len(set(r["completions"])) > 1 for r in records), "samples of one problem should differ"
    evaluate_items(tiny_model_dir, items, tmp_path / "b", cfg)
    assert [r["completions"] for r in read_jsonl(tmp_path / "b" / "items.jsonl")] == [r["completions"] for r in records]


# ---- the vLLM backend ---------------------------------------------------------------------------------------
def test_vllm_missing_is_one_clear_error(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError
    monkeypatch.setattr(evaluate_module, "load_model", lambda *a, **k: pytest.fail("loaded an HF model for vllm"))
    with pytest.raises(RuntimeError) as info:
        evaluate_items(tiny_model_dir, _problems(2), tmp_path / "eval", {**CFG, "backend": "vllm"})
    assert "backend=vllm needs the gpu extra: pip install -e .[gpu]" in str(info.value)


def test_vllm_backend_gives_the_same_sample_format(tiny_model_dir, tmp_path, monkeypatch):
    seen: dict = {}

    class SamplingParams:
        def __init__(self, **kwargs):
            seen["params"] = kwargs

    class LLM:
        def __init__(self, **kwargs):
            seen["engine"] = kwargs

        def generate(self, requests, params, use_tqdm=False):
            seen["requests"] = requests
            n = seen["params"]["n"]
            done = types.SimpleNamespace(text="\\boxed{7}", token_ids=[5, 6, 2], finish_reason="stop")
            cut = types.SimpleNamespace(text="so far", token_ids=[5] * 12, finish_reason="length")
            return [types.SimpleNamespace(outputs=[done, cut][:n] + [done] * (n - 2)) for _ in requests]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    items = _problems(2)
    summary = evaluate_items(
        tiny_model_dir,
        items,
        tmp_path / "eval",
        {
            **CFG,
            "backend": "vllm",
            "decoding": "sample",
            "n_samples": 2,
            "temperature": 0.6,
            "top_p": 0.95,
            "vllm": {"gpu_memory_utilization": 0.5},
        },
    )
    records = read_jsonl(tmp_path / "eval" / "items.jsonl")
    assert records[0]["completions"] == ["\\boxed{7}", "so far"] and records[0]["verdicts"] == [True, False]
    assert records[0]["sample_n_tokens"] == [3, 12] and records[0]["sample_truncated"] == [False, True]
    assert summary["truncation_rate"] == 0.5 and summary["pass@2"] == 0.5
    params = seen["params"]
    assert params["n"] == 2 and params["max_tokens"] == 12 and params["temperature"] == 0.6 and params["top_p"] == 0.95
    assert seen["engine"]["model"] == tiny_model_dir and seen["engine"]["gpu_memory_utilization"] == 0.5
    assert all("prompt_token_ids" in r for r in seen["requests"])
    evaluate_items(tiny_model_dir, items, tmp_path / "greedy", {**CFG, "backend": "vllm"})
    assert seen["params"]["temperature"] == 0.0 and seen["params"]["n"] == 1


# ---- reports, W&B, and `python -m eval.run` ----------------------------------------------------------------
def _compose_run(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="eval_run", overrides=overrides)


def test_eval_run_writes_reports_and_logs_the_table_to_wandb(tiny_model_dir, tmp_path, monkeypatch):
    from eval.run import run

    logged: dict = {}

    class FakeRun:
        def log(self, data):
            logged["data"] = data

        def finish(self):
            logged["finished"] = True

    def init(**kwargs):
        logged["init"] = kwargs
        return FakeRun()

    fake = types.SimpleNamespace(init=init, Table=lambda columns, data: {"columns": columns, "data": data})
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = _compose_run(
        [
            f"model_path={tiny_model_dir}",
            "benchmark=tinygsm",
            "eval.max_new_tokens=4",
            "eval.limit=3",
            "logger=wandb",
            "label=tiny",
            f"output_root={tmp_path}",
        ]
    )
    summary = run(cfg)
    run_dir = tmp_path / "eval" / "default" / "tiny" / "tinygsm" / "greedy"
    assert summary["n_eval"] == 3 and summary["benchmark"] == "tinygsm" and summary["max_new_tokens"] == 4
    for folder in (run_dir, tmp_path / "eval" / "default"):
        table = (folder / "report.md").read_text()
        assert (
            "| condition | benchmark | n | accuracy | 95% CI |" in table and "| tiny [greedy] | tinygsm | 3 |" in table
        )
        assert (folder / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert logged["init"]["mode"] == "offline" and logged["init"]["project"] == "small-reasoners" and logged["finished"]
    wandb_table = logged["data"]["eval/results"]
    assert wandb_table["columns"][:4] == ["condition", "benchmark", "n", "accuracy"]
    assert wandb_table["data"][0][:3] == ["tiny [greedy]", "tinygsm", "3"]
    assert logged["data"]["eval/tinygsm/accuracy"] == summary["accuracy"]


def test_default_label_keeps_a_checkpoint_step_apart(tmp_path):
    from eval.run import default_label

    run = tmp_path / "outputs" / "shared" / "rl" / "ab12"
    for sub in ("final", "checkpoints/checkpoint-50", "checkpoints/checkpoint-150"):
        (run / sub).mkdir(parents=True)
    assert default_label(str(run / "final")) == "rl__ab12"
    labels = {default_label(str(run / "checkpoints" / c)) for c in ("checkpoint-50", "checkpoint-150")}
    assert labels == {"rl__ab12__checkpoint-50", "rl__ab12__checkpoint-150"}
    from eval.report import natural_key  # and the report lists them by step, not as strings

    assert sorted(labels | {"rl__ab12"}, key=natural_key) == [
        "rl__ab12",
        "rl__ab12__checkpoint-50",
        "rl__ab12__checkpoint-150",
    ]
    seed = tmp_path / "outputs" / "default" / "trace_sft" / "seed0" / "sft" / "final"
    seed.mkdir(parents=True)
    assert default_label(str(seed)) == "trace_sft__seed0"


def test_report_gathers_runs_and_labels():
    from eval.report import markdown_table, summary_row
    from eval.run import default_label, rewrite_argv

    rows = [
        summary_row(
            {
                "model_path": "/x/trace_sft/seed0/sft/final",
                "label": "trace",
                "benchmark": "gsm8k",
                "n_eval": 10,
                "accuracy": 0.5,
                "ci_low": 0.2,
                "ci_high": 0.8,
                "pass@1": 0.5,
                "pass@4": 0.9,
                "maj@4": 0.6,
                "mean@n": 0.45,
                "mean_tokens": 12.0,
                "truncation_rate": 0.1,
                "no_answer_rate": 0.0,
                "decoding": "sample",
                "n_samples": 4,
                "temperature": 0.6,
            }
        )
    ]
    table = markdown_table(rows)
    assert (
        "| trace [sample n=4 T=0.6] | gsm8k | 10 | 50.0 | 20.0–80.0 | 90.0 (k=4) | 60.0 (k=4) | 45.0 | 12.0 | 10.0 | 0.0 |"  # noqa: E501
        in table
    )
    assert rewrite_argv(["model=/a/b", "benchmark=gsm8k", "+model=c"]) == [
        "model_path=/a/b",
        "benchmark=gsm8k",
        "model_path=c",
    ]
    assert default_label("Qwen/Qwen3-1.7B") == "Qwen__Qwen3-1.7B"


def _eval_run(args: list[str], **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-m", "eval.run", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


@pytest.mark.slow
def test_eval_run_killed_then_rerun_has_exactly_one_record_per_item(tiny_model_dir, tmp_path):
    n = 40
    args = [
        f"model={tiny_model_dir}",
        "benchmark=tinygsm",
        f"eval.limit={n}",
        "eval.max_new_tokens=24",
        "eval.batch_size=1",
        "eval.chunk_items=1",
        "eval.dtype=float32",
        "threads=1",
        "label=tiny",
        f"output_root={tmp_path}",
    ]
    items_file = tmp_path / "eval" / "default" / "tiny" / "tinygsm" / "greedy" / "items.jsonl"
    first = _eval_run(args)
    deadline = time.monotonic() + 240
    while _lines(items_file) < 3 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_at = _lines(items_file)
    assert first.returncode == -signal.SIGKILL, first.stdout.read()[-2000:]
    assert 3 <= killed_at < n, f"the kill should land mid-run, got {killed_at} of {n} records"
    before = read_jsonl(items_file)

    second = _eval_run(args)
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output[-3000:]
    records = read_jsonl(items_file)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == n, "exactly one record per item"
    assert set(ids) == {f"toy-test-{i}" for i in range(n)}
    assert records[: len(before)] == before, "finished items are kept, not regenerated"
    assert "resuming" in output and "| tiny [greedy] | tinygsm | 40 |" in output


def test_eval_run_without_a_model_says_how_to_name_one():
    proc = _eval_run(["benchmark=tinygsm"])
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "model=<checkpoint dir or hub id>" in output and "tinygsm" in output
