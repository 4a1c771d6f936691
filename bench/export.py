"""Benchmark: the GGUF export of a student (launch.export) against the checkpoint it came from, same machine.

Run: ``python -m bench.export [--model PATH|HUB_ID] [--quant q4] [--items 200] [--decode-prompts 16] [--threads 1]``.

Three entries, each ``{"name", "unit", "ours", "baseline", "speedup"}`` (ours = the quantized GGUF, run by
llama.cpp through llama-cpp-python; baseline = the full-precision checkpoint, run by transformers on the CPU):

* ``size``          -- bytes: the checkpoint's weight files (float32 safetensors for the toy student) vs the GGUF
                       file (weights, tokenizer and chat template); speedup = full bytes / quantized bytes.
* ``decode``        -- generated tokens/s at batch 1, greedy, the same chat prompts (held-out toy problems), the same
                       torch / llama.cpp threads: our HF one-at-a-time `model.generate` (bench.eval's baseline loop)
                       vs `eval.llama_cpp_backend` (prompt processing included on both sides); speedup = ratio.
                       Best of `--rounds` alternating rounds (load from other work only slows a round down).
* ``accuracy_kept`` -- held-out accuracy of the same `--items` problems, scored by the one eval harness
                       (`eval.evaluate.evaluate_items`, conf/eval/toy.yaml settings): backend llama_cpp on the GGUF
                       vs backend hf on the checkpoint; speedup = quantized / full precision (1.0: nothing lost).

The model: `--model` (a checkpoint folder, a LoRA adapter folder, or a hub id with `--benchmark gsm8k` and a
local `--benchmark-path`); without it, a toy student is trained here first: the tiny init (conf/model/tiny.yaml,
as the base stage builds it) SFT'd on program-teacher traces for `--sft-steps` (a small trace-SFT run, minutes on
one core; a pipeline-trained student, e.g. `outputs/shared/sft/<fp>/final`, gives a more meaningful accuracy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.alternating import alternate_rounds, write_report
from launch.provenance import DEFAULT_PACKAGES, machine_info

REPO = Path(__file__).resolve().parents[1]


def toy_eval_settings(max_new_tokens: int | None = None) -> dict[str, Any]:
    """conf/eval/toy.yaml as the pipeline's eval stage reads it (report off)."""
    import yaml

    settings = yaml.safe_load((REPO / "conf" / "eval" / "toy.yaml").read_text())
    settings = {k: v for k, v in settings.items() if k not in ("benchmarks", "benchmark_paths")}
    if max_new_tokens:
        settings["max_new_tokens"] = max_new_tokens
    return {**settings, "report": False}


def held_out(n: int, benchmark: str | None, path: str | None) -> list[dict[str, Any]]:
    """The first `n` held-out problems: the toy world's test split (conf/data/toy.yaml), or a benchmark's items."""
    if benchmark:
        from data.benchmarks import load_benchmark

        return load_benchmark(benchmark, path=path, limit=n)
    import yaml

    from data.toy_world import ToyWorld, ToyWorldConfig

    data = yaml.safe_load((REPO / "conf" / "data" / "toy.yaml").read_text())
    return ToyWorld(ToyWorldConfig(**{k: v for k, v in data.items() if k != "name"})).problems("test")[:n]


def train_toy_student(out_dir: Path, steps: int, threads: int) -> str:
    """A small trace-SFT run from the tiny init (no pretrained base): our SFT stage (`sft.train.train_sft`) with
    conf/sft/full.yaml values, `steps` steps."""
    import torch

    from bench.sft import build_tiny_base, trace_rows
    from launch.config_check import compose
    from sft.train import train_sft

    torch.set_num_threads(threads)
    cfg = compose(["model=tiny"])
    init = build_tiny_base(cfg, out_dir / "init", corpus_problems=1000)
    sft_cfg = {
        **json.loads(json.dumps(_plain(cfg.sft))),
        "max_steps": steps,
        "save_steps": steps,
        "logging_steps": max(1, steps // 10),
    }
    summary = train_sft(init, trace_rows(cfg, 2000), out_dir / "sft", sft_cfg, seed=0, report_to="none")
    return str(summary["model_path"])


def _plain(node: Any) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True)


def decode_rates(model_path: str, gguf: str, prompts: list[str], max_new: int, threads: int, rounds: int) -> dict:
    """Tokens/s of each side over the same prompts, batch 1, greedy; alternating rounds."""
    import torch

    from bench.eval import one_at_a_time
    from data.hub import load_model, load_tokenizer
    from eval.llama_cpp_backend import LlamaCppGenerator

    torch.set_num_threads(threads)
    model, tokenizer = load_model(model_path), load_tokenizer(model_path)
    model.eval()
    engine = LlamaCppGenerator(gguf, {"n_threads": threads, "n_ctx": 2048})

    def hf(_: int) -> dict[str, Any]:
        start = time.perf_counter()
        outs = one_at_a_time(model, tokenizer, prompts, max_new)
        return {"seconds": time.perf_counter() - start, "tokens": sum(o["n_tokens"] for o in outs)}

    def llama(_: int) -> dict[str, Any]:
        start = time.perf_counter()
        outs = engine.generate(prompts, max_new_tokens=max_new)
        return {"seconds": time.perf_counter() - start, "tokens": sum(o[0]["n_tokens"] for o in outs)}

    hf(0), llama(0)  # warm-up, untimed
    runs = alternate_rounds(
        {"ours": llama, "baseline": hf},
        rounds,
        on_run=lambda r, side, run: print(
            f"decode round {r} {side:<8} {run['tokens']} tokens in {run['seconds']:.2f} s "
            f"({run['tokens'] / run['seconds']:.1f} tokens/s)"
        ),
    )
    return {side: [run["tokens"] / run["seconds"] for run in side_runs] for side, side_runs in runs.items()} | {
        "tokens": {side: side_runs[-1]["tokens"] for side, side_runs in runs.items()}
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint dir or hub id (default: train a toy student here)")
    parser.add_argument("--quant", default="q4", choices=["q4", "q8", "f16", "f32"])
    parser.add_argument("--items", type=int, default=200, help="held-out problems scored for accuracy_kept")
    parser.add_argument("--decode-prompts", type=int, default=16, help="prompts decoded per round for decode")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the eval budget (toy: 160)")
    parser.add_argument("--rounds", type=int, default=3, help="timed decode rounds of each side")
    parser.add_argument("--threads", type=int, default=1, help="torch and llama.cpp threads (every side)")
    parser.add_argument("--sft-steps", type=int, default=600, help="toy student's SFT steps when --model is not given")
    parser.add_argument("--benchmark", default=None, help="score a benchmark instead of the toy test split")
    parser.add_argument("--benchmark-path", default=None, help="a local copy of --benchmark")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "export.json"))
    args = parser.parse_args(argv)

    from eval.evaluate import evaluate_items
    from eval.generate import chat_prompt_text
    from eval.items import to_eval_items
    from launch.export import export

    settings = toy_eval_settings(args.max_new_tokens)
    if args.benchmark:
        from data.benchmarks import get_spec

        settings["max_new_tokens"] = args.max_new_tokens or int(get_spec(args.benchmark).max_new_tokens or 512)
    with tempfile.TemporaryDirectory(prefix="bench_export_") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        model_path = args.model or train_toy_student(tmp / "student", args.sft_steps, args.threads)
        trained_here = args.model is None
        info = export({"model_path": model_path, "quant": args.quant, "out": str(tmp / f"student-{args.quant}.gguf")})
        full_bytes = info.get("source_weight_bytes") or _hub_weight_bytes(model_path)
        print(f"model {model_path}: {full_bytes:,} bytes of weights; {info['path']}: {info['bytes']:,} bytes")

        items = held_out(args.items, args.benchmark, args.benchmark_path)
        evaluated = {}
        for side, backend, path in (("baseline", "hf", model_path), ("ours", "llama_cpp", info["path"])):
            cfg = {**settings, "backend": backend, "llama_cpp": {"n_threads": args.threads, "n_ctx": 2048}}
            start = time.perf_counter()
            evaluated[side] = evaluate_items(path, items, tmp / f"eval_{side}", cfg)
            evaluated[side]["eval_seconds"] = time.perf_counter() - start
            lines = (tmp / f"eval_{side}" / "items.jsonl").read_text().splitlines()
            evaluated[side]["_completions"] = [json.loads(line)["completion"] for line in lines]
            print(
                f"accuracy {side} ({backend}): {evaluated[side]['accuracy']:.3f} on {evaluated[side]['n_eval']} items"
            )

        from data.hub import load_tokenizer

        tokenizer = load_tokenizer(model_path)
        eval_items = to_eval_items(items[: args.decode_prompts], settings.get("prompt_template"))
        prompts = [chat_prompt_text(tokenizer, [{"role": "user", "content": it["user_prompt"]}]) for it in eval_items]
        rates = decode_rates(model_path, info["path"], prompts, settings["max_new_tokens"], args.threads, args.rounds)
        wall = time.perf_counter() - started

    def row(name: str, unit: str, ours: float, baseline: float, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "unit": unit,
            "ours": round(ours, 4),
            "baseline": round(baseline, 4),
            "speedup": round(ours / baseline, 3) if baseline else None,
            **extra,
        }

    acc_q, acc_f = evaluated["ours"]["accuracy"], evaluated["baseline"]["accuracy"]
    results = [
        {**row("size", "bytes", info["bytes"], full_bytes), "speedup": round(full_bytes / info["bytes"], 2)},
        row(
            "decode",
            "tokens/s",
            max(rates["ours"]),
            max(rates["baseline"]),
            statistic="best of rounds",
            speedup_median=round(statistics.median(rates["ours"]) / statistics.median(rates["baseline"]), 3),
            ours_rounds=[round(x, 1) for x in rates["ours"]],
            baseline_rounds=[round(x, 1) for x in rates["baseline"]],
            tokens=rates["tokens"],
            n_prompts=len(prompts),
            batch_size=1,
            decoding="greedy",
        ),
        row(
            "accuracy_kept",
            "accuracy",
            acc_q,
            acc_f,
            n_items=len(items),
            ci_ours=[evaluated["ours"].get("ci_low"), evaluated["ours"].get("ci_high")],
            ci_baseline=[evaluated["baseline"].get("ci_low"), evaluated["baseline"].get("ci_high")],
            same_completion_share=_same_share(evaluated),
        ),
    ]
    common = {
        "quant": args.quant,
        "tensor_types": info["tensor_types"],
        "max_new_tokens": settings["max_new_tokens"],
        "model": "toy student trained here (trace SFT from the tiny init)" if trained_here else str(model_path),
        "wall_seconds": round(wall, 1),
    }
    for r in results:
        r.update(common)
    machine = machine_info(
        threads=args.threads,
        model_path=str(model_path) if not trained_here else f"trained here ({args.sft_steps} SFT steps)",
        dtype="float32",
        packages=(*DEFAULT_PACKAGES, "llama_cpp_python", "gguf"),
    )
    out = write_report(args.out, results, machine)
    for r in results:
        print(f"{r['name']:<14} ours {r['ours']} vs baseline {r['baseline']} {r['unit']}: {r['speedup']}")
    print(f"wrote {out}")
    return {"results": results, "machine": machine}


def _same_share(evaluated: dict[str, Any]) -> float | None:
    """Share of items whose quantized completion is the full-precision one, word for word."""
    ours, base = evaluated["ours"]["_completions"], evaluated["baseline"]["_completions"]
    return round(sum(a == b for a, b in zip(ours, base)) / len(base), 3) if base else None


def _hub_weight_bytes(model_path: str) -> int:
    """Weight bytes of a hub model in the local cache (its safetensors files)."""
    from huggingface_hub import snapshot_download

    return sum(
        f.stat().st_size
        for f in Path(snapshot_download(model_path, local_files_only=True)).iterdir()
        if f.suffix in (".safetensors", ".bin")
    )


if __name__ == "__main__":
    main()
