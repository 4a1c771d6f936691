"""Turn the `generation:` block of conf/rl into GRPOConfig keyword arguments, refusing early and clearly when
the vLLM backend cannot run here (no CUDA, vllm not installed or outside TRL's supported range, no server).

vllm itself is never imported here: its presence and version are checked by sft.vllm_check (shared with the
vllm teacher), so this module is safe on CPU.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

from sft.vllm_check import VLLM_SUPPORTED, GenerationBackendError, check_vllm_installed

BACKENDS = ("hf", "vllm")
VLLM_MODES = ("colocate", "server")
VLLM_MISSING = (
    "rl.generation.backend=vllm but the 'vllm' package is not installed on this machine "
    f"(TRL 1.16 supports vllm {VLLM_SUPPORTED[0]}-{VLLM_SUPPORTED[1]}; it needs a CUDA GPU). "
    "Install it on a GPU machine, or use the HF backend: rl=grpo (rl.generation.backend=hf)"
)


def check_server(host: str, port: int, wait_s: float = 0.0) -> None:
    """GenerationBackendError unless something listens on host:port (the `trl vllm-serve` process) within `wait_s`."""
    deadline = time.monotonic() + max(0.0, float(wait_s))
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=2.0):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise GenerationBackendError(
                    f"rl.generation.vllm_mode=server but nothing answers at {host}:{port} after {wait_s:.0f} s "
                    f"({error}). Start the server first: bash launch/vllm_serve.sh <model_path> <gpu> {port}"
                ) from None
            time.sleep(2.0)


def generation_kwargs(
    gen: Mapping[str, Any],
    *,
    use_cpu: bool,
    cuda_available: bool | None = None,
    max_model_length: int | None = None,
    check_server_up: bool = True,
) -> dict[str, Any]:
    """GRPOConfig kwargs for a conf/rl `generation:` block (validated); `{"use_vllm": False}` for the HF backend."""
    backend = gen["backend"]
    if backend not in BACKENDS:
        raise ValueError(f"unknown rl.generation.backend {backend!r}; valid: {list(BACKENDS)}")
    if backend == "hf":
        return {"use_vllm": False}
    mode = gen["vllm_mode"]
    if mode not in VLLM_MODES:
        raise ValueError(f"unknown rl.generation.vllm_mode {mode!r}; valid: {list(VLLM_MODES)}")
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if use_cpu or not cuda_available:
        raise GenerationBackendError(
            "rl.generation.backend=vllm needs a CUDA GPU and this run is on CPU "
            "(vLLM's PyPI wheel cannot run on CPU). Use the HF backend here: rl=grpo (rl.generation.backend=hf)"
        )
    check_vllm_installed(VLLM_MISSING)
    kwargs: dict[str, Any] = {
        "use_vllm": True,
        "vllm_mode": mode,
        "vllm_importance_sampling_correction": bool(gen["vllm_importance_sampling_correction"]),
    }
    if mode == "colocate":
        kwargs.update(
            vllm_gpu_memory_utilization=float(gen["vllm_gpu_memory_utilization"]),
            vllm_enable_sleep_mode=bool(gen["vllm_enable_sleep_mode"]),
            vllm_tensor_parallel_size=int(gen["vllm_tensor_parallel_size"]),
            vllm_max_model_length=gen["vllm_max_model_length"] or max_model_length,
        )
    else:
        host, port = str(gen["vllm_server_host"]), int(gen["vllm_server_port"])
        timeout = float(gen["vllm_server_timeout"])
        if check_server_up:  # a server still loading its model gets the same grace period TRL gives it
            check_server(host, port, wait_s=timeout)
        kwargs.update(vllm_server_host=host, vllm_server_port=port, vllm_server_timeout=timeout)
    return kwargs
