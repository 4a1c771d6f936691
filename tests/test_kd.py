"""sft/kd.py: token-level KD moves the student toward the teacher, α=0 is SFT's CE, vocab checks, resume, GOLD path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from data.hub import load_model, load_tokenizer
from sft.kd import KDSettings, TokenizerMismatchError, build_kd_trainer, kd_rows, train_kd
from sft.train import build_sft_config, train_sft
from tests._sft_fixtures import make_sft_rows, make_tiny_model


@pytest.fixture(scope="module")
def rows():
    return make_sft_rows(24)


@pytest.fixture(scope="module")
def held_out():
    """Traces of problems from another toy world (seed 1): never trained on."""
    return make_sft_rows(8, seed=1)


@pytest.fixture(scope="module")
def teacher_dir(tiny_model_dir, rows, tmp_path_factory):
    """The tiny model after a short trace SFT: a teacher with the student's tokenizer (as on the toy world)."""
    from omegaconf import OmegaConf

    from launch.config_check import compose

    cfg = OmegaConf.to_container(
        compose(
            ["sft.max_steps=40", "sft.save_steps=100", "sft.per_device_train_batch_size=4", "sft.max_length=256"]
        ).sft,
        resolve=True,
    )
    return train_sft(tiny_model_dir, rows, tmp_path_factory.mktemp("kd_teacher"), cfg)["model_path"]


# Every kd knob, spelled out so the tests do not depend on conf/kd/default.yaml (test_conf_kd_group_* checks that).
KD = {
    "teacher": None,
    "temperature": 2.0,
    "alpha": 0.5,
    "beta": 0.0,
    "lmbda": 0.0,
    "seq_kd": False,
    "sample_temperature": 1.0,
    "max_new_tokens": 128,
    "cross_tokenizer": False,
}


def _kd_cfg(sft_cfg, *sft_overrides: str, **kd) -> dict:
    """The `sft` group (full recipe, shrunk) with a `kd` block, as launch/stages.py passes them to train_kd."""
    return {**sft_cfg("full", "sft.save_steps=100", *sft_overrides), "kd": {**KD, **kd}}


def _completion_kl_and_ce(student_dir: str, teacher_dir: str, rows: list[dict]) -> tuple[float, float]:
    """Mean per-completion-token KL(teacher ‖ student) at T=1 and the student's CE on the trace tokens."""
    import torch
    import torch.nn.functional as F

    tokenizer = load_tokenizer(student_dir)
    student, teacher = load_model(student_dir).eval(), load_model(teacher_dir).eval()
    kl = ce = count = 0.0
    for row in rows:
        prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        ids = torch.tensor([tokenizer.encode(full, add_special_tokens=False)])
        start = len(tokenizer.encode(prompt, add_special_tokens=False))
        with torch.no_grad():
            log_s = F.log_softmax(student(ids).logits[0, start - 1 : -1], dim=-1)
            log_t = F.log_softmax(teacher(ids).logits[0, start - 1 : -1], dim=-1)
        kl += float((log_t.exp() * (log_t - log_s)).sum())
        ce += float(-log_s.gather(1, ids[0, start:, None]).sum())
        count += ids.shape[1] - start
    return kl / count, ce / count


# ---- training moves the student toward the teacher ------------------------------------------------------
def test_kd_lowers_the_kd_loss_and_the_held_out_kl_to_the_teacher(
    tiny_model_dir, teacher_dir, rows, held_out, sft_cfg, tmp_path
):
    kl_before, _ = _completion_kl_and_ce(tiny_model_dir, teacher_dir, held_out)
    cfg = _kd_cfg(sft_cfg, "sft.max_steps=30")  # T=2, α=0.5, forward KL, off-policy
    summary = train_kd(tiny_model_dir, teacher_dir, rows, tmp_path / "kd", cfg, seed=0)
    assert summary["steps"] == 30 and summary["kd_mode"] == "gkd" and summary["teacher_path"] == teacher_dir
    assert summary["model_path"] == str(tmp_path / "kd" / "final") and summary["num_tokens"] > 0
    state = json.loads((tmp_path / "kd" / "checkpoints" / "checkpoint-30" / "trainer_state.json").read_text())
    logs = [entry for entry in state["log_history"] if "kd_loss" in entry]
    assert len(logs) == 30
    first, last = logs[:5], logs[-5:]
    mean = lambda entries, key: sum(e[key] for e in entries) / len(entries)  # noqa: E731
    assert mean(last, "kd_loss") < 0.6 * mean(first, "kd_loss")
    assert mean(last, "loss") < mean(first, "loss")
    for entry in logs:  # the logged loss is the α-mix of the two logged terms (one micro-batch per step)
        assert entry["loss"] == pytest.approx(0.5 * entry["kd_loss"] + 0.5 * entry["ce_loss"], rel=1e-3, abs=1e-3)

    kl_after, _ = _completion_kl_and_ce(summary["model_path"], teacher_dir, held_out)
    assert kl_after < 0.6 * kl_before, (kl_before, kl_after)
    tokenizer = load_tokenizer(summary["model_path"])
    assert tokenizer.padding_side == "left" and tokenizer.get_vocab() == load_tokenizer(tiny_model_dir).get_vocab()


# ---- the loss itself -----------------------------------------------------------------------------------
def test_alpha_zero_is_sft_cross_entropy_and_alpha_one_is_zero_against_itself(
    tiny_model_dir, teacher_dir, rows, sft_cfg, tmp_path
):
    from datasets import Dataset
    from trl import SFTTrainer

    batch_rows = rows[:4]
    kd = build_kd_trainer(tiny_model_dir, teacher_dir, batch_rows, tmp_path / "a0", _kd_cfg(sft_cfg, alpha=0.0))
    kd_batch = kd.data_collator([kd.train_dataset[i] for i in range(4)])
    kd_loss = float(kd.compute_loss(kd.model, kd_batch).detach())

    cfg = sft_cfg("full")
    sft = SFTTrainer(
        model=load_model(tiny_model_dir),
        args=build_sft_config(cfg, tmp_path / "sft", "none", 0),
        train_dataset=Dataset.from_list(batch_rows),
        processing_class=load_tokenizer(tiny_model_dir, padding_side="right"),
    )
    sft_batch = sft.data_collator([sft.train_dataset[i] for i in range(4)])
    assert int((kd_batch["labels"] != -100).sum()) == int((sft_batch["labels"] != -100).sum())  # same loss tokens
    sft_loss = float(sft.compute_loss(sft.model, sft_batch).detach())
    assert kd_loss == pytest.approx(sft_loss, abs=1e-4)
    assert kd._metrics["eval"]["ce_loss"][-1] == pytest.approx(sft_loss, abs=1e-4)
    assert kd._metrics["eval"]["kd_loss"][-1] > 0.01  # the teacher differs; α=0 just gives it no weight

    # α=1, β=0: the loss is T² · KL(teacher_T ‖ student_T) per completion token, at the configured T
    import torch
    import torch.nn.functional as F

    pure = build_kd_trainer(
        tiny_model_dir, teacher_dir, batch_rows, tmp_path / "kl", _kd_cfg(sft_cfg, alpha=1.0, beta=0.0, temperature=3.0)
    )
    with torch.no_grad():
        mask = kd_batch["labels"][:, 1:] != -100
        s = pure.model(input_ids=kd_batch["input_ids"], attention_mask=kd_batch["attention_mask"]).logits[:, :-1][mask]
        t = pure.teacher_model(input_ids=kd_batch["input_ids"], attention_mask=kd_batch["attention_mask"]).logits[
            :, :-1
        ][mask]
        log_s, log_t = F.log_softmax(s / 3, dim=-1), F.log_softmax(t / 3, dim=-1)
        expected = 9 * float((log_t.exp() * (log_t - log_s)).sum(-1).mean())
    assert float(pure.compute_loss(pure.model, kd_batch).detach()) == pytest.approx(expected, rel=1e-4)

    same = build_kd_trainer(
        tiny_model_dir, tiny_model_dir, batch_rows, tmp_path / "a1", _kd_cfg(sft_cfg, alpha=1.0, beta=0.5)
    )
    assert (
        abs(float(same.compute_loss(same.model, kd_batch).detach())) < 1e-5
    )  # no divergence from an identical teacher


def test_cross_tokenizer_knobs_map_onto_gold(tiny_model_dir, rows, sft_cfg, tmp_path):
    other = make_tiny_model(tmp_path / "other", vocab_size=280)
    cfg = _kd_cfg(sft_cfg, "sft.max_steps=3", cross_tokenizer=True, alpha=0.25, temperature=3.0)
    trainer = build_kd_trainer(tiny_model_dir, other, rows, tmp_path / "gold", cfg)
    assert type(trainer).__name__ == "GOLDTrainer" and trainer.args.use_uld_loss and trainer.args.lmbda == 0.0
    assert trainer.args.uld_crossentropy_weight == 0.75 and trainer.args.uld_distillation_weight == 0.25 * 9
    assert trainer.args.uld_student_temperature == trainer.args.uld_teacher_temperature == 3.0
    summary = train_kd(tiny_model_dir, other, rows, tmp_path / "gold_run", cfg)
    assert summary["steps"] == 3 and summary["kd_mode"] == "gold_uld"
    assert summary["final_loss"] is not None and summary["final_loss"] == summary["final_loss"]  # finite, not NaN
    assert load_tokenizer(summary["model_path"]).get_vocab() == load_tokenizer(tiny_model_dir).get_vocab()


def test_on_policy_share_trains_on_student_generations(tiny_model_dir, teacher_dir, rows, sft_cfg, tmp_path):
    cfg = _kd_cfg(sft_cfg, "sft.max_steps=2", lmbda=1.0, max_new_tokens=8)
    summary = train_kd(tiny_model_dir, teacher_dir, rows, tmp_path / "onpolicy", cfg)
    assert summary["steps"] == 2 and summary["final_kd_loss"] > 0


# ---- clear errors ----------------------------------------------------------------------------------------
def test_a_teacher_with_another_tokenizer_is_a_clear_error(tiny_model_dir, rows, sft_cfg, tmp_path):
    smaller = make_tiny_model(tmp_path / "smaller", vocab_size=280)  # another vocab size
    with pytest.raises(TokenizerMismatchError) as error:
        train_kd(tiny_model_dir, smaller, rows, tmp_path / "bad", _kd_cfg(sft_cfg, "sft.max_steps=1"))
    message = str(error.value)
    assert tiny_model_dir in message and smaller in message and "vocab_size (logit width) 302 vs 282" in message
    assert "kd.cross_tokenizer=true" in message
    reordered = make_tiny_model(tmp_path / "reordered", seed=1)  # same size, different BPE merges and ids
    assert len(load_tokenizer(reordered)) == len(load_tokenizer(tiny_model_dir))
    with pytest.raises(TokenizerMismatchError, match="token->id map differs .* shared tokens with different ids"):
        train_kd(tiny_model_dir, reordered, rows, tmp_path / "bad2", _kd_cfg(sft_cfg, "sft.max_steps=1"))
    assert not (tmp_path / "bad" / "checkpoints").exists()  # refused before training


def test_bad_kd_settings_name_the_value_and_the_valid_ones(tiny_model_dir, rows, sft_cfg, tmp_path):
    with pytest.raises(ValueError, match=r"kd.alpha=1.5 is out of range; valid: a number in \[0, 1\]"):
        KDSettings.from_cfg({**KD, "alpha": 1.5})
    with pytest.raises(ValueError, match=r"kd.temperature=0 is out of range; valid: a number > 0"):
        KDSettings.from_cfg({**KD, "temperature": 0})
    with pytest.raises(ValueError, match=r"unknown kd key\(s\) \['alhpa'\]; valid keys: \['teacher'"):
        KDSettings.from_cfg({**KD, "alhpa": 0.1})
    with pytest.raises(ValueError, match=r"kd is missing key\(s\) \['max_new_tokens'\]"):
        KDSettings.from_cfg({k: v for k, v in KD.items() if k != "max_new_tokens"})
    with pytest.raises(ValueError, match="no KD teacher"):
        train_kd(tiny_model_dir, None, rows, tmp_path / "x", _kd_cfg(sft_cfg))
    with pytest.raises(ValueError, match="has no 'kd' block"):
        train_kd(tiny_model_dir, tiny_model_dir, rows, tmp_path / "x", sft_cfg("full"))
    with pytest.raises(ValueError, match=r"completion roles \['assistant', 'user'\]; valid: exactly one assistant"):
        kd_rows([{"prompt": rows[0]["prompt"], "completion": [*rows[0]["completion"], *rows[0]["prompt"]]}])
    assert KDSettings.from_cfg({**KD, "teacher": "t"}).teacher == "t"


def test_conf_kd_group_has_every_kd_knob():
    """conf/kd/default.yaml (the `kd` group launch/stages.py passes on) carries every key train_kd needs."""
    from omegaconf import OmegaConf

    from launch.config_check import compose

    kd = OmegaConf.to_container(compose([]).kd, resolve=True)
    assert set(kd) == set(KD)
    assert KDSettings.from_cfg(kd).lmbda == 0.0 and not KDSettings.from_cfg(kd).cross_tokenizer


# ---- resume, LoRA --------------------------------------------------------------------------------------
def test_a_killed_kd_run_resumes_to_the_same_model(tiny_model_dir, teacher_dir, rows, sft_cfg, tmp_path):
    import torch
    from safetensors.torch import load_file

    cfg = {**sft_cfg("full", "sft.max_steps=4", "sft.save_steps=2"), "kd": KD}
    out = tmp_path / "kd"
    first = train_kd(tiny_model_dir, teacher_dir, rows, out, cfg)
    assert first["steps"] == 4 and first["resumed_from"] is None
    trained = load_file(str(out / "final" / "model.safetensors"))
    shutil.rmtree(out / "checkpoints" / "checkpoint-4")  # killed after step 2
    shutil.rmtree(out / "final")
    second = train_kd(tiny_model_dir, teacher_dir, rows, out, cfg)
    assert second["resumed_from"] == str(out / "checkpoints" / "checkpoint-2") and second["steps"] == 4
    resumed = load_file(str(out / "final" / "model.safetensors"))
    for key in trained:
        assert torch.allclose(resumed[key], trained[key], atol=1e-5), key


def test_lora_kd_merges_into_final(tiny_model_dir, teacher_dir, rows, sft_cfg, tmp_path):
    from safetensors.torch import load_file

    cfg = _kd_cfg(
        sft_cfg,
        "sft.max_steps=2",
        "sft.lora={r: 4, alpha: 8, dropout: 0.0, use_rslora: true, target_modules: all-linear}",
    )
    summary = train_kd(tiny_model_dir, teacher_dir, rows, tmp_path / "lora", cfg)
    merged, base = (
        load_file(str(Path(summary["model_path"]) / "model.safetensors")),
        load_file(str(Path(tiny_model_dir) / "model.safetensors")),
    )
    assert merged.keys() == base.keys() and (tmp_path / "lora" / "adapter" / "adapter_config.json").exists()
    assert any(not (merged[k] == base[k]).all() for k in base if "proj" in k)  # the adapter was merged in
