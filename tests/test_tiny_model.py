"""The tiny student: its digit-split tokenizer and ChatML template, save/load by path, and the hub loader's errors."""

from __future__ import annotations

import json

import pytest

from data.hub import ModelNotAvailableError, load_model, load_tokenizer
from data.records import answer_only_completion, completion_messages, prompt_messages
from sft.teachers.program import write_trace
from sft.tiny_model import THINK_TOKENS, build_tiny_model
from tests._sft_fixtures import TINY_ARCH


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="module")
def texts(small_world):
    _, train, test = small_world
    out = [p["question"] for p in test[:20]]
    out += [write_trace(p, path)[0] for p in test[:10] for path in range(4)]
    out += [write_trace(p, 1, slip_step=0, slip=-10)[0] for p in test[:5]]  # may contain negative numbers
    out += [answer_only_completion(p["final_answer"]) for p in test[:5]]
    out += ["Zoë's 12345 items cost $9,876.50 — déjà vu!\n\ttabs  and  spaces", "<think>\n</think>\n\\boxed{}"]
    return out


def test_round_trip(tok, texts):
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text
        assert tok.decode(ids, skip_special_tokens=True) == text  # no special tokens in plain text


def test_digits_are_single_tokens(tok, texts):
    for text in texts:
        for token in tok.convert_ids_to_tokens(tok.encode(text, add_special_tokens=False)):
            if any(ch.isdigit() for ch in token):
                assert len(token) == 1, f"multi-character token with a digit: {token!r} in {text!r}"
    tokens = tok.convert_ids_to_tokens(tok.encode("120 + 305 = 425", add_special_tokens=False))
    assert [t for t in tokens if t.isdigit()] == list("120305425")


def test_think_tags_are_single_non_special_tokens(tok):
    for tag in THINK_TOKENS:
        ids = tok.encode(tag, add_special_tokens=False)
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids) == [tag]
        assert ids[0] not in tok.all_special_ids
    trace = "<think>\n2 + 3 = 5\n</think>\n\\boxed{5}"
    ids = tok.encode(trace + "<|im_end|>", add_special_tokens=False)
    assert ids[0] == tok.convert_tokens_to_ids("<think>")
    assert ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == trace  # <think> kept, <|im_end|> dropped
    # tags glued to text still split out as the single tag token
    glued = tok.convert_ids_to_tokens(tok.encode("x<think>y</think>z", add_special_tokens=False))
    assert "<think>" in glued and "</think>" in glued


def test_special_tokens(tok):
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.eos_token_id != tok.pad_token_id
    assert tok.padding_side == "left"
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert len(tok.encode(special, add_special_tokens=False)) == 1
    assert tok.encode("hi", add_special_tokens=True) == tok.encode("hi", add_special_tokens=False)  # no BOS


def test_chat_template_renders_chatml(tok):
    messages = prompt_messages("Ann has 3 pens.") + completion_messages("<think>\n3\n</think>\n\\boxed{3}")
    text = tok.apply_chat_template(messages, tokenize=False)
    assert text == (
        "<|im_start|>user\nAnn has 3 pens.\nPut the final answer in \\boxed{}.<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n3\n</think>\n\\boxed{3}<|im_end|>\n"
    )
    prompt = tok.apply_chat_template(prompt_messages("Q?"), tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nQ?\nPut the final answer in \\boxed{}.<|im_end|>\n<|im_start|>assistant\n"
    system = tok.apply_chat_template([{"role": "system", "content": "S"}] + messages, tokenize=False)
    assert system.startswith("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n")


def test_assistant_tokens_mask_marks_exactly_the_assistant_turns(tok, small_world):
    _, _, test = small_world
    trace = write_trace(test[0], 0)[0]
    messages = (
        prompt_messages(test[0]["question"])
        + completion_messages(trace)
        + prompt_messages("And now?")
        + completion_messages("\\boxed{7}")
    )
    out = tok.apply_chat_template(messages, return_assistant_tokens_mask=True, return_dict=True)
    ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
    assert len(ids) == len(mask) and set(mask) == {0, 1}
    # the marked tokens are two contiguous runs: each assistant message and its end-of-turn token
    runs, start = [], None
    for i, m in enumerate(mask + [0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    assert [tok.decode(ids[a:b]) for a, b in runs] == [trace + "<|im_end|>", "\\boxed{7}<|im_end|>"]
    unmarked = tok.decode([t for t, m in zip(ids, mask) if not m])
    assert "<think>" not in unmarked and "assistant\n" in unmarked and "And now?" in unmarked
    assert tok.decode(ids) == tok.apply_chat_template(messages, tokenize=False)


def test_saved_tokenizer_loads_with_auto_tokenizer(tiny_model_dir, tok, texts):
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert len(auto) == len(tok) and auto.get_vocab() == tok.get_vocab()
    assert auto.chat_template == tok.chat_template and "{% generation %}" in auto.chat_template
    assert (auto.eos_token, auto.pad_token) == ("<|im_end|>", "<|endoftext|>")
    for text in texts[:10]:
        assert auto.encode(text, add_special_tokens=False) == tok.encode(text, add_special_tokens=False)
    for tag in THINK_TOKENS:
        assert len(auto.encode(tag, add_special_tokens=False)) == 1


# ---- model save / load --------------------------------------------------------------------------------
def test_saved_model_loads_by_path_with_identical_logits(tiny_model_dir, tok, tmp_path):
    import torch

    built = build_tiny_model(tok, dict(TINY_ARCH), tmp_path, seed=5)
    tok.save_pretrained(str(tmp_path))
    loaded = load_model(str(tmp_path))
    assert type(loaded).__name__ == "Qwen3ForCausalLM"
    built.eval()
    loaded.eval()
    ids = torch.tensor([tok.encode("<think>\n12 + 30 = 42\n</think>\n\\boxed{42}", add_special_tokens=False)])
    with torch.no_grad():
        assert torch.equal(built(ids).logits, loaded(ids).logits)
    # tied embeddings survive the round trip, vocabulary and special ids match the tokenizer
    assert loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr()
    assert loaded.config.vocab_size == len(tok)
    assert loaded.generation_config.eos_token_id == tok.eos_token_id
    assert loaded.generation_config.pad_token_id == tok.pad_token_id
    assert loaded.config.hidden_size == TINY_ARCH["hidden_size"]
    assert loaded.config.num_hidden_layers == TINY_ARCH["num_hidden_layers"]


def test_build_tiny_model_is_seeded(tok, tmp_path):
    import torch

    a = build_tiny_model(tok, dict(TINY_ARCH), tmp_path / "a", seed=1)
    b = build_tiny_model(tok, dict(TINY_ARCH), tmp_path / "b", seed=1)
    c = build_tiny_model(tok, dict(TINY_ARCH), tmp_path / "c", seed=2)
    pa, pb, pc = (dict(m.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not torch.equal(pa["model.embed_tokens.weight"], pc["model.embed_tokens.weight"])


def test_load_model_dtype_by_name(tiny_model_dir):
    import torch

    assert load_model(tiny_model_dir, dtype="bfloat16").dtype == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        load_model(tiny_model_dir, dtype="fp8")


def test_flash_attention_falls_back_without_flash_attn(tiny_model_dir):
    try:
        import flash_attn  # noqa: F401

        pytest.skip("flash-attn is installed")
    except ImportError:
        pass
    model = load_model(tiny_model_dir, attn_implementation="flash_attention_2")
    assert model.config._attn_implementation == "sdpa"


def test_load_tokenizer_sets_padding_side(tiny_model_dir):
    assert load_tokenizer(tiny_model_dir, padding_side="right").padding_side == "right"
    assert load_tokenizer(tiny_model_dir).padding_side == "left"


# ---- unreachable models ---------------------------------------------------------------------------------
@pytest.fixture
def offline(monkeypatch, tmp_path):
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the env is read once, at import


@pytest.mark.parametrize("loader", [load_tokenizer, load_model], ids=["tokenizer", "model"])
def test_missing_hub_model_offline_gives_one_line_error(offline, loader):
    name = "nobody-xyz/not-a-model-123"
    with pytest.raises(ModelNotAvailableError) as info:
        loader(name)
    message = str(info.value)
    assert "\n" not in message
    assert repr(name) in message and "not in the local cache" in message


@pytest.mark.parametrize("loader", [load_tokenizer, load_model], ids=["tokenizer", "model"])
@pytest.mark.parametrize("contents", ["empty", "config_only"])
def test_incomplete_local_directory_gives_one_line_error(tmp_path, loader, contents):
    """A half-copied model folder must fail loudly, not load a vocabulary-less tokenizer or a traceback."""
    if contents == "config_only":
        (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    with pytest.raises(ModelNotAvailableError) as info:
        loader(str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and "incomplete or unreadable" in message and str(tmp_path) in message
