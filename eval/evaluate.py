"""Score a checkpoint on a list of problems: generate, extract and verify each answer, aggregate; resumable.

`evaluate_items(model_path, items, out_dir, cfg)` is the one entry point (the pipeline's eval stage and
`python -m eval.run` both call it). Items are pipeline problems (`id`, `question`, `final_answer`) or benchmark
items (`id`, `question`, `answer`, `answer_type`, ...); `cfg` is an eval config (conf/eval/*.yaml, see
:mod:`eval.settings`): greedy or sampled (`n_samples` per problem), HF or vLLM backend.

Files in `out_dir`:

* `items.jsonl` -- one record per item, appended (fsync'd) chunk by chunk as items finish, so a killed run
  resumes at its first unfinished item and never writes an item twice. Keys: `id, question, gold, completion,
  extracted, correct, n_tokens, truncated` (sample 0), plus `benchmark, answer_type, prompt, completions,
  answers, verdicts, sample_n_tokens, sample_truncated` (every sample).
* `eval_config.json` -- what the records were generated with; resuming under other generation settings is
  refused (records from two settings never mix).
* `metrics.json` -- the returned summary: accuracy (sample 0) with a bootstrap CI, pass@k for every k <= n
  (unbiased), maj@k, mean@n, mean tokens, truncation rate (a warning is logged above `truncation_warn`).
* `report.md` / `report.png` when `report: true`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from data.atomic_io import write_text_atomic
from data.hub import load_model, load_tokenizer
from data.jsonl_io import AppendOnlyJsonl, read_jsonl
from data.trace_format import trace_format
from eval.generate import chat_prompt_text, generate_batched
from eval.items import EvalItem, to_eval_items
from eval.metrics import aggregate
from eval.scoring import score_many, vote_key
from eval.settings import QUICK_ITEMS, EvalSettings, settings_from
from eval.trace_shape import trace_shape

log = logging.getLogger(__name__)

ITEMS_FILE, CONFIG_FILE, METRICS_FILE = "items.jsonl", "eval_config.json", "metrics.json"
Generate = Callable[[list[str], Any, int], list[list[dict[str, Any]]]]  # (prompts, progress, seed) -> samples


# ---- selection and resume -------------------------------------------------------------------------------
def select_items(items: list[EvalItem], settings: EvalSettings) -> list[EvalItem]:
    """The items this run covers: the first `limit` (5 with `quick`), in order."""
    limit = settings.limit
    if settings.quick:
        limit = QUICK_ITEMS if limit is None else min(limit, QUICK_ITEMS)
    return items[:limit] if limit is not None else items


def check_generation_identity(out_dir: Path, identity: dict[str, Any]) -> None:
    """Refuse to add records to `out_dir` that were generated under other settings; record the settings."""
    path = out_dir / CONFIG_FILE
    if path.exists():
        old = json.loads(path.read_text()).get("identity", {})
        changed = {
            k: (old.get(k), identity.get(k)) for k in sorted(set(old) | set(identity)) if old.get(k) != identity.get(k)
        }
        if changed:
            detail = "; ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in changed.items())
            raise ValueError(
                f"{out_dir} holds eval records generated with other settings ({detail}); evaluate into "
                f"a new folder, or delete {path.name} there to adopt its records anyway"
            )
        return
    write_text_atomic(path, json.dumps({"identity": identity}, indent=2))


def _records_in_order(out_dir: Path, items: list[EvalItem]) -> list[dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for record in read_jsonl(out_dir / ITEMS_FILE):
        by_id.setdefault(str(record["id"]), record)
    return [by_id[str(item["id"])] for item in items if str(item["id"]) in by_id]


# ---- generation backends --------------------------------------------------------------------------------
def _hf_backend(model_path: str, settings: EvalSettings) -> tuple[Callable[[str], str], Generate]:
    import torch

    tokenizer = load_tokenizer(model_path)
    model = load_model(model_path, dtype=settings.dtype, attn_implementation=settings.attn_implementation)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if settings.device == "auto" else settings.device
    if str(model.device) != device:
        model.to(device)

    def generate(prompts: list[str], progress: Any, seed: int) -> list[list[dict[str, Any]]]:
        if settings.do_sample:
            torch.manual_seed(seed)
        return generate_batched(
            model,
            tokenizer,
            prompts,
            max_new_tokens=settings.max_new_tokens,
            batch_size=settings.prompts_per_call,
            do_sample=settings.do_sample,
            temperature=settings.temperature,
            top_p=settings.top_p,
            num_return_sequences=settings.n_samples,
            compact_every=settings.compact_every,
            progress=progress,
        )

    chat = trace_format(settings.trace_format).chat_kwargs()
    return (lambda user: chat_prompt_text(tokenizer, [{"role": "user", "content": user}], **chat)), generate


def _vllm_backend(model_path: str, settings: EvalSettings) -> tuple[Callable[[str], str], Generate]:
    from eval.vllm_backend import VLLMGenerator

    engine = VLLMGenerator(model_path, dtype=settings.dtype, seed=settings.seed, engine_kwargs=settings.vllm)
    chat = trace_format(settings.trace_format).chat_kwargs()
    prompt_text = lambda user: chat_prompt_text(engine.tokenizer, [{"role": "user", "content": user}], **chat)
    return prompt_text, _engine_generate(engine, settings)


def _engine_generate(engine: Any, settings: EvalSettings) -> Generate:
    """The `generate` of an engine with the vllm / llama_cpp / openai backends' `generate(prompts, ...)` signature."""

    def generate(prompts: list[str], progress: Any, seed: int) -> list[list[dict[str, Any]]]:
        return engine.generate(
            prompts,
            max_new_tokens=settings.max_new_tokens,
            do_sample=settings.do_sample,
            n_samples=settings.n_samples,
            temperature=settings.temperature,
            top_p=settings.top_p,
            seed=seed,
            progress=progress,
        )

    return generate


def make_backend(model_path: str, settings: EvalSettings) -> tuple[Callable[[str], str], Generate]:
    """`(prompt_text(user_prompt) -> str, generate(prompts, progress, seed) -> samples)` for `settings.backend`:
    hf / vllm load a checkpoint; llama_cpp a `.gguf` file (eval/llama_cpp_backend.py); openai sends the user prompt
    to `eval.openai.base_url` as model `model_path` (eval/openai_backend.py), whose server applies the template."""
    if settings.backend == "vllm":
        return _vllm_backend(model_path, settings)
    if settings.backend == "llama_cpp":
        from eval.llama_cpp_backend import LlamaCppGenerator

        engine = LlamaCppGenerator(model_path, settings.llama_cpp, seed=settings.seed)
        return engine.prompt_text, _engine_generate(engine, settings)
    if settings.backend == "openai":
        from eval.openai_backend import OpenAIGenerator

        return (lambda user: user), _engine_generate(OpenAIGenerator(model_path, settings.openai), settings)
    return _hf_backend(model_path, settings)


# ---- records and summary --------------------------------------------------------------------------------
def item_record(
    item: EvalItem, prompt: str, samples: list[dict[str, Any]], answers: list[str | None], verdicts: list[bool]
) -> dict[str, Any]:
    """The `items.jsonl` record of one item: sample 0 under the original keys, every sample in list keys."""
    first = samples[0]
    return {
        "id": item["id"],
        "question": item["question"],
        "gold": item["gold"],
        "completion": first["text"],
        "extracted": answers[0],
        "correct": bool(verdicts[0]),
        "n_tokens": int(first["n_tokens"]),
        "truncated": bool(first["truncated"]),
        "benchmark": item["source"],
        "answer_type": item["answer_type"],
        "prompt": prompt,
        "completions": [s["text"] for s in samples],
        "answers": answers,
        "verdicts": [bool(v) for v in verdicts],
        "sample_n_tokens": [int(s["n_tokens"]) for s in samples],
        "sample_truncated": [bool(s["truncated"]) for s in samples],
    }


def _per_sample(record: dict[str, Any]) -> dict[str, Any]:
    """Per-sample lists of a record for `eval.metrics.aggregate` (records from before the list keys: 1 sample)."""
    answer_type = record.get("answer_type", "number")
    answers = record.get("answers", [record.get("extracted")])
    return {
        "verdicts": record.get("verdicts", [record["correct"]]),
        "answers": [vote_key(a, answer_type) for a in answers],
        "n_tokens": record.get("sample_n_tokens", [record["n_tokens"]]),
        "truncated": record.get("sample_truncated", [record["truncated"]]),
    }


def summarize(records: list[dict[str, Any]], model_path: str, settings: EvalSettings) -> dict[str, Any]:
    """The run's metrics: the pipeline's keys (model_path, n_eval, accuracy, truncation_rate, no_answer_rate,
    mean_tokens) plus ci_low/ci_high, pass@k, maj@k, mean@n, n_samples, the generation settings and `trace_shape`
    (eval.trace_shape: equations per completion, share that skip a step, accuracy of each)."""
    n = len(records)
    summary: dict[str, Any] = {
        "model_path": model_path,
        "n_eval": n,
        "accuracy": 0.0,
        "truncation_rate": 0.0,
        "no_answer_rate": 0.0,
        "mean_tokens": 0.0,
    }
    if n:
        metrics = aggregate(
            [_per_sample(r) for r in records],
            ks=settings.ks,
            n_resamples=settings.bootstrap_resamples,
            alpha=settings.ci_alpha,
            seed=settings.seed,
        )
        metrics.pop("n_items")
        summary.update(metrics)
        summary["no_answer_rate"] = sum(r["extracted"] is None for r in records) / n
        summary["trace_shape"] = trace_shape(records)  # equations written, steps skipped (sample 0 of each item)
        summary["thinking"] = thinking_share(records, settings.trace_format)
    summary.update(
        benchmark=settings.benchmark,
        label=settings.label,
        decoding=settings.decoding,
        max_new_tokens=settings.max_new_tokens,
        ci_level=1.0 - settings.ci_alpha,
    )
    if settings.do_sample:
        summary.update(temperature=settings.temperature, top_p=settings.top_p)
    return summary


def thinking_share(records: list[dict[str, Any]], format_name: str) -> dict[str, Any]:
    """How often the model reasons at length (sample 0 of each item; data.trace_format `is_long`: a non-empty think
    block, or for post a justification after the answer) and the accuracy of each kind: the adaptive student's
    choice, and the length of its reasoning in tokens per answer (`mean_tokens`)."""
    fmt = trace_format(format_name)
    long = [r for r in records if fmt.is_long(r["completion"])]
    short = [r for r in records if not fmt.is_long(r["completion"])]

    def acc(rows: list[dict[str, Any]]) -> float | None:
        return sum(bool(r["correct"]) for r in rows) / len(rows) if rows else None

    return {
        "format": fmt.name,
        "long_share": len(long) / len(records) if records else 0.0,
        "accuracy_long": acc(long),
        "accuracy_short": acc(short),
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2))


# ---- the entry point ------------------------------------------------------------------------------------
def warm_symbolic_checks(items: list[EvalItem]) -> None:
    """Start the bounded math-verify pool (rewards.symbolic) in the background when the evaluator is built, so the
    first symbolic check does not pay its start-up against its time bound; only when some gold is not a plain
    number (plain numbers never leave the exact fast path)."""
    from rewards.fast_path import parse_number

    if any(item["answer_type"] != "choice" and parse_number(str(item["gold"])) is None for item in items):
        from rewards.symbolic import warmup

        threading.Thread(target=warmup, name="symbolic-warmup", daemon=True).start()


def evaluate_items(
    model_path: str, items: list[dict[str, Any]], out_dir: str | Path, cfg: Mapping[str, Any]
) -> dict[str, Any]:
    """Evaluate `items` with the eval config `cfg`; resumable (see the module docstring); returns the summary."""
    settings = settings_from(cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    selected = select_items(to_eval_items(items, settings.prompt_template), settings)
    if settings.start_from > len(selected):
        raise ValueError(
            f"eval.start_from={settings.start_from} is past the {len(selected)} selected items; "
            f"valid: 0..{len(selected)}"
        )
    check_generation_identity(out_dir, settings.generation_identity(model_path))
    warm_symbolic_checks(selected)
    writer = AppendOnlyJsonl(out_dir / ITEMS_FILE)
    timing = _previous_timing(out_dir)
    try:
        todo = [item for item in selected[settings.start_from :] if str(item["id"]) not in writer.done_keys]
        if todo:
            start = time.perf_counter()
            _generate_and_write(model_path, selected, todo, writer, settings)
            # model load included: the price of answering, as a user pays it
            timing = {"seconds_per_answer": (time.perf_counter() - start) / len(todo), "timed_items": len(todo)}
    finally:
        writer.close()
    records = _records_in_order(out_dir, selected)
    summary = summarize(records, model_path, settings)
    summary.update(timing)
    if summary["truncation_rate"] > settings.truncation_warn:
        log.warning(
            "%.1f%% of completions hit max_new_tokens=%d (warning above %.1f%%): a truncated completion is "
            "scored by what it shows so far (rarely right); raise max_new_tokens",
            100 * summary["truncation_rate"],
            settings.max_new_tokens,
            100 * settings.truncation_warn,
        )
    _write_json(out_dir / METRICS_FILE, summary)
    if settings.report:
        from eval.report import summary_row, write_report

        write_report([summary_row(summary)], out_dir, title=f"eval: {settings.label or model_path}")
    return summary


def _previous_timing(out_dir: Path) -> dict[str, Any]:
    """The seconds per answer an earlier (complete) run into `out_dir` measured, when nothing is left to time."""
    try:
        old = json.loads((out_dir / METRICS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {k: old[k] for k in ("seconds_per_answer", "timed_items") if k in old}


def _generate_and_write(
    model_path: str, selected: list[EvalItem], todo: list[EvalItem], writer: AppendOnlyJsonl, settings: EvalSettings
) -> None:
    done = len(selected) - len(todo)
    if done:
        index = next(i for i, item in enumerate(selected) if item["id"] == todo[0]["id"])
        log.info(
            "resuming: %d of %d items already in %s; continuing at item %d (%s)",
            done,
            len(selected),
            writer.path,
            index,
            todo[0]["id"],
        )
    prompt_text, generate = make_backend(model_path, settings)
    chunk = settings.items_per_chunk
    with tqdm(total=len(selected), initial=done, desc="eval", unit="item") as bar:
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            prompts = [prompt_text(item["user_prompt"]) for item in part]
            outputs = generate(prompts, bar, settings.seed + start)
            fmt = trace_format(settings.trace_format)
            scored = score_many(part, [[fmt.answer_region(s["text"]) for s in samples] for samples in outputs])
            for item, prompt, samples, (answers, verdicts) in zip(part, prompts, outputs, scored):
                writer.write(item_record(item, prompt, samples, answers, verdicts))
