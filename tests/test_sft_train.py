"""sft/train.py on TRL's SFTTrainer: loss masking of prompt-completion rows, final/ by path, resume, LoRA merge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from data.hub import load_model, load_tokenizer
from data.records import answer_only_completion, completion_messages, prompt_messages
from sft.checkpoints import last_checkpoint
from sft.train import build_sft_config, train_sft
from tests._sft_fixtures import make_sft_rows, toy_problems


@pytest.fixture(scope="module")
def rows():
    """Trace rows plus answer-only rows (short completions), TRL conversational prompt-completion format."""
    out = make_sft_rows(16)
    out += [
        {
            "prompt": prompt_messages(p["question"]),
            "completion": completion_messages(answer_only_completion(p["final_answer"])),
        }
        for p in toy_problems(4, seed=1)
    ]
    return out


def _logits(model_dir: str, text: str):
    import torch

    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir).eval()
    ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
    with torch.no_grad():
        return model(ids).logits


def _weights(model_dir: str | Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


# ---- loss masking ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trainer(tiny_model_dir, rows, tmp_path_factory):
    """An SFTTrainer built exactly as train_sft builds it (tokenizer padded right, our SFTConfig)."""
    from datasets import Dataset
    from omegaconf import OmegaConf
    from trl import SFTTrainer

    from launch.config_check import compose

    cfg = OmegaConf.to_container(compose(["sft.max_steps=1", "sft.per_device_train_batch_size=4"]).sft, resolve=True)
    tokenizer = load_tokenizer(tiny_model_dir, padding_side="right")
    args = build_sft_config(cfg, tmp_path_factory.mktemp("masking"), "none", 0)
    return SFTTrainer(
        model=load_model(tiny_model_dir), args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    ), tokenizer


def _loss_mask(example: dict) -> list[int]:
    if "completion_mask" in example:  # older TRL: a mask column; TRL >= 1.x: labels with -100
        return list(example["completion_mask"])
    return [int(label != -100) for label in example["labels"]]


def test_dataset_masks_exactly_the_completion(trainer, rows):
    sft, tokenizer = trainer
    dataset = sft.train_dataset
    assert len(dataset) == len(rows)  # nothing dropped or truncated away
    for example, row in zip(dataset, rows):
        ids, mask = list(example["input_ids"]), _loss_mask(example)
        assert len(mask) == len(ids)
        first = mask.index(1)
        assert not any(mask[:first]) and all(mask[first:]), "the loss mask must be one run: the completion"
        prompt_text = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        assert tokenizer.decode(ids[:first]) == prompt_text  # the whole prompt (with the assistant header) is masked
        completion = tokenizer.decode(ids[first:])
        assert completion.startswith(row["completion"][0]["content"] + "<|im_end|>")
        assert tokenizer.eos_token_id in ids[first:]  # the student learns to end its turn
        if "labels" in example:
            assert [label for label, m in zip(example["labels"], mask) if m] == ids[first:]


def test_collator_masks_prompt_and_padding(trainer, rows):
    import torch

    sft, tokenizer = trainer
    examples = [sft.train_dataset[i] for i in (0, 1, 16, 17)]  # long traces and short answer-only rows
    batch = sft.data_collator(examples)
    labels, ids, attention = batch["labels"], batch["input_ids"], batch["attention_mask"]
    assert labels.shape == ids.shape == attention.shape
    assert (attention == 0).any(), "the batch should need padding"
    assert (labels[attention == 0] == -100).all()  # no loss on padding
    for row, example in enumerate(examples):
        mask = torch.tensor(_loss_mask(example))
        n = len(mask)
        assert (attention[row, :n] == 1).all() and (attention[row, n:] == 0).all()  # padded on the right
        assert torch.equal(labels[row, :n] != -100, mask.bool())  # loss on the completion only
        kept = labels[row][labels[row] != -100]
        assert torch.equal(kept, ids[row, :n][mask.bool()])
        text = tokenizer.decode(kept)
        assert "<|im_start|>user" not in text and "Put the final answer" not in text


# ---- a short run, resume ------------------------------------------------------------------------------
def test_train_writes_final_and_a_killed_run_resumes_to_the_same_model(tiny_model_dir, rows, sft_cfg, tmp_path):
    import torch

    cfg = sft_cfg("full", "sft.max_steps=4", "sft.save_steps=2")
    out = tmp_path / "sft"
    first = train_sft(tiny_model_dir, rows, out, cfg, seed=0)
    final = out / "final"
    assert first["model_path"] == str(final) and first["steps"] == 4 and first["resumed_from"] is None
    assert first["steps_this_run"] == 4
    assert first["n_rows"] == len(rows) and first["final_loss"] is not None
    assert last_checkpoint(out / "checkpoints") == str(out / "checkpoints" / "checkpoint-4")
    # final/ is a plain model + tokenizer folder, loadable by path
    tokenizer = load_tokenizer(str(final))
    assert tokenizer.padding_side == "left" and tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.chat_template == load_tokenizer(tiny_model_dir).chat_template
    trained = _weights(final)
    base = _weights(tiny_model_dir)
    assert trained.keys() == base.keys()
    assert not torch.equal(trained["model.embed_tokens.weight"], base["model.embed_tokens.weight"])
    assert type(load_model(str(final))).__name__ == "Qwen3ForCausalLM"

    # simulate a kill after step 2: the last checkpoint and final/ never got written
    shutil.rmtree(out / "checkpoints" / "checkpoint-4")
    shutil.rmtree(final)
    second = train_sft(tiny_model_dir, rows, out, cfg, seed=0)
    assert second["resumed_from"] == str(out / "checkpoints" / "checkpoint-2")
    assert second["steps"] == 4 and second["steps_this_run"] == 2  # train_seconds timed only these two
    state = json.loads((out / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    resumed = _weights(final)
    for key in trained:  # same data order, optimizer and schedule: the same model as the uninterrupted run
        assert torch.allclose(resumed[key], trained[key], atol=1e-5), key
    model = load_model(str(final))
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_second_call_continues_with_a_larger_budget(tiny_model_dir, rows, sft_cfg, tmp_path):
    out = tmp_path / "sft"
    first = train_sft(tiny_model_dir, rows, out, sft_cfg("full", "sft.max_steps=2", "sft.save_steps=2"))
    assert first["steps"] == 2 and first["resumed_from"] is None
    second = train_sft(tiny_model_dir, rows, out, sft_cfg("full", "sft.max_steps=3", "sft.save_steps=2"))
    assert second["resumed_from"] == str(out / "checkpoints" / "checkpoint-2")
    assert second["steps"] == 3
    assert (out / "final" / "model.safetensors").exists()
    # the summary reports how many tokens were trained on (the trainer logs num_tokens with every loss)
    assert second["num_tokens"] is not None and second["num_tokens"] > 0


def test_last_checkpoint_ignores_incomplete_ones(tmp_path):
    assert last_checkpoint(tmp_path / "missing") is None
    for step, complete in ((5, True), (10, True), (100, False), (20, True)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-20")  # numeric, not lexical; 100 is torn


# ---- LoRA ---------------------------------------------------------------------------------------------
def test_lora_saves_adapter_and_merges_into_final(tiny_model_dir, rows, sft_cfg, tmp_path):
    import torch
    from peft import PeftModel

    cfg = sft_cfg(
        "lora", "sft.max_steps=3", "sft.save_steps=3", "sft.lora.r=4", "sft.lora.alpha=8", "sft.learning_rate=5e-3"
    )
    assert cfg["lora"]["use_rslora"] is True and cfg["lora"]["target_modules"] == "all-linear"
    out = tmp_path / "lora"
    summary = train_sft(tiny_model_dir, rows, out, cfg, seed=0)
    assert summary["steps"] == 3
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and adapter["lora_alpha"] == 8 and adapter["use_rslora"] is True
    targets = {name.rsplit(".", 1)[-1] for name in adapter["target_modules"]}  # all-linear: every projection
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

    final = out / "final"
    assert not (final / "adapter_config.json").exists()
    merged, base = _weights(final), _weights(tiny_model_dir)
    assert merged.keys() == base.keys()  # no lora_A/lora_B, no base_model.model. prefix
    assert not any("lora" in key or key.startswith("base_model") for key in merged)
    model = load_model(str(final)).eval()
    assert type(model).__name__ == "Qwen3ForCausalLM"

    text = "<|im_start|>user\nLeo has 12 apples.<|im_end|>\n<|im_start|>assistant\n<think>\n12 + 3 = 15"
    merged_logits, base_logits = _logits(str(final), text), _logits(tiny_model_dir, text)
    assert (merged_logits - base_logits).abs().max() > 1e-4  # training changed the model
    # the merged weights are base + adapter: the same function as the unmerged PEFT model
    peft_model = PeftModel.from_pretrained(load_model(tiny_model_dir), str(out / "adapter")).eval()
    tokenizer = load_tokenizer(tiny_model_dir)
    ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
    with torch.no_grad():
        assert torch.allclose(peft_model(ids).logits, merged_logits, atol=1e-4)
