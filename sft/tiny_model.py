"""The tiny student: a Qwen3-architecture model a few million parameters small, and its local tokenizer.

The tokenizer is a byte-level BPE trained with `tokenizers` on toy-world text, with digits split one per
token, `<think>`/`</think>` as normal (not special) added tokens so that decoding with
`skip_special_tokens=True` keeps them, and a Qwen-style chat template carrying `{% generation %}` markers.
Both are written with `save_pretrained`, so every stage loads them with `AutoTokenizer` /
`AutoModelForCausalLM` from a path, exactly as it loads a hub model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK_TOKENS = ["<think>", "</think>"]

# Qwen-style ChatML. `{% generation %}` marks what the assistant wrote, for TRL's assistant-only loss.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"  # noqa: E501
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def toy_tokenizer_corpus(problems: list[dict[str, Any]], world: Any) -> list[str]:
    """The tiny tokenizer's training text: toy questions, their traces on every solution path, answer-only
    targets and arithmetic facts (`world` is a `data.toy_world.ToyWorld`)."""
    from data.records import answer_only_completion
    from sft.teachers.program import write_trace

    corpus = [p["question"] for p in problems]
    corpus += [write_trace(p, path)[0] for p in problems for path in range(4)]
    corpus += [answer_only_completion(p["final_answer"]) for p in problems]
    return corpus + world.arithmetic_facts(5000, seed=1)


def build_tokenizer(corpus: Iterable[str], vocab_size: int, out_dir: str | Path) -> Any:
    """Train the digit-split byte-level BPE on `corpus`, wrap it for transformers, save it to `out_dir`."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
    )
    wrapped.save_pretrained(str(out_dir))
    return wrapped


def build_tiny_model(tokenizer: Any, arch: dict[str, Any], out_dir: str | Path, seed: int = 0) -> Any:
    """A freshly initialised Qwen3 model sized by `arch` (conf/model/tiny.yaml), saved to `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
        **arch,
    )
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(out_dir))
    return model
