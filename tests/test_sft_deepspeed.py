"""DeepSpeed ZeRO-2 / ZeRO-3 SFT through our `train_sft`, two CPU processes (gloo) under torchrun.

Each run is a subprocess (`python -m torch.distributed.run --standalone --nproc_per_node 2 -m launch.ds_sft_entry`):
a DeepSpeed Trainer leaves `ACCELERATE_USE_DEEPSPEED` set in its process, so it must never run inside pytest.
CUDA is hidden from the children so the test is the same CPU/gloo run on a GPU machine. The first DeepSpeed start
on a machine JIT-builds its shared-memory comm op (~40-70 s on two cores; cached in ~/.cache/torch_extensions).
No explicit `deepspeed.init_distributed("gloo")` is needed here: `train_sft` loads the model before the SFTConfig
exists (no `zero.Init`), and accelerate starts the gloo process group for a multi-CPU run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._sft_fixtures import make_sft_rows

REPO = Path(__file__).resolve().parents[1]
STEPS = 3
TIMEOUT_S = 600


def _torchrun(model_dir: str, rows: Path, out: Path, stage: str, sft: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}
    env.update(
        CUDA_VISIBLE_DEVICES="",
        DS_ACCELERATOR="cpu",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "launch.ds_sft_entry",
        "--model",
        model_dir,
        "--rows",
        str(rows),
        "--out",
        str(out),
        "--deepspeed",
        stage,
        "--sft",
        sft,
        "--max-steps",
        str(STEPS),
        "sft.per_device_train_batch_size=2",
        "sft.logging_steps=1",
        f"sft.save_steps={STEPS}",
        "sft.max_length=256",
    ]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.mark.slow
@pytest.mark.parametrize("stage,sft", [("zero2", "full"), ("zero3", "full"), ("zero3", "lora")])
def test_deepspeed_sft_two_cpu_processes(tiny_model_dir: str, tmp_path: Path, stage: str, sft: str) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in make_sft_rows(16)), encoding="utf-8")
    out = tmp_path / "run"
    proc = _torchrun(tiny_model_dir, rows, out, stage, sft)
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-6000:]}"

    summaries = [json.loads((out / f"summary_rank{r}.json").read_text()) for r in (0, 1)]
    for rank, summary in enumerate(summaries):
        assert summary["rank"] == rank and summary["world_size"] == 2
        assert summary["steps"] == STEPS
        assert math.isfinite(summary["final_loss"]) and math.isfinite(summary["train_loss"])
    assert summaries[0]["final_loss"] == summaries[1]["final_loss"]  # logged loss is the mean over both ranks

    # DeepSpeed really ran and sharded: one ZeRO optimizer-state file per rank in the checkpoint.
    ds_dir = out / "checkpoints" / f"checkpoint-{STEPS}" / f"global_step{STEPS}"
    assert sorted(p.name for p in ds_dir.glob("*optim_states.pt")) == [
        "zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "zero_pp_rank_1_mp_rank_00_optim_states.pt",
    ]

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = summaries[0]["model_path"]
    model = AutoModelForCausalLM.from_pretrained(final)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    weights, base_weights = model.state_dict(), base.state_dict()
    assert all(weights[k].shape == base_weights[k].shape for k in base_weights)  # full weights, not ZeRO-3 shards
    assert any(not torch.equal(weights[k], base_weights[k]) for k in base_weights)  # training changed them
    tokenizer = AutoTokenizer.from_pretrained(final)
    with torch.no_grad():
        logits = model(**tokenizer(["Ann has 3 apples."], return_tensors="pt")).logits
    assert torch.isfinite(logits).all()
    if sft == "lora":
        assert (out / "adapter" / "adapter_config.json").exists()
