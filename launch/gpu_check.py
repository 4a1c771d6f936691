"""`make gpu-check`: does this project train and evaluate on this node's CUDA GPU? One verdict per path, in a few
minutes, on the tiny model and a small toy world (nothing from the hub):

| path | what runs |
|---|---|
| `sft_bf16` | trace SFT in bf16 (`condition=trace_sft`, the base pretrained briefly first) |
| `grpo_hf` | GRPO with HF generation from that SFT model (`condition=sft_grpo`) |
| `eval` | the eval stage of both runs (on the GPU, its summary's `n_eval` > 0) |
| `grpo_vllm` | GRPO with vLLM colocated generation (`rl=grpo_vllm_colocate`), only when `vllm` imports |
| `eval_vllm` | the eval stage with the vLLM backend (`eval.backend=vllm`), only when `vllm` imports |

Each path is one `python -m launch.pipeline` run in a subprocess (its log under `<out>/logs/`), so a crash in one does
not hide the others. Exit 0 when every path that ran passed, 1 when one failed; on a machine without CUDA it prints
that it needs a GPU and exits 2 without running anything (a CPU machine cannot pass a GPU check).

    python -m launch.gpu_check [--out DIR] [--timeout S] [extra pipeline overrides ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Small enough for minutes on one GPU, large enough that every trainer takes real steps.
SIZES = [
    "data.n_train=400",
    "data.n_test=32",
    "model.dtype=bfloat16",
    "model.pretrain.max_steps=60",
    "model.pretrain.n_facts=20000",
    "model.pretrain.n_statements=400",
    "model.tokenizer.corpus_problems=400",
    "sft.max_steps=40",
    "sft.save_steps=40",
    "rl.max_steps=4",
    "rl.save_steps=4",
    "rl.logging_steps=1",
    "eval.dtype=bfloat16",
    "threads=4",
]


VLLM_RL = ["condition=sft_grpo", "rl=grpo_vllm_colocate", "rl.max_steps=4", "rl.save_steps=4"]  # after SIZES' rl=


def needs_gpu() -> str | None:
    """Why this machine cannot run the check (None when it can)."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA GPU (torch.cuda.is_available() is False)"
    return None


def vllm_imports() -> bool:
    try:
        import vllm  # noqa: F401
    except Exception:
        return False
    return True


def run(name: str, overrides: list[str], out: Path, timeout: float) -> tuple[bool, str, dict | None]:
    """One pipeline run; (passed, why, run summary)."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "launch.pipeline", f"output_root={out}", f"run_name={name}", *overrides]
    started = time.time()
    with open(logs / f"{name}.log", "w") as log:
        try:
            code = subprocess.call(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, f"timed out after {timeout:.0f} s (log {logs / name}.log)", None
    seconds = time.time() - started
    if code != 0:
        return False, f"exit {code} after {seconds:.0f} s (log {logs / name}.log)", None
    condition = next(o.split("=", 1)[1] for o in overrides if o.startswith("condition="))
    summary_path = out / name / condition / "seed0" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    if not summary or not summary.get("n_eval"):
        return False, f"no run summary with evaluated items at {summary_path}", summary
    return True, f"{seconds:.0f} s, accuracy {100 * summary['accuracy']:.1f}% on {summary['n_eval']}", summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/gpu_check", help="where the runs write (default outputs/gpu_check)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per path (default 600)")
    args, extra = parser.parse_known_args(argv)
    reason = needs_gpu()
    if reason:
        print(f"gpu-check needs one CUDA GPU: {reason}. Nothing was run (run it on a GPU node).", file=sys.stderr)
        return 2
    import torch

    print(f"gpu-check on {torch.cuda.get_device_name(0)} (torch {torch.__version__})", flush=True)
    out = Path(args.out).resolve()
    verdicts: dict[str, tuple[bool | None, str]] = {}
    base = [*SIZES, *extra]
    ok, why, summary = run("sft_bf16", ["condition=trace_sft", *base], out, args.timeout)
    verdicts["sft_bf16"] = (ok, why)
    if summary and summary.get("sft_steps", 0) < 1:
        verdicts["sft_bf16"] = (False, "no SFT step was taken")
    ok_rl, why_rl, summary_rl = run("grpo_hf", ["condition=sft_grpo", *base], out, args.timeout)
    verdicts["grpo_hf"] = (ok_rl and bool(summary_rl and summary_rl.get("rl_steps")), why_rl)
    evals = [s for s in (summary, summary_rl) if s]
    verdicts["eval"] = (
        bool(evals) and all(s.get("n_eval") for s in evals),
        f"{len(evals)} eval stage(s) scored items" if evals else "no eval stage finished",
    )
    if vllm_imports():
        ok, why, _ = run("grpo_vllm", [*VLLM_RL, *base], out, args.timeout)
        verdicts["grpo_vllm"] = (ok, why)
        ok, why, _ = run("eval_vllm", ["condition=trace_sft", "eval.backend=vllm", *base], out, args.timeout)
        verdicts["eval_vllm"] = (ok, why)
    else:
        verdicts["grpo_vllm"] = verdicts["eval_vllm"] = (None, "skipped: vllm does not import (pip install -e .[gpu])")
    print("\ngpu-check verdicts:")
    for name, (ok, why) in verdicts.items():
        word = "PASS" if ok else ("SKIP" if ok is None else "FAIL")
        print(f"  {word:4s} {name:10s} {why}")
    failed = [n for n, (ok, _) in verdicts.items() if ok is False]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
