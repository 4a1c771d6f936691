"""Benchmark: traces/s of the `hf` teacher backend (batched sampling) vs one-at-a-time generation, same run.

Run: ``python -m bench.teacher [--model PATH] [--problems 48] [--max-new-tokens N] [--rounds 3]``.

Both sides write the same trace records (chat prompt, sampled completion, `rewards.verify` against the gold,
token counts) for the same toy-world training problems with the same model, the conf/teacher/hf.yaml sampling
settings (n_paths, temperature, top_p), `max_new_tokens`, end tokens, fp32 on CPU and the same torch threads:

* ``ours``     -- :class:`sft.teachers.hf.HFTeacher` as the teacher stage runs it: `batch_size` problems per
                  `generate` call (conf/teacher/hf.yaml), each sampled `n_paths` times (left-padded rows).
* ``baseline`` -- the loop it replaces: one unpadded sampling ``model.generate`` per trace (problem x path).

Sampling means the two sides' traces differ, so their lengths can too: mean completion tokens and tokens/s of
each side are written beside traces/s. The model is the trained tiny checkpoint at ``--model`` when it exists
(traces end with an end-of-turn token), else a freshly built, untrained tiny student (conf/model/tiny.yaml arch)
whose samples rarely end early. One untimed warm-up of each side, then ``--rounds`` alternating rounds; the best
round of each side is reported (noise from other work only slows a run down), medians are written too.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.alternating import alternate_rounds, write_report
from bench.eval import TRAINED, build_untrained
from launch.provenance import machine_info

REPO = Path(__file__).resolve().parents[1]


def one_at_a_time(model: Any, tokenizer: Any, problems: list[dict[str, Any]], cfg: Any) -> list[dict[str, Any]]:
    """The baseline: one plain, unpadded sampling `generate` per trace, records built as the hf teacher builds them."""
    import torch

    from data.records import prompt_messages
    from eval.generate import chat_prompt_text, end_token_ids
    from rewards import verify
    from sft.teachers.base import gold_answer

    eos = end_token_ids(model, tokenizer)
    records = []
    for problem in problems:
        prompt = chat_prompt_text(tokenizer, prompt_messages(problem["question"]))
        ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
        gold = gold_answer(problem)
        for k in range(cfg.n_paths):
            with torch.inference_mode():
                tokens = model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=cfg.max_new_tokens,
                    do_sample=True,
                    temperature=cfg.temperature,
                    top_p=cfg.top_p,
                    top_k=0,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=eos if len(eos) > 1 else eos[0],
                )[0, ids.shape[1] :].tolist()
            ended = next((j for j, t in enumerate(tokens) if t in eos), None)
            text = tokenizer.decode(tokens[:ended] if ended is not None else tokens, skip_special_tokens=True)
            records.append(
                {
                    "id": f"{problem['id']}/hf/{k}",
                    "problem_id": problem["id"],
                    "trace": text,
                    "verified": bool(verify(text, gold)),
                    "tokens_in": ids.shape[1],
                    "tokens_out": (ended + 1) if ended is not None else len(tokens),
                    "truncated": ended is None,
                }
            )
    return records


def batched(model: Any, tokenizer: Any, problems: list[dict[str, Any]], cfg: Any) -> list[dict[str, Any]]:
    """Ours: the hf teacher backend (`HFTeacher.generate`) with the model already loaded."""
    from sft.teachers.hf import HFTeacher

    return list(HFTeacher(cfg, model=model, tokenizer=tokenizer).generate(problems))


def _result(name: str, runs: dict[str, list[dict[str, Any]]], **extra: Any) -> dict[str, Any]:
    rate = {side: [r["traces"] / r["seconds"] for r in rs] for side, rs in runs.items()}
    tokens = {side: [r["tokens"] / r["seconds"] for r in rs] for side, rs in runs.items()}
    mean = {side: statistics.mean(r["tokens"] / r["traces"] for r in rs) for side, rs in runs.items()}
    best_o, best_b = max(rate["ours"]), max(rate["baseline"])
    return {
        "name": name,
        "unit": "traces/s",
        "ours": round(best_o, 2),
        "baseline": round(best_b, 2),
        "speedup": round(best_o / best_b, 2),
        "statistic": "best of rounds",
        "speedup_median": round(statistics.median(rate["ours"]) / statistics.median(rate["baseline"]), 2),
        "ours_rounds": [round(x, 2) for x in rate["ours"]],
        "baseline_rounds": [round(x, 2) for x in rate["baseline"]],
        "ours_tokens_per_s": round(max(tokens["ours"]), 1),
        "baseline_tokens_per_s": round(max(tokens["baseline"]), 1),
        "ours_mean_new_tokens": round(mean["ours"], 1),
        "baseline_mean_new_tokens": round(mean["baseline"], 1),
        "ours_verified_share": round(statistics.mean(r["verified"] / r["traces"] for r in runs["ours"]), 3),
        "baseline_verified_share": round(statistics.mean(r["verified"] / r["traces"] for r in runs["baseline"]), 3),
        **extra,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=TRAINED, help="checkpoint dir (built untrained when it does not exist)")
    parser.add_argument("--problems", type=int, default=48, help="toy training problems per round (x n_paths traces)")
    parser.add_argument("--batch-size", type=int, default=None, help="problems per generate call (default: hf.yaml)")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="default: 160 for the trained model (the toy eval budget), 64 for an untrained one",
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each side (alternating order)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (every side)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "teacher.json"))
    args = parser.parse_args(argv)

    import torch
    from omegaconf import OmegaConf
    from rich.console import Console
    from rich.table import Table

    from data.hub import load_model, load_tokenizer
    from data.toy_world import ToyWorld, ToyWorldConfig
    from launch.config_check import compose
    from sft.teachers.hf import HFTeacherConfig

    torch.set_num_threads(args.threads)
    console = Console(width=120)
    cfg = compose(["teacher=hf"])
    data = {k: v for k, v in OmegaConf.to_container(cfg.data).items() if k != "name"}
    problems = ToyWorld(ToyWorldConfig(**{**data, "n_train": args.problems, "n_test": 4})).problems("train")
    with tempfile.TemporaryDirectory(prefix="bench_teacher_") as tmp:
        trained = Path(args.model).is_dir()
        model_path = args.model if trained else build_untrained(Path(tmp) / "untrained")
        model, tokenizer = load_model(model_path), load_tokenizer(model_path)
        model.eval()
        teacher = {
            **OmegaConf.to_container(cfg.teacher),
            "name_or_path": model_path,
            "dtype": "float32",
            "max_new_tokens": args.max_new_tokens or (160 if trained else 64),
        }
        if args.batch_size:
            teacher["batch_size"] = args.batch_size
        config = HFTeacherConfig.from_mapping(teacher)
        console.print(
            f"model {model_path} ({'trained' if trained else 'untrained'}, "
            f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params); {len(problems)} problems x "
            f"{config.n_paths} paths, temperature {config.temperature}, top_p {config.top_p}, max_new_tokens "
            f"{config.max_new_tokens}, batch {config.batch_size} problems, {args.threads} thread(s)"
        )
        fns = {"ours": batched, "baseline": one_at_a_time}
        for fn in fns.values():  # warm-up, untimed
            fn(model, tokenizer, problems[:2], config)

        def timed(fn: Any, r: int) -> dict[str, Any]:
            torch.manual_seed(r)
            start = time.perf_counter()
            records = fn(model, tokenizer, problems, config)
            return {
                "seconds": time.perf_counter() - start,
                "traces": len(records),
                "tokens": sum(x["tokens_out"] for x in records),
                "verified": sum(x["verified"] for x in records),
            }

        runs = alternate_rounds(
            {side: (lambda r, fn=fn: timed(fn, r)) for side, fn in fns.items()},
            args.rounds,
            lambda r, side, run: console.print(
                f"round {r} {side:<8} {run['seconds']:.2f} s, {run['traces']} traces "
                f"({run['traces'] / run['seconds']:.1f} traces/s, {run['tokens']} tokens)"
            ),
        )

    result = _result(
        "hf_batched",
        runs,
        n_problems=len(problems),
        n_paths=config.n_paths,
        batch_size=config.batch_size,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        model="trained tiny checkpoint (trace SFT)" if trained else "untrained tiny student",
        target_speedup=2.0,
    )
    machine = machine_info(
        threads=args.threads, model_path=str(args.model) if trained else "built untrained", dtype="float32"
    )
    out = write_report(args.out, [result], machine)

    table = Table(title="Teacher traces/s: hf backend (batched) vs one generate per trace (best of rounds)")
    for column in ("benchmark", "unit", "ours", "one-at-a-time", "speedup", "median speedup", "new tokens (ours/base)"):
        table.add_column(column, justify="left" if column in ("benchmark", "unit") else "right")
    table.add_row(
        result["name"],
        result["unit"],
        f"{result['ours']:.2f}",
        f"{result['baseline']:.2f}",
        f"{result['speedup']:.2f}x",
        f"{result['speedup_median']:.2f}x",
        f"{result['ours_mean_new_tokens']:.1f} / {result['baseline_mean_new_tokens']:.1f}",
    )
    console.print(table)
    console.print(f"wrote {out}")
    return {"results": [result], "machine": machine}


if __name__ == "__main__":
    main()
