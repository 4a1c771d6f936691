"""Greedy evaluation on the toy test split: batched left-padded generation, resumable items.jsonl, truncation."""

from __future__ import annotations

import json

import pytest

import eval.evaluate as evaluate_module
from data.jsonl_io import read_jsonl
from data.records import prompt_messages
from eval.evaluate import evaluate_items
from eval.generate import chat_prompt_text, generate_batched

CFG = {"max_new_tokens": 12, "batch_size": 4, "dtype": "float32"}


@pytest.fixture(scope="module")
def items(small_world):
    """Toy test problems of varied length (so batches need padding)."""
    _, _, test = small_world
    return [{"id": p["id"], "question": p["question"], "final_answer": p["final_answer"]} for p in test[:10]]


@pytest.fixture(scope="module")
def model_and_tokenizer(peaky_model_and_tokenizer):
    return peaky_model_and_tokenizer


def test_batched_greedy_equals_one_at_a_time(model_and_tokenizer, items):
    import torch

    model, tokenizer = model_and_tokenizer
    prompts = [chat_prompt_text(tokenizer, prompt_messages(item["question"])) for item in items]
    lengths = {len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts}
    assert len(lengths) > 3, "prompts should differ in length so that left padding matters"
    batched = generate_batched(model, tokenizer, prompts, max_new_tokens=16, batch_size=8)
    single = generate_batched(model, tokenizer, prompts, max_new_tokens=16, batch_size=1)
    assert batched == single
    assert len(batched) == len(prompts) and all(len(samples) == 1 for samples in batched)
    assert len({s[0]["text"] for s in batched}) > 1, "degenerate model: every output identical"
    ended = [s[0]["n_tokens"] for s in batched if not s[0]["truncated"]]
    assert ended and len(ended) < len(batched), "want rows that end early beside rows that run to the limit"
    # one-at-a-time agrees with a plain unpadded generate() (outputs are in the prompts' order)
    for prompt, samples in zip(prompts[:3], single[:3]):
        ids = torch.tensor([tokenizer.encode(prompt, add_special_tokens=False)])
        out = model.generate(
            ids,
            max_new_tokens=16,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )[0, ids.shape[1] :].tolist()
        if tokenizer.eos_token_id in out:
            out = out[: out.index(tokenizer.eos_token_id)]
        assert samples[0]["text"] == tokenizer.decode(out, skip_special_tokens=True)
    for samples in batched:
        sample = samples[0]
        assert 1 <= sample["n_tokens"] <= 16
        if sample["truncated"]:
            assert sample["n_tokens"] == 16


def test_generation_prompt_opens_the_assistant_turn(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    text = chat_prompt_text(tokenizer, prompt_messages("Q?"))
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_end_of_turn_and_truncation_are_reported(model_and_tokenizer, items):
    """Some prompts end at once (n_tokens counts the end token), the rest hit max_new_tokens."""
    model, tokenizer = model_and_tokenizer
    prompts = [
        chat_prompt_text(tokenizer, prompt_messages(item["question"] + " " * k)) for k in range(3) for item in items
    ]
    outputs = [s[0] for s in generate_batched(model, tokenizer, prompts, max_new_tokens=6, batch_size=16)]
    assert any(s["truncated"] for s in outputs) and not all(s["truncated"] for s in outputs)
    for sample in outputs:
        assert "<|im_end|>" not in sample["text"] and "<|endoftext|>" not in sample["text"]
        if sample["truncated"]:
            assert sample["n_tokens"] == 6
        else:
            assert 1 <= sample["n_tokens"] <= 6


# ---- evaluate_items ------------------------------------------------------------------------------------
def _records(out):
    return read_jsonl(out / "items.jsonl")


def test_evaluate_writes_one_record_per_item_and_resumes(peaky_model_dir, items, tmp_path, monkeypatch):
    out = tmp_path / "eval"
    summary = evaluate_items(peaky_model_dir, items, out, CFG)
    records = _records(out)
    assert [r["id"] for r in records] == [item["id"] for item in items]  # one per item, in order
    assert summary["n_eval"] == len(items) and summary["model_path"] == peaky_model_dir
    for record, item in zip(records, items):
        assert record["gold"] == item["final_answer"] and record["question"] == item["question"]
        assert set(record) >= {"completion", "extracted", "correct", "n_tokens", "truncated"}
    assert summary["truncation_rate"] == sum(r["truncated"] for r in records) / len(records)
    assert summary["accuracy"] == sum(r["correct"] for r in records) / len(records)

    # a finished eval re-run generates nothing and returns the same summary
    def no_model(*args, **kwargs):
        raise AssertionError("a finished eval loaded the model again")

    monkeypatch.setattr(evaluate_module, "load_model", no_model)
    assert evaluate_items(peaky_model_dir, items, out, CFG) == summary
    assert _records(out) == records


def test_evaluate_resumes_a_partial_items_file_without_duplicates(peaky_model_dir, items, tmp_path, monkeypatch):
    out = tmp_path / "eval"
    out.mkdir()
    done = [
        {
            "id": item["id"],
            "question": item["question"],
            "gold": item["final_answer"],
            "completion": "kept",
            "extracted": item["final_answer"],
            "correct": True,
            "n_tokens": 3,
            "truncated": False,
        }
        for item in items[:3]
    ]
    torn = json.dumps({"id": items[3]["id"], "question": "half"})[:20]  # killed mid-record
    (out / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in done) + torn)

    generated = []
    real = evaluate_module.generate_batched

    def spy(model, tokenizer, prompts, **kwargs):
        generated.extend(prompts)
        return real(model, tokenizer, prompts, **kwargs)

    monkeypatch.setattr(evaluate_module, "generate_batched", spy)
    summary = evaluate_items(peaky_model_dir, items, out, CFG)
    records = _records(out)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == len(items)
    assert set(ids) == {item["id"] for item in items}
    assert records[:3] == done  # the finished items were kept, not regenerated
    assert len(generated) == len(items) - 3
    assert summary["n_eval"] == len(items)
    assert (out / "items.jsonl").read_text().endswith("\n")


def test_evaluate_limit_and_summary_only_count_wanted_items(peaky_model_dir, items, tmp_path):
    out = tmp_path / "eval"
    evaluate_items(peaky_model_dir, items, out, CFG)
    summary = evaluate_items(peaky_model_dir, items, out, {**CFG, "limit": 4})
    assert summary["n_eval"] == 4
    fewer = evaluate_items(peaky_model_dir, items[:2], out, CFG)
    assert fewer["n_eval"] == 2


def test_evaluate_counts_truncation_with_tiny_budget(peaky_model_dir, items, tmp_path):
    summary = evaluate_items(peaky_model_dir, items, tmp_path / "eval", {**CFG, "max_new_tokens": 1})
    records = _records(tmp_path / "eval")
    truncated = [r for r in records if r["truncated"]]
    assert truncated, "a 1-token budget should cut generations off"
    assert summary["truncation_rate"] == len(truncated) / len(records) > 0
    assert all(r["n_tokens"] == 1 for r in records)
    # a truncated completion is still scored by what it shows (rewards/extract.py: a bare answer or the last
    # number counts unless the reward is strict); here one token, so no marker and at most one character
    assert all(r["extracted"] is None or len(r["extracted"]) <= 2 for r in truncated)
    assert summary["accuracy"] == sum(r["correct"] for r in records) / len(records)


def test_evaluate_scores_answers(tiny_model_dir, items, tmp_path, monkeypatch):
    """Aggregation from controlled completions: right, wrong, no answer, truncated, answer only inside <think>."""
    texts = {
        0: ("<think>\nwork\n</think>\n\\boxed{%s}", False, True),
        1: ("<think>\nwork\n</think>\n\\boxed{%s1}", False, False),
        2: ("<think>\nno box here", True, False),
        3: ("\\boxed{%s}", False, True),
    }
    by_question = {item["question"]: (i, item["final_answer"]) for i, item in enumerate(items[:4])}

    def fake_generate(model, tokenizer, prompts, **kwargs):
        out = []
        for prompt in prompts:
            index, gold = next(v for q, v in by_question.items() if q in prompt)
            template, truncated, _ = texts[index]
            text = template % gold if "%s" in template else template
            out.append([{"text": text, "n_tokens": 10 * (index + 1), "truncated": truncated}])
        return out

    monkeypatch.setattr(evaluate_module, "generate_batched", fake_generate)
    summary = evaluate_items(tiny_model_dir, items[:4], tmp_path / "eval", CFG)
    records = {r["id"]: r for r in _records(tmp_path / "eval")}
    for i, item in enumerate(items[:4]):
        assert records[item["id"]]["correct"] is texts[i][2], i
    assert records[items[0]["id"]]["extracted"] == items[0]["final_answer"]
    assert records[items[2]["id"]]["extracted"] is None
    assert summary["accuracy"] == 0.5
    assert summary["truncation_rate"] == 0.25
    assert summary["no_answer_rate"] == 0.25
    assert summary["mean_tokens"] == 25.0
