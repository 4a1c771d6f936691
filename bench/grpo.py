"""Benchmark: seconds per GRPO step of our RL stage (`rl.train.train_grpo`) vs a bare TRL `GRPOTrainer`, same run.

Run: ``python -m bench.grpo [--steps 8] [--rounds 3] [--out bench/results/grpo.json]``.

Both sides train the same freshly built tiny student (conf/model/tiny.yaml arch and tokenizer size, built as the
pipeline's base stage builds its init) on the same toy prompts (`{prompt, answer, id}` rows), with the same
conf/rl/grpo.yaml values (num_generations, temperature, loss, clipping, lr schedule, ...), the same reward
functions and weights from conf/reward/binary_format.yaml, the same seed, one torch thread, fp32 on CPU, HF
generation, and a fresh output folder per run. The batch and completion length are shrunk (flags below) so a
run takes seconds. Ours adds what the stage adds: start-point resolution, eos / chat alignment, prompt checks,
signal-logging reward wrappers, the rollout log and its config validation.

* ``grpo_step`` -- seconds of `trainer.train()` / optimizer steps (ours: `train_grpo`'s own `train_seconds`,
  measured the same way around the same call); generation, reward scoring and the update are all inside.
  ``speedup`` = baseline seconds / ours (>= 0.95 means ours costs at most ~5% more per step).
* completion tokens are checked equal on both sides (same seed, same data order, same samples) and written out.

One untimed warm-up run of each side first, then `rounds` rounds alternating ours / baseline (the order flips every
round); the reported number is the best (lowest) of the rounds, since noise from other work on the machine only
ever slows a run down. Medians are written to the JSON too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from bench.alternating import alternate_rounds, write_report
from bench.sft import build_tiny_base
from launch.provenance import machine_info

REPO = Path(__file__).resolve().parents[1]


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True)


def prompt_rows(cfg: Any, n_problems: int) -> list[dict[str, Any]]:
    """Toy problems as GRPO rows: chat prompt, gold answer (read by the correctness reward), id."""
    from data.records import prompt_messages
    from data.toy_world import ToyWorld, ToyWorldConfig

    data = {k: v for k, v in _plain(cfg.data).items() if k != "name"}
    problems = ToyWorld(ToyWorldConfig(**{**data, "n_train": n_problems, "seed": data["seed"] + 1})).problems("train")
    return [{"prompt": prompt_messages(p["question"]), "answer": p["final_answer"], "id": p["id"]} for p in problems]


def _completion_tokens(history: list[dict[str, Any]]) -> float | None:
    logs = [e for e in history if "num_tokens" in e]
    return logs[-1]["num_tokens"] if logs else None


def run_ours(
    model_path: str, rows: list[dict[str, Any]], out_dir: Path, rl_cfg: dict[str, Any], reward: dict[str, Any]
) -> dict[str, float]:
    """Our RL stage."""
    from rl.train import train_grpo

    summary = train_grpo(model_path, rows, out_dir, rl_cfg, reward, seed=0, report_to="none", dtype="float32")
    history = json.loads((out_dir / "log_history.json").read_text())
    return {"train_seconds": summary["train_seconds"], "steps": summary["steps"], "tokens": _completion_tokens(history)}


def run_baseline(
    model_path: str, rows: list[dict[str, Any]], out_dir: Path, rl_cfg: dict[str, Any], reward: dict[str, Any]
) -> dict[str, float]:
    """A bare TRL `GRPOTrainer` with the same hyper-parameters and reward functions (TRL defaults otherwise)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from rewards import build_reward_funcs

    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    funcs, weights = build_reward_funcs(reward)
    keys = (
        "beta",
        "loss_type",
        "scale_rewards",
        "num_generations",
        "epsilon",
        "epsilon_high",
        "mask_truncated_completions",
        "importance_sampling_level",
        "num_iterations",
        "temperature",
        "top_p",
        "top_k",
        "max_completion_length",
        "chat_template_kwargs",
        "learning_rate",
        "lr_scheduler_type",
        "warmup_steps",
        "weight_decay",
        "max_grad_norm",
        "max_steps",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "steps_per_generation",
        "gradient_checkpointing",
        "disable_dropout",
        "logging_steps",
        "save_steps",
        "save_total_limit",
    )
    args = GRPOConfig(
        output_dir=str(out_dir / "checkpoints"),
        report_to="none",
        seed=0,
        use_cpu=not cuda,
        bf16=cuda,
        reward_weights=weights,
        **{k: rl_cfg[k] for k in keys},
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=funcs, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    trainer.save_model(str(out_dir / "final"))
    return {
        "train_seconds": train_seconds,
        "steps": trainer.state.global_step,
        "tokens": _completion_tokens(trainer.state.log_history),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per timed run")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each side (alternating)")
    parser.add_argument("--warmup-steps", type=int, default=2, help="steps of the untimed warm-up run of each side")
    parser.add_argument("--prompts-per-step", type=int, default=4, help="prompts per step (x num_generations)")
    parser.add_argument("--max-completion-length", type=int, default=64, help="new tokens per completion")
    parser.add_argument("--problems", type=int, default=200, help="toy prompts in the dataset")
    parser.add_argument("--corpus-problems", type=int, default=1000, help="toy problems the tokenizer is trained on")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "grpo.json"))
    args = parser.parse_args(argv)

    import torch
    from rich.console import Console
    from rich.table import Table

    from launch.config_check import compose

    torch.set_num_threads(args.threads)
    console = Console(width=110)
    cfg = compose(["model=tiny", "rl=grpo", "reward=binary_format"])
    rl_cfg, reward = _plain(cfg.rl), _plain(cfg.reward)
    batch = args.prompts_per_step * int(rl_cfg["num_generations"])
    rl_cfg.update(
        max_steps=args.steps,
        logging_steps=args.steps,
        save_steps=args.steps,
        save_total_limit=1,
        per_device_train_batch_size=batch,
        max_completion_length=args.max_completion_length,
    )
    warm_cfg = {
        **rl_cfg,
        "max_steps": args.warmup_steps,
        "logging_steps": args.warmup_steps,
        "save_steps": args.warmup_steps,
    }
    sides: dict[str, Callable[..., dict[str, float]]] = {"ours": run_ours, "baseline": run_baseline}

    with tempfile.TemporaryDirectory(prefix="bench_grpo_") as tmp:
        work = Path(tmp)
        model_path = build_tiny_base(cfg, work / "base", args.corpus_problems)
        rows = prompt_rows(cfg, args.problems)
        console.print(
            f"tiny model {_plain(cfg.model.arch)}; {len(rows)} prompts; {batch} completions/step "
            f"({args.prompts_per_step} prompts x {rl_cfg['num_generations']}), max_completion_length "
            f"{args.max_completion_length}, {args.steps} steps x {args.rounds} rounds, {args.threads} thread(s)"
        )
        for name, fn in sides.items():
            fn(model_path, rows, work / f"warmup_{name}", warm_cfg, reward)
        runs = alternate_rounds(
            {
                name: (lambda r, fn=fn, name=name: fn(model_path, rows, work / f"{name}_{r}", rl_cfg, reward))
                for name, fn in sides.items()
            },
            args.rounds,
            lambda r, name, run: console.print(
                f"round {r} {name:<8} {run['steps']} steps, train {run['train_seconds']:.2f} s "
                f"({run['train_seconds'] / run['steps']:.3f} s/step), {run['tokens']} tokens"
            ),
        )

    per_step = {name: [r["train_seconds"] / r["steps"] for r in rs] for name, rs in runs.items()}
    tokens = {name: sorted({r["tokens"] for r in rs}) for name, rs in runs.items()}
    best_o, best_b = min(per_step["ours"]), min(per_step["baseline"])
    med_o, med_b = statistics.median(per_step["ours"]), statistics.median(per_step["baseline"])
    result = {
        "name": "grpo_step",
        "unit": "s/step",
        "ours": round(best_o, 4),
        "baseline": round(best_b, 4),
        "speedup": round(best_b / best_o, 3),
        "statistic": "best of rounds",
        "ours_median": round(med_o, 4),
        "baseline_median": round(med_b, 4),
        "speedup_median": round(med_b / med_o, 3),
        "ours_rounds": [round(x, 4) for x in per_step["ours"]],
        "baseline_rounds": [round(x, 4) for x in per_step["baseline"]],
        "steps": args.steps,
        "rounds": args.rounds,
        "tokens_per_run": tokens,
        "same_tokens_both_sides": tokens["ours"] == tokens["baseline"] and len(tokens["ours"]) == 1,
        "note": "trainer.train() seconds / optimizer steps (generation + rewards + update); target speedup >= 0.95",
    }
    machine = machine_info(
        threads=args.threads,
        completions_per_step=batch,
        num_generations=rl_cfg["num_generations"],
        max_completion_length=args.max_completion_length,
        model_arch=_plain(cfg.model.arch),
        vocab_size=int(cfg.model.tokenizer.vocab_size),
        n_prompts=len(rows),
        generation_backend="hf",
    )
    report = {"results": [result], "machine": machine}
    out = write_report(args.out, [result], machine)

    table = Table(title="GRPO step time: our train_grpo vs bare TRL GRPOTrainer (best of rounds)")
    for column in ("benchmark", "unit", "ours", "TRL GRPOTrainer", "speedup", "median speedup"):
        table.add_column(column, justify="left" if column in ("benchmark", "unit") else "right")
    table.add_row(
        result["name"],
        result["unit"],
        f"{result['ours']:.4f}",
        f"{result['baseline']:.4f}",
        f"{result['speedup']:.3f}x",
        f"{result['speedup_median']:.3f}x",
    )
    console.print(table)
    if not result["same_tokens_both_sides"]:
        console.print(f"[yellow]warning: token counts differ between runs: {tokens}[/yellow]")
    console.print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
