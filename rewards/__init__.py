"""Is this answer right, is this completion well formed.

Public API::

    extract_final_answer(text, strict=False)       # marked answer (last \\boxed{} outside <think>, ...),
                                                   # else (not strict) a bare answer or the last expression
    parse_gold(gold) -> str | None                 # GSM8K '#### N', MATH \\boxed{}, bare
    verify(completion, gold, strict=False) -> bool # bounded, thread-safe; sets/lists, choices, text
    verify_answer(pred_answer, gold_answer) -> bool
    verify_detailed(completion, gold) -> VerifyResult(correct, reason, fast_path, ...)
    verify_batch(completions, golds) -> list[VerifyResult]   # symbolic cases in parallel
    warmup(full=False)                             # start the bounded math-verify workers early
    STATS.snapshot_and_reset() -> dict[str, float]
    correctness_reward, format_reward, ...         # TRL reward functions
    arithmetic_reward                              # share of a trace's written equations that hold (rewards.arithmetic)
    build_reward_funcs(spec) -> (funcs, weights)   # from conf/reward/*.yaml

This package imports nothing from the rest of the project.
"""

from .arithmetic import arithmetic_reward
from .extract import extract_final_answer, parse_gold
from .metrics import STATS, VerifyStats
from .registry import REWARDS, build_reward_funcs
from .symbolic import shutdown, warmup
from .trl_rewards import correctness_reward, format_reward, length_penalty, tag_count_reward
from .verify import (
    DEFAULT_TIMEOUT_S,
    REASONS,
    VerifyResult,
    configure,
    verify,
    verify_answer,
    verify_answer_detailed,
    verify_batch,
    verify_detailed,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "REASONS",
    "REWARDS",
    "STATS",
    "arithmetic_reward",
    "VerifyResult",
    "VerifyStats",
    "build_reward_funcs",
    "configure",
    "correctness_reward",
    "extract_final_answer",
    "format_reward",
    "length_penalty",
    "parse_gold",
    "shutdown",
    "tag_count_reward",
    "verify",
    "verify_answer",
    "verify_answer_detailed",
    "verify_batch",
    "verify_detailed",
    "warmup",
]
