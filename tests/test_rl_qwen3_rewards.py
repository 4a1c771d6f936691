"""Qwen3 specifics and reward wiring through TRL's real GRPO scoring path: the dataset `answer` column reaches the
reward row by row, completions are cut at the aligned end-of-turn eos, `<think>` tags survive decoding, and the
format reward sees real decoded completions (a generate() stub returns chosen token ids)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rl.chat_alignment import ChatAlignmentError, adapt_reward_spec, align_eos, check_think_tags, prompt_opens_think

REWARD_SPEC = {
    "verify_timeout_s": 0.5,
    "funcs": [
        {"name": "correctness", "weight": 1.0, "answer_key": "answer"},
        {"name": "format", "weight": 0.2, "allow_missing_open_tag": False, "max_tail_chars": 300, "min_think_chars": 1},
    ],
}


def _base_like_copy(src: str, dst: Path) -> str:
    """The tiny model saved as a Qwen3 *base* checkpoint is: tokenizer eos <|endoftext|>, generation eos the same."""
    shutil.copytree(src, dst)
    tok_cfg = json.loads((dst / "tokenizer_config.json").read_text())
    tok_cfg["eos_token"] = "<|endoftext|>"
    (dst / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    gen = json.loads((dst / "generation_config.json").read_text())
    gen["eos_token_id"] = 0
    (dst / "generation_config.json").write_text(json.dumps(gen))
    return str(dst)


def test_align_eos_makes_end_of_turn_the_eos(tiny_model_dir, tmp_path):
    from data.hub import load_model, load_tokenizer

    path = _base_like_copy(tiny_model_dir, tmp_path / "base_like")
    tok, model = load_tokenizer(path), load_model(path)
    assert tok.eos_token == "<|endoftext|>"
    ids = align_eos(model, tok)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.eos_token == "<|im_end|>" and ids == [im_end, 0] and model.generation_config.eos_token_id == [im_end, 0]


def test_think_tags_survive_decoding_and_special_ones_are_refused(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    check_think_tags(tok)  # normal added tokens in the tiny tokenizer (and in Qwen3's)
    tok.add_special_tokens({"additional_special_tokens": ["<think>", "</think>"]})
    with pytest.raises(ChatAlignmentError, match="drops the think tags"):
        check_think_tags(tok)


def test_prompt_opening_think_relaxes_the_format_reward(tiny_model_dir):
    from transformers import AutoTokenizer

    from rewards import build_reward_funcs

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert prompt_opens_think(tok, {"enable_thinking": True}) is False
    tok.chat_template = tok.chat_template.replace(
        "'<|im_start|>assistant\\n' }}{%- endif %}", "'<|im_start|>assistant\\n<think>\\n' }}{%- endif %}"
    )
    assert prompt_opens_think(tok) is True
    spec = adapt_reward_spec(REWARD_SPEC, opens_think=True)
    assert (
        spec["funcs"][1]["allow_missing_open_tag"] is True
        and REWARD_SPEC["funcs"][1]["allow_missing_open_tag"] is False
    )
    (_, fmt), _ = build_reward_funcs(spec)
    ids = tok("3+4=7\n</think>\n\\boxed{7}<|im_end|>", add_special_tokens=False)["input_ids"]
    text = tok.decode(ids, skip_special_tokens=True)
    assert fmt([[{"role": "assistant", "content": text}]]) == [1.0]


@pytest.fixture
def scoring_trainer(tiny_model_dir, tmp_path):
    """A GRPOTrainer built by rl.train.build_trainer on a base-like tiny model (eos <|endoftext|> on disk)."""
    from omegaconf import OmegaConf

    from data.records import prompt_messages
    from launch.config_check import compose
    from rl.train import build_trainer

    cfg = OmegaConf.to_container(
        compose(
            [
                "rl.num_generations=2",
                "rl.per_device_train_batch_size=4",
                "rl.max_completion_length=48",
                "rl.log_rollouts=false",
            ]
        ).rl,
        resolve=True,
    )
    rows = [
        {"prompt": prompt_messages("Ann has 3 apples and gets 4 more. How many?"), "answer": "7", "id": "a"},
        {"prompt": prompt_messages("Bob has 4 pears and gets 5 more. How many?"), "answer": "9", "id": "b"},
    ]
    path = _base_like_copy(tiny_model_dir, tmp_path / "base_like")
    trainer, info = build_trainer(path, rows, tmp_path / "rl", cfg, REWARD_SPEC, use_cpu=True)
    return trainer, info, rows


def test_answer_column_and_eos_reach_the_rewards(scoring_trainer, monkeypatch):
    import torch

    trainer, info, rows = scoring_trainer
    tok = trainer.processing_class
    assert tok.eos_token == "<|im_end|>" and info["eos_token_ids"][0] == tok.convert_tokens_to_ids("<|im_end|>")
    texts = [
        "<think>\n3+4=7\n</think>\n\\boxed{7}<|im_end|>\\boxed{8} junk",  # a: right
        "<think>\n3+4=8\n</think>\n\\boxed{8}<|im_end|>",  # a: wrong
        "<think>\n3+4=7\n</think>\n\\boxed{7}<|im_end|>",  # b: wrong (gold 9)
        "<think>\n4+5=9, so Bob has 9 pears in all, four and five make nine\n</think>\n\\boxed{9}",  # b: right, cut off
    ]
    pad = tok.pad_token_id
    completion_ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(map(len, completion_ids))
    assert len(completion_ids[3]) == width  # as in real generate(): an unfinished row is the longest, unpadded
    fake = torch.tensor([ids + [pad] * (width - len(ids)) for ids in completion_ids])

    def generate(input_ids=None, **kwargs):
        assert input_ids.shape[0] == 4
        return torch.cat([input_ids, fake], dim=1)

    monkeypatch.setattr(trainer.model, "generate", generate)
    trainer.model.train()
    inputs = [rows[0], rows[0], rows[1], rows[1]]  # the RepeatSampler's layout: each prompt num_generations times
    out = trainer._generate_and_score_completions(inputs)
    assert list(trainer._logs["rewards"]["correctness_reward"]) == [1.0, 0.0, 0.0, 1.0]
    assert list(trainer._logs["rewards"]["format_reward"]) == [1.0, 1.0, 1.0, 1.0]
    first = trainer._logs["completion"][0]
    content = first[0]["content"] if isinstance(first, list) else first
    assert content.startswith("<think>") and content.endswith("\\boxed{7}") and "junk" not in content
    # the completion mask stops at (and includes) the eos; the eos-less one counts as truncated
    assert out["completion_mask"].sum(dim=1).tolist()[:3] == [
        len(completion_ids[0][: completion_ids[0].index(tok.eos_token_id) + 1]),
        len(completion_ids[1]),
        len(completion_ids[2]),
    ]
    metrics = trainer._metrics["train"]
    assert metrics["completions/clipped_ratio"][-1] == 0.25
    logged = {
        **{k: v[-1] for k, v in metrics.items() if v},
        **{k: v[-1] for k, v in trainer._pending_metrics.items() if v},
    }
    assert logged["signals/correctness_reward/zero_std_frac"] == 0.0  # both groups have one right, one wrong
    assert logged["signals/format_reward/zero_std_frac"] == 1.0 and logged["signals/reward/zero_std_frac"] == 0.0


def test_response_parser_is_set_aside_for_training(tiny_model_dir):
    from transformers import AutoTokenizer

    from rl.chat_alignment import keep_raw_completions

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert keep_raw_completions(tok) is None
    tok.response_template = {"type": "object"}  # a transformers>=5 parser would split <think> out of `content`
    assert keep_raw_completions(tok) == {"type": "object"} and tok.response_template is None
