"""Loading models and tokenizers from a local path or a hub id, with a one-line error when neither is reachable.

Every stage (SFT, GRPO, eval, teachers) loads through here, so the tiny local model and Qwen3-1.7B take
the same code path: `AutoTokenizer` / `AutoModelForCausalLM.from_pretrained(name_or_path)`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


class ModelNotAvailableError(RuntimeError):
    """A model that is neither a local directory nor in the local hub cache while the hub is unreachable."""


def _is_local(name_or_path: str) -> bool:
    return Path(name_or_path).expanduser().is_dir()


def load_tokenizer(name_or_path: str, padding_side: str = "left") -> Any:
    """`AutoTokenizer.from_pretrained`, with a pad token ensured and a clear error for an unreachable model."""
    from transformers import AutoTokenizer

    local = Path(name_or_path).expanduser()
    if local.is_dir() and not any((local / f).exists() for f in _TOKENIZER_FILES):
        raise ModelNotAvailableError(
            f"model directory {name_or_path!r} is incomplete or unreadable: no tokenizer files (one of {list(_TOKENIZER_FILES)})"  # noqa: E501
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        raise _unavailable(name_or_path, error) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def load_model(name_or_path: str, dtype: str = "float32", attn_implementation: str | None = None, **kwargs: Any) -> Any:
    """`AutoModelForCausalLM.from_pretrained` with dtype by name and `attn_implementation` (None: transformers'
    default); flash-attention falls back to SDPA (`resolve_attn_implementation`)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}
    if dtype not in torch_dtype:
        raise ValueError(f"unknown dtype {dtype!r}; valid: {sorted(torch_dtype)}")
    attn_implementation = resolve_attn_implementation(attn_implementation)
    try:
        return AutoModelForCausalLM.from_pretrained(
            name_or_path, dtype=torch_dtype[dtype], attn_implementation=attn_implementation, **kwargs
        )
    except (OSError, ValueError) as error:
        raise _unavailable(name_or_path, error) from None


_WARNED_FLASH = False


def flash_attn_available() -> bool:
    try:
        import flash_attn  # noqa: F401  (GPU-only, imported where needed)
    except ImportError:
        return False
    return True


def resolve_attn_implementation(requested: str | None) -> str | None:
    """`requested`, except `flash_attention_2` without an importable flash-attn: `sdpa`, said once per process in
    one log line."""
    global _WARNED_FLASH
    if requested != "flash_attention_2" or flash_attn_available():
        return requested
    if not _WARNED_FLASH:
        log.warning("attn_implementation=flash_attention_2 requested but flash-attn is not installed: using sdpa")
        _WARNED_FLASH = True
    return "sdpa"


def _unavailable(name_or_path: str, error: Exception) -> Exception:
    if _is_local(name_or_path):
        return ModelNotAvailableError(
            f"model directory {name_or_path!r} is incomplete or unreadable: {str(error).splitlines()[0]}"
        )
    return ModelNotAvailableError(
        f"model {name_or_path!r} is not in the local cache and the hub cannot be reached "
        f"(download it once with network access, or point model.name_or_path at a local directory)"
    )
