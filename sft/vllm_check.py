"""Can vLLM run here? The check shared by the vllm teacher (sft.teachers.vllm_offline) and GRPO's vLLM
generation backend (rl.vllm_guard): installed, and in the version range TRL 1.16 supports.

vllm itself is never imported here: only its presence and version are checked, so this module is safe on CPU.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata

# TRL 1.16 supports these vLLM versions (trl.import_utils.is_vllm_available).
VLLM_SUPPORTED = ("0.22.0", "0.31.0")


class GenerationBackendError(RuntimeError):
    """The configured generation backend cannot run on this machine; the message says why and what to use."""


def version_tuple(version: str) -> tuple[int, ...]:
    """`(major, minor, patch)` of a version string, ignoring a local part and non-digits (`0.30.1rc1+cu12`)."""
    parts = []
    for piece in version.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_vllm_installed(missing: str) -> str:
    """The installed vllm version; GenerationBackendError(`missing`, the caller's own advice) when vllm is not
    installed, or one naming the supported range when the installed version is outside it."""
    if importlib.util.find_spec("vllm") is None:
        raise GenerationBackendError(missing)
    version = metadata.version("vllm")
    low, high = (version_tuple(v) for v in VLLM_SUPPORTED)
    if not low <= version_tuple(version) <= high:
        raise GenerationBackendError(
            f"vllm {version} is installed but TRL 1.16 supports vllm {VLLM_SUPPORTED[0]}-{VLLM_SUPPORTED[1]}"
        )
    return version
