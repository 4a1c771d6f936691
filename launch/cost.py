"""Cost accounting of one run: wall seconds per stage, GPU-hours and an estimated price.

A run is charged the build time of every stage it used after its start model (teacher traces, SFT, KD, GRPO,
re-distillation, eval), including stages it found already built by another condition of the same seed, so that
each row prices its recipe as if run alone. The start model (toy base or hub checkpoint) is not charged.
GPU-hours = wall hours x GPUs held (`cost.gpus`, or every visible CUDA device; 0 on a CPU machine);
price = GPU-hours x `cost.price_per_gpu_hour`. The teachers' API cost (tokens x each teacher's configured price per
million tokens, `price_per_million_input` / `_output` in conf/teacher/*.yaml, summed by the teacher stage's
accounting, sft/teachers/accounting.py) is added to it: `total_usd = price_usd + teacher_usd`, with both parts
beside it (`teacher_usd` is 0 for a run without a priced teacher).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHARGED_STAGES = ("teacher", "sft", "kd", "sft_more", "rl", "redistill", "eval")


def visible_gpus() -> int:
    """CUDA devices this process can use (0 without CUDA)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0


def teacher_usd(accounting: Mapping[str, Any] | None) -> float:
    """The teachers' API cost of a run: the priced total of its teacher accounting (0 when nothing is priced)."""
    total = ((accounting or {}).get("total") or {}).get("price_usd")
    return float(total or 0.0)


def run_cost(
    stage_seconds: Mapping[str, float],
    cost_cfg: Mapping[str, Any],
    threads: int = 1,
    teacher_accounting: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`{wall_seconds, gpus, gpu_hours, price_usd, cpu_core_hours, teacher_usd, total_usd}` of the charged stages
    in `stage_seconds`; `price_usd` is the GPU part, `teacher_usd` the teachers' API part (`teacher_accounting`:
    the teacher stage's `accounting`), `total_usd` their sum."""
    wall = float(sum(float(s or 0.0) for name, s in stage_seconds.items() if name.split(":")[0] in CHARGED_STAGES))
    gpus = int(cost_cfg.get("gpus") if cost_cfg.get("gpus") is not None else visible_gpus())
    price_per_hour = float(cost_cfg.get("price_per_gpu_hour") or 0.0)
    gpu_hours = wall / 3600.0 * gpus
    api = teacher_usd(teacher_accounting)
    return {
        "wall_seconds": wall,
        "gpus": gpus,
        "gpu_hours": gpu_hours,
        "price_usd": gpu_hours * price_per_hour,
        "cpu_core_hours": 0.0 if gpus else wall / 3600.0 * threads,
        "teacher_usd": api,
        "total_usd": gpu_hours * price_per_hour + api,
    }
