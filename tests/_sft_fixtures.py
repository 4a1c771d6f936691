"""Shared test helper: a tiny tokenizer + Qwen3 model on disk and toy SFT rows, built in seconds on CPU.

API (import from tests that need a trainable model):

* `toy_problems(n)`                -> n toy-world training problems (GSM8K record layout).
* `make_sft_rows(n)`               -> n rows in TRL's conversational prompt-completion format
                                      (`{"prompt": [...], "completion": [...]}`), program-teacher traces.
* `make_tiny_model(tmp_dir, ...)`  -> path of a directory with a freshly initialised tiny Qwen3 model and its
                                      tokenizer (loadable by `AutoModelForCausalLM` / `AutoTokenizer`).
* `TINY_ARCH`, `TINY_VOCAB`        -> the (deliberately smaller than conf/model/tiny.yaml) sizes used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Smaller than conf/model/tiny.yaml so that a few training steps take well under a second.
TINY_ARCH: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 512,
    "rope_theta": 10000.0,
}
TINY_VOCAB = 300


def toy_problems(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """The first `n` training problems of a small toy world (deterministic in `seed`)."""
    from data.toy_world import ToyWorld
    from tests._presets import toy_world_config

    return ToyWorld(toy_world_config(n_train=n, n_test=4, seed=seed)).problems("train")


def make_sft_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` SFT rows (prompt = the question, completion = a program-teacher trace), TRL prompt-completion format."""
    from data.records import completion_messages, prompt_messages
    from sft.teachers.program import write_trace

    return [
        {"prompt": prompt_messages(p["question"]), "completion": completion_messages(write_trace(p, i % 4)[0])}
        for i, p in enumerate(toy_problems(n, seed))
    ]


def make_tiny_model(
    tmp_dir: str | Path,
    arch: dict[str, Any] | None = None,
    vocab_size: int = TINY_VOCAB,
    n_corpus_problems: int = 64,
    seed: int = 0,
) -> str:
    """Train a tokenizer on a few toy problems and save a fresh tiny Qwen3 beside it in `tmp_dir`; return the path."""
    from data.records import answer_only_completion
    from sft.teachers.program import write_trace
    from sft.tiny_model import build_tiny_model, build_tokenizer

    out = Path(tmp_dir)
    out.mkdir(parents=True, exist_ok=True)
    problems = toy_problems(n_corpus_problems, seed)
    corpus = [p["question"] for p in problems]
    corpus += [write_trace(p, path)[0] for p in problems for path in range(4)]
    corpus += [answer_only_completion(p["final_answer"]) for p in problems]
    tokenizer = build_tokenizer(corpus, vocab_size, out)
    build_tiny_model(tokenizer, dict(arch or TINY_ARCH), out, seed=seed)
    return str(out)
