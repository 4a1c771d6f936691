"""Score a checkpoint on a list of problems: generate, extract the final `\\boxed{}` answer, verify, aggregate.

Per-item results go to `items.jsonl` (append-only, one record per item id) so a killed eval resumes at
the first unfinished item; `summary.json` is written last. The full harness (pass@k, maj@k, benchmarks,
reports) builds on this module.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from tqdm.auto import tqdm

from data.hub import load_model, load_tokenizer
from data.jsonl_io import AppendOnlyJsonl, read_jsonl
from data.records import prompt_messages
from eval.generate import chat_prompt_text, generate_batched
from rewards import extract_final_answer, verify


def evaluate_items(model_path: str, items: list[dict[str, Any]], out_dir: str | Path, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate `items` (`id`, `question`, `final_answer`) greedily; resumable; returns the summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    limit = cfg.get("limit")
    items = items[:limit] if limit else items
    writer = AppendOnlyJsonl(out_dir / "items.jsonl")
    todo = [item for item in items if item["id"] not in writer.done_keys]
    if todo:
        tokenizer = load_tokenizer(model_path)
        model = load_model(model_path, dtype=cfg.get("dtype", "float32"))
        chunk = int(cfg.get("batch_size", 64)) * 4  # write in chunks so a kill loses at most one chunk
        with tqdm(total=len(items), initial=len(items) - len(todo), desc="eval", unit="item") as bar:
            for start in range(0, len(todo), chunk):
                part = todo[start:start + chunk]
                prompts = [chat_prompt_text(tokenizer, prompt_messages(item["question"])) for item in part]
                outputs = generate_batched(model, tokenizer, prompts, max_new_tokens=int(cfg["max_new_tokens"]),
                                           batch_size=int(cfg.get("batch_size", 64)), progress=bar)
                for item, samples in zip(part, outputs):
                    sample = samples[0]
                    writer.write({
                        "id": item["id"], "question": item["question"], "gold": item["final_answer"],
                        "completion": sample["text"], "extracted": extract_final_answer(sample["text"]),
                        "correct": bool(verify(sample["text"], item["final_answer"])),
                        "n_tokens": sample["n_tokens"], "truncated": sample["truncated"],
                    })
    writer.close()
    wanted = {item["id"] for item in items}
    records = [r for r in read_jsonl(out_dir / "items.jsonl") if r["id"] in wanted]
    n = len(records)
    summary = {
        "model_path": model_path, "n_eval": n,
        "accuracy": sum(r["correct"] for r in records) / n if n else 0.0,
        "truncation_rate": sum(r["truncated"] for r in records) / n if n else 0.0,
        "no_answer_rate": sum(r["extracted"] is None for r in records) / n if n else 0.0,
        "mean_tokens": sum(r["n_tokens"] for r in records) / n if n else 0.0,
    }
    return summary
