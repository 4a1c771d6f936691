"""Name -> reward factory, and building TRL's ``reward_funcs`` + ``reward_weights``
from a ``conf/reward/*.yaml`` spec.

A spec is a list of ``{name, weight, **kwargs}`` mappings, or a mapping holding
that list under ``funcs`` (and optionally ``verify_timeout_s``).  OmegaConf
``DictConfig``/``ListConfig`` work as they are (duck-typed; no omegaconf import).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .arithmetic import make_arithmetic_reward
from .trl_rewards import make_correctness_reward, make_format_reward, make_length_penalty, make_tag_count_reward

__all__ = ["REWARDS", "build_reward_funcs"]

REWARDS: dict[str, Callable[..., Callable]] = {
    "correctness": make_correctness_reward,
    "format": make_format_reward,
    "tag_count": make_tag_count_reward,
    "length_penalty": make_length_penalty,
    "arithmetic": make_arithmetic_reward,
}


def build_reward_funcs(
    spec: Sequence[Mapping[str, Any]] | Mapping[str, Any], verify_timeout_s: float | None = None
) -> tuple[list[Callable], list[float]]:
    """``(funcs, weights)`` for ``GRPOTrainer(reward_funcs=funcs)`` and
    ``GRPOConfig(reward_weights=weights)``.  Unknown names raise ValueError."""
    if isinstance(spec, Mapping):
        if verify_timeout_s is None:
            verify_timeout_s = spec.get("verify_timeout_s")
        items = spec.get("funcs")
        if items is None:
            raise ValueError("reward spec mapping needs a 'funcs' list")
    else:
        items = spec
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise ValueError(f"reward spec must be a list of {{name, weight, ...}}, got {type(items).__name__}")
    funcs: list[Callable] = []
    weights: list[float] = []
    for item in items:
        if not isinstance(item, Mapping) or "name" not in item:
            raise ValueError(f"each reward entry needs a 'name', got {item!r}")
        kwargs = {str(k): v for k, v in item.items()}
        name = str(kwargs.pop("name"))
        weight = float(kwargs.pop("weight", 1.0))
        if name not in REWARDS:
            raise ValueError(f"unknown reward {name!r}; valid names: {sorted(REWARDS)}")
        if name == "correctness" and verify_timeout_s is not None:
            kwargs.setdefault("timeout_s", float(verify_timeout_s))
        try:
            funcs.append(REWARDS[name](**kwargs))
        except TypeError as e:  # a misspelt knob in the YAML
            raise ValueError(f"reward {name!r}: bad arguments {sorted(kwargs)}: {e}") from e
        weights.append(weight)
    if not funcs:
        raise ValueError("reward spec lists no reward functions")
    return funcs, weights
