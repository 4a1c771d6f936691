"""Benchmark: items/s of the harness's batched HF generation vs a one-at-a-time `generate` loop, same run.

Run: ``python -m bench.eval [--model PATH] [--items 128] [--batch-size 64] [--max-new-tokens 160] [--rounds 2]``.

Both sides decode the same tinygsm (toy world test) prompts greedily with the same model, chat template,
`max_new_tokens` and end token, on fp32 CPU with the same torch threads:

* ``ours``     -- :func:`eval.generate.generate_batched` (length-sorted, left-padded batches of `--batch-size`,
                  finished rows dropped every `compact_every` tokens as conf/eval/toy.yaml sets it), the path
                  `eval.evaluate.evaluate_items` uses. Reported as ``batched``; ``batched_plain`` is the same
                  without dropping finished rows (one `generate` call per batch).
* ``baseline`` -- the loop it replaces: one unpadded ``model.generate`` per prompt.

Greedy outputs of the two sides are compared item by item (they must be identical; the JSON records it).
The model is the trained tiny checkpoint at ``--model`` when it exists (real traces that end with an
end-of-turn token, ~50 tokens), else a freshly built, untrained tiny student (conf/model/tiny.yaml arch) whose
outputs never end early, so every item runs to ``--max-new-tokens``. One untimed warm-up of each side, then
``--rounds`` alternating rounds; the best round of each side is reported (noise only slows a run down).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from launch.provenance import machine_info

REPO = Path(__file__).resolve().parents[1]
TRAINED = "/tmp/exp1/r1/trace_sft/seed0/sft/final"


def one_at_a_time(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int) -> list[dict[str, Any]]:
    """The baseline: one plain, unpadded greedy `generate` per prompt, cut at the first end token."""
    import torch

    from eval.generate import end_token_ids

    eos = end_token_ids(model, tokenizer)
    out = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer.encode(prompt, add_special_tokens=False)])
        with torch.inference_mode():
            tokens = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=eos if len(eos) > 1 else eos[0],
            )[0, ids.shape[1] :].tolist()
        ended = next((j for j, t in enumerate(tokens) if t in eos), None)
        kept = tokens[:ended] if ended is not None else tokens
        out.append(
            {
                "text": tokenizer.decode(kept, skip_special_tokens=True),
                "n_tokens": len(kept) + (ended is not None),
                "truncated": ended is None,
            }
        )
    return out


def batched(
    model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int, batch_size: int, compact_every: int | None
) -> list[dict[str, Any]]:
    """Ours: the harness's batched generation (sample 0 of each prompt)."""
    from eval.generate import generate_batched

    return [
        s[0]
        for s in generate_batched(
            model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, compact_every=compact_every
        )
    ]


def toy_compact_every() -> int | None:
    """`compact_every` of conf/eval/toy.yaml (the pipeline's eval settings)."""
    import yaml

    return yaml.safe_load((REPO / "conf" / "eval" / "toy.yaml").read_text()).get("compact_every")


def build_untrained(out_dir: Path) -> str:
    """A fresh tiny student (conf/model/tiny.yaml arch and tokenizer size), as the base stage builds its init."""
    from bench.sft import build_tiny_base
    from launch.config_check import compose

    return build_tiny_base(compose(["model=tiny"]), out_dir, corpus_problems=500)


def _row(
    name: str,
    rate: dict[str, list[float]],
    side: str,
    outputs: dict[str, list[dict[str, Any]]],
    ids: list[str],
    **extra: Any,
) -> dict[str, Any]:
    ours, base = max(rate[side]), max(rate["baseline"])
    mismatched = [ids[i] for i, (a, b) in enumerate(zip(outputs[side], outputs["baseline"])) if a != b]
    return {
        "name": name,
        "unit": "items/s",
        "ours": round(ours, 2),
        "baseline": round(base, 2),
        "speedup": round(ours / base, 2),
        "statistic": "best of rounds",
        "speedup_median": round(statistics.median(rate[side]) / statistics.median(rate["baseline"]), 2),
        "ours_rounds": [round(x, 2) for x in rate[side]],
        "baseline_rounds": [round(x, 2) for x in rate["baseline"]],
        "identical_outputs": not mismatched,
        "n_mismatched": len(mismatched),
        "mismatched_ids": mismatched[:20],
        **extra,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=TRAINED, help="checkpoint dir (built untrained when it does not exist)")
    parser.add_argument("--items", type=int, default=128, help="tinygsm test items decoded per round")
    parser.add_argument("--batch-size", type=int, default=64, help="prompts per batch (ours)")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="default: 160 for the trained model (the toy eval budget), 64 for an untrained one",
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each side (alternating order)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (every side)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "eval.json"))
    args = parser.parse_args(argv)

    import torch

    from data.benchmarks import format_prompt, load_benchmark
    from data.hub import load_model, load_tokenizer
    from eval.generate import chat_prompt_text

    torch.set_num_threads(args.threads)
    compact = toy_compact_every()
    with tempfile.TemporaryDirectory(prefix="bench_eval_") as tmp:
        trained = Path(args.model).is_dir()
        model_path = args.model if trained else build_untrained(Path(tmp) / "untrained")
        max_new = args.max_new_tokens or (160 if trained else 64)
        model, tokenizer = load_model(model_path), load_tokenizer(model_path)
        model.eval()
        items = load_benchmark("tinygsm", limit=args.items)
        prompts = [chat_prompt_text(tokenizer, [{"role": "user", "content": format_prompt(it)}]) for it in items]
        print(
            f"model {model_path} ({'trained' if trained else 'untrained'}, "
            f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params); {len(prompts)} items, "
            f"max_new_tokens {max_new}, batch {args.batch_size}, compact_every {compact}, {args.threads} thread(s)"
        )
        sides = {
            "ours": lambda ps: batched(model, tokenizer, ps, max_new, args.batch_size, compact),
            "plain": lambda ps: batched(model, tokenizer, ps, max_new, args.batch_size, None),
            "baseline": lambda ps: one_at_a_time(model, tokenizer, ps, max_new),
        }
        for fn in sides.values():  # warm-up, untimed
            fn(prompts[:4])
        seconds: dict[str, list[float]] = {side: [] for side in sides}
        outputs: dict[str, list[dict[str, Any]]] = {}
        for r in range(args.rounds):
            for side in list(sides) if r % 2 == 0 else list(reversed(sides)):
                start = time.perf_counter()
                outputs[side] = sides[side](prompts)
                seconds[side].append(time.perf_counter() - start)
                print(f"round {r} {side:<8} {seconds[side][-1]:.2f} s ({len(prompts) / seconds[side][-1]:.1f} items/s)")

    rate = {side: [len(prompts) / s for s in secs] for side, secs in seconds.items()}
    tokens = [o["n_tokens"] for o in outputs["ours"]]
    common = {
        "n_items": len(prompts),
        "batch_size": args.batch_size,
        "max_new_tokens": max_new,
        "mean_new_tokens": round(sum(tokens) / len(tokens), 1),
        "max_new_tokens_used": max(tokens),
        "truncated_share": round(sum(o["truncated"] for o in outputs["ours"]) / len(tokens), 3),
        "model": "trained tiny checkpoint (trace SFT)" if trained else "untrained tiny student (no early end token)",
        "target_speedup": 5.0,
    }
    ids = [it["id"] for it in items]
    results = [
        _row("batched", rate, "ours", outputs, ids, compact_every=compact, **common),
        _row("batched_plain", rate, "plain", outputs, ids, compact_every=None, **common),
    ]
    report = {
        "results": results,
        "machine": machine_info(
            threads=args.threads, model_path=str(args.model) if trained else "built untrained", dtype="float32"
        ),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        print(
            f"{r['name']:<14} {r['ours']:.2f} items/s vs one-at-a-time {r['baseline']:.2f} items/s: {r['speedup']:.2f}x "  # noqa: E501
            f"(median {r['speedup_median']:.2f}x); greedy outputs identical: {r['identical_outputs']}"
        )
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
