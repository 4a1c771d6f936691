"""`make smoke-study`: the study recipe (conf/study/reasoning_distillation.yaml) end to end on the tiny model, on the
shared GSM8K and MATH-500 files and the trace-set fixtures of tests/fixtures/study/, as the same Hydra multirun the
real study is (`+study=smoke_reasoning_distillation`, which inherits the real recipe and shrinks its sizes).

It builds the tiny start model once (an untrained ~0.2M-parameter Qwen3 with a byte-level BPE trained on the smoke
texts; the toy base is pretrained on the toy world only, so real data needs a start model given by path), runs the
multirun, then checks `<output_root>/smoke_study/multirun/results.json`: every row of the study (base and the five
conditions) present with `n_eval > 0` on GSM8K items. Exit 0 when it holds, 1 (naming what is missing) otherwise.

    python -m launch.smoke_study [extra overrides ...]      # e.g. output_root=/tmp/smoke
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("base", "answer_only_sft", "trace_sft", "redistill", "grpo", "sft_grpo")  # the study's sweep table rows
FIXTURES = ROOT / "tests" / "fixtures" / "study"
# The start model: Qwen3 architecture (transformers.Qwen3Config fields), small enough for 2 cores.
ARCH = {
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 4096,  # real problems (MATH-500) are longer than toy ones
    "rope_theta": 10000.0,
}
VOCAB_SIZE = 512


def corpus() -> list[str]:
    """The texts the start model's tokenizer is trained on: every fixture row's text fields."""
    texts = []
    for path in sorted(FIXTURES.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts += [str(v) for v in row.values() if isinstance(v, str)]
    return texts


def start_model(out: Path) -> Path:
    """The tiny start model under `out` (built once; an existing one is reused)."""
    if (out / "config.json").exists():
        return out
    from sft.tiny_model import build_tiny_model, build_tokenizer

    tmp = out.with_name(out.name + ".tmp")
    tokenizer = build_tokenizer(corpus(), VOCAB_SIZE, tmp)
    build_tiny_model(tokenizer, ARCH, tmp, seed=0)
    tmp.rename(out)
    return out


def check(results_path: Path, rows: tuple[str, ...] = ROWS) -> list[str]:
    """What the smoke table lacks: a missing row, or a row without GSM8K items evaluated (empty: all there)."""
    if not results_path.exists():
        return [f"{results_path} was not written"]
    results: dict[str, Any] = json.loads(results_path.read_text())
    problems = []
    for row in rows:
        entry = results["conditions"].get(row)
        gsm8k = ((entry or {}).get("benchmarks") or {}).get("gsm8k") or {}
        if entry is None:
            problems.append(f"row {row!r} missing")
        elif not gsm8k.get("n_eval"):
            problems.append(f"row {row!r} has no GSM8K items evaluated ({gsm8k})")
    problems += [f"missing run: {m}" for m in results.get("missing") or []]
    return problems


def output_root(overrides: list[str]) -> Path:
    found = [o.split("=", 1)[1] for o in overrides if o.startswith("output_root=")]
    return Path(found[-1] if found else "outputs")


def main(argv: list[str]) -> int:
    started = time.time()
    root = output_root(argv)
    model = start_model((root / "smoke_study" / "start_model").resolve())
    command = [
        sys.executable,
        "-m",
        "launch.pipeline",
        "-m",
        "+study=smoke_reasoning_distillation",
        f"model.name_or_path={model}",
        *argv,
    ]
    print("smoke-study:", " ".join(command[2:]), flush=True)
    code = subprocess.call(command, cwd=ROOT)
    results = root / "smoke_study" / "multirun" / "results.json"
    if not results.is_absolute():
        results = ROOT / results
    problems = check(results) if code == 0 else [f"the multirun exited {code}"]
    wall = time.time() - started
    if problems:
        print(f"smoke-study FAILED after {wall:.0f} s: " + "; ".join(problems), file=sys.stderr)
        return 1
    table = json.loads(results.read_text())["conditions"]
    for row in ROWS:
        gsm8k = table[row]["benchmarks"]["gsm8k"]
        print(f"  {row:16s} gsm8k {100 * gsm8k['accuracy_mean']:5.1f}% (n_eval {gsm8k['n_eval']})")
    print(f"smoke-study OK: {len(ROWS)} rows in {results} ({wall:.0f} s wall)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
