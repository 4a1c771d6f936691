"""Token-level knowledge distillation: train the student on the teacher's next-token distributions over given traces.

Rows are the SFT rows of `sft/train.py` (TRL conversational prompt-completion, one assistant message as the
completion); only completion tokens carry loss. The loss is

    loss = α · T² · D_β(teacher_T ‖ student_T) + (1 − α) · CE(student, trace tokens)

where `_T` means softmax at temperature T, D_β is TRL's generalised Jensen-Shannon divergence (β = 0: forward
KL(teacher‖student), β = 1: reverse KL) and the T² factor (Hinton et al., 2015) keeps the KD gradients on the same
scale as CE when T changes. `cfg` is an `sft` group (optimiser, steps, batch, `lora`: as for `train_sft`) plus
a `kd` block: the `kd` config group, conf/kd/default.yaml (the teacher path there may be overridden by argument).

Two modes, both on TRL trainers:

* same tokenizer (default): `KDTrainer`, a minimal subclass of `trl.experimental.gkd.GKDTrainer`. GKD has no CE
  term (α) and its loss ignores `temperature` (in TRL 1.16 that knob only sets the on-policy sampling temperature),
  so `compute_loss` is overridden to apply T to both distributions and mix in CE; `lmbda` (on-policy share) and
  `seq_kd` keep GKD's meaning. Teacher and student must share the vocabulary (`check_same_vocab`).
* `cross_tokenizer: true`: `trl.experimental.gold.GOLDTrainer` with its ULD loss, which aligns the two
  tokenizations by bytes; α and T map onto GOLD's own knobs (`uld_crossentropy_weight = 1 − α`,
  `uld_distillation_weight = α · T²`, both ULD temperatures = T), so no subclass is needed. ULD compares sorted
  probability vectors, not a KL, so `beta` is unused there.

Checkpoints every `save_steps` that a re-run resumes from; the student (LoRA merged) and its tokenizer are saved
to `<out_dir>/final`, loadable by path, and a summary like `train_sft`'s is returned. No DeepSpeed: both models'
full-vocabulary logits are materialised (on completion positions), so at 1.7B scale keep the micro-batch small
and use `gradient_accumulation_steps`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data.hub import load_model, load_tokenizer
from sft import distributed
from sft.checkpoints import last_checkpoint, lora_config, save_final_model
from sft.train import build_sft_config

# Keys of the `kd` block (conf/kd/default.yaml), all required.
KD_KEYS = (
    "teacher",
    "temperature",
    "alpha",
    "beta",
    "lmbda",
    "seq_kd",
    "sample_temperature",
    "max_new_tokens",
    "cross_tokenizer",
)


class TokenizerMismatchError(ValueError):
    """Teacher and student do not share a vocabulary, and the same-tokenizer KD mode cannot align them."""


@dataclasses.dataclass(frozen=True)
class KDSettings:
    """The validated `kd` block (conf/kd/default.yaml says what each field means)."""

    teacher: str | None
    temperature: float
    alpha: float
    beta: float
    lmbda: float
    seq_kd: bool
    sample_temperature: float
    max_new_tokens: int
    cross_tokenizer: bool

    @classmethod
    def from_cfg(cls, kd: Mapping[str, Any] | None) -> KDSettings:
        """Validate a `kd` block: every key known and present, every value in range (errors name the bad one)."""
        if not kd:
            raise ValueError(
                f"the training config has no 'kd' block (the kd group, conf/kd/default.yaml); keys: {list(KD_KEYS)}"
            )
        unknown = sorted(set(kd) - set(KD_KEYS))
        if unknown:
            raise ValueError(f"unknown kd key(s) {unknown}; valid keys: {list(KD_KEYS)}")
        missing = [k for k in KD_KEYS if k not in kd]
        if missing:
            raise ValueError(f"kd is missing key(s) {missing}; valid keys: {list(KD_KEYS)}")
        for key in ("alpha", "beta", "lmbda"):
            if not 0.0 <= float(kd[key]) <= 1.0:
                raise ValueError(f"kd.{key}={kd[key]!r} is out of range; valid: a number in [0, 1]")
        for key in ("temperature", "sample_temperature"):
            if not float(kd[key]) > 0.0:
                raise ValueError(f"kd.{key}={kd[key]!r} is out of range; valid: a number > 0")
        if int(kd["max_new_tokens"]) < 1:
            raise ValueError(f"kd.max_new_tokens={kd['max_new_tokens']!r} is out of range; valid: an integer >= 1")
        for key in ("seq_kd", "cross_tokenizer"):
            if not isinstance(kd[key], bool):
                raise ValueError(f"kd.{key}={kd[key]!r} is not a boolean; valid: true or false")
        return cls(
            teacher=kd["teacher"],
            temperature=float(kd["temperature"]),
            alpha=float(kd["alpha"]),
            beta=float(kd["beta"]),
            lmbda=float(kd["lmbda"]),
            seq_kd=kd["seq_kd"],
            sample_temperature=float(kd["sample_temperature"]),
            max_new_tokens=int(kd["max_new_tokens"]),
            cross_tokenizer=kd["cross_tokenizer"],
        )


def vocab_differences(
    student_tokenizer: Any, teacher_tokenizer: Any, student_vocab_size: int, teacher_vocab_size: int
) -> list[str]:
    """What stops token-level KD on a shared vocabulary: differing logit widths (config `vocab_size`) or a
    differing token→id map. Empty when the pair is compatible."""
    problems = []
    if student_vocab_size != teacher_vocab_size:
        problems.append(f"model vocab_size (logit width) {student_vocab_size} vs {teacher_vocab_size}")
    student_vocab, teacher_vocab = student_tokenizer.get_vocab(), teacher_tokenizer.get_vocab()
    if student_vocab != teacher_vocab:
        only_student = sorted(set(student_vocab) - set(teacher_vocab))
        only_teacher = sorted(set(teacher_vocab) - set(student_vocab))
        moved = sorted(t for t in set(student_vocab) & set(teacher_vocab) if student_vocab[t] != teacher_vocab[t])
        problems.append(
            f"token->id map differs ({len(student_vocab)} vs {len(teacher_vocab)} tokens; {len(only_student)} only in "
            f"the student e.g. {only_student[:3]}, {len(only_teacher)} only in the teacher e.g. {only_teacher[:3]}, "
            f"{len(moved)} shared tokens with different ids e.g. {moved[:3]})"
        )
    return problems


def check_same_vocab(
    student_path: str,
    teacher_path: str,
    student_tokenizer: Any,
    teacher_tokenizer: Any,
    student_vocab_size: int,
    teacher_vocab_size: int,
) -> None:
    """Raise `TokenizerMismatchError` naming both models and what differs when they do not share a vocabulary."""
    problems = vocab_differences(student_tokenizer, teacher_tokenizer, student_vocab_size, teacher_vocab_size)
    if problems:
        raise TokenizerMismatchError(
            f"student {student_path!r} and teacher {teacher_path!r} do not share a vocabulary: {'; '.join(problems)}. "
            "Same-tokenizer KD compares the two next-token distributions id by id; for a teacher with another "
            "tokenizer set kd.cross_tokenizer=true (GOLD's ULD loss aligns the tokenizations by bytes)"
        )


def kd_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prompt-completion rows as the `{"messages": prompt + completion}` rows GKD's ChatML collator reads (it
    masks everything before the last message, so the completion must be exactly one assistant message)."""
    out = []
    for i, row in enumerate(rows):
        prompt, completion = row.get("prompt"), row.get("completion")
        if not isinstance(prompt, list) or not isinstance(completion, list):
            raise ValueError(
                f"KD row {i} has keys {sorted(row)}; valid: conversational prompt-completion rows "
                "{'prompt': [messages], 'completion': [messages]}"
            )
        if len(completion) != 1 or completion[0].get("role") != "assistant":
            roles = [m.get("role") for m in completion]
            raise ValueError(f"KD row {i} has completion roles {roles}; valid: exactly one assistant message")
        out.append({"messages": [*prompt, *completion]})
    return out


@functools.cache  # one class per process; built lazily so importing sft.kd does not import trl.experimental
def _gkd_trainer_cls() -> type:
    from trl.experimental.gkd import GKDTrainer

    class KDTrainer(GKDTrainer):
        """GKDTrainer with loss α·T²·D_β(teacher_T‖student_T) + (1−α)·CE on the completion tokens.

        GKDTrainer cannot express α (it has no CE term) and its loss ignores its `temperature` (in TRL 1.16
        that only sets on-policy sampling), so `compute_loss` is replaced; data, on-policy generation (`lmbda`,
        `seq_kd`), teacher preparation and the divergence (`generalized_jsd_loss`) are GKD's own.
        """

        def __init__(self, *args: Any, alpha: float, kd_temperature: float, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.alpha, self.kd_temperature = alpha, kd_temperature

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch
            import torch.nn.functional as F

            mode = "train" if self.model.training else "eval"
            student = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False)
            self.teacher_model.eval()
            with torch.no_grad():
                teacher = self.teacher_model(
                    input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False
                )
            # logits at position i predict token i + 1; labels are -100 on prompt and padding
            labels = inputs["labels"][:, 1:]
            mask = labels != -100
            n_local = mask.sum()
            # only completion positions: the softmaxes below are (tokens x vocab), not (batch x length x vocab)
            student_logits = student.logits[:, :-1, :][mask]
            teacher_logits = teacher.logits[:, :-1, :][mask].to(student_logits.dtype)
            temperature = self.kd_temperature
            kd_sum = (
                self.generalized_jsd_loss(
                    student_logits, teacher_logits, beta=self.beta, temperature=temperature, reduction="sum"
                )
                * temperature**2
            )
            ce_sum = F.cross_entropy(student_logits.float(), labels[mask], reduction="sum")
            denom = n_local if num_items_in_batch is None else num_items_in_batch
            loss = (self.alpha * kd_sum + (1.0 - self.alpha) * ce_sum) / torch.as_tensor(denom).to(kd_sum.device).clamp(
                min=1
            )
            # like SFTTrainer: `num_items_in_batch` counts every rank's tokens and DDP averages the gradients
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            count = max(int(n_local), 1)
            self._metrics[mode]["kd_loss"].append(float(kd_sum.detach()) / count)
            self._metrics[mode]["ce_loss"].append(float(ce_sum.detach()) / count)
            if mode == "train":
                self._total_train_tokens += int(
                    self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum()
                )
                self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return (loss, student) if return_outputs else loss

    return KDTrainer


def build_kd_trainer(
    student_path: str,
    teacher_path: str,
    rows: list[dict[str, Any]],
    out_dir: str | Path,
    cfg: Mapping[str, Any],
    *,
    seed: int = 0,
    report_to: str = "none",
    dtype: str = "float32",
    use_cpu: bool | None = None,
    attn_implementation: str | None = None,
) -> Any:
    """The TRL trainer `train_kd` runs: `KDTrainer` (same tokenizer) or `GOLDTrainer` (`kd.cross_tokenizer`)."""
    from datasets import Dataset

    kd = KDSettings.from_cfg(cfg.get("kd"))
    out_dir = Path(out_dir)
    tokenizer = load_tokenizer(student_path, padding_side="right")
    model = load_model(student_path, dtype=dtype, attn_implementation=attn_implementation)
    teacher = load_model(teacher_path, dtype=dtype, attn_implementation=attn_implementation)
    sft_args = build_sft_config(cfg, out_dir, report_to, seed, None, use_cpu)
    base = {f.name: getattr(sft_args, f.name) for f in dataclasses.fields(sft_args) if f.init}
    peft_config = lora_config(cfg["lora"]) if cfg["lora"] else None
    if not kd.cross_tokenizer:
        from trl.experimental.gkd import GKDConfig

        check_same_vocab(
            student_path,
            teacher_path,
            tokenizer,
            load_tokenizer(teacher_path),
            model.config.get_text_config().vocab_size,
            teacher.config.get_text_config().vocab_size,
        )
        args = GKDConfig(
            **base,
            lmbda=kd.lmbda,
            beta=kd.beta,
            temperature=kd.sample_temperature,
            max_new_tokens=kd.max_new_tokens,
            seq_kd=kd.seq_kd,
        )
        return _gkd_trainer_cls()(
            model=model,
            teacher_model=teacher,
            args=args,
            train_dataset=Dataset.from_list(kd_rows(rows)),
            processing_class=tokenizer,
            peft_config=peft_config,
            alpha=kd.alpha,
            kd_temperature=kd.temperature,
        )
    from trl.experimental.gold import GOLDConfig, GOLDTrainer

    if base.get("max_length") is not None and kd.max_new_tokens >= base["max_length"]:
        raise ValueError(
            f"kd.max_new_tokens={kd.max_new_tokens} must be smaller than sft.max_length="
            f"{base['max_length']} in cross-tokenizer mode (GOLD leaves room for the prompt)"
        )
    args = GOLDConfig(
        **base,
        lmbda=kd.lmbda,
        beta=kd.beta,
        temperature=kd.sample_temperature,
        top_p=1.0,
        max_completion_length=kd.max_new_tokens,
        seq_kd=kd.seq_kd,
        use_uld_loss=True,
        teacher_tokenizer_name_or_path=teacher_path,
        uld_crossentropy_weight=1.0 - kd.alpha,
        uld_distillation_weight=kd.alpha * kd.temperature**2,
        uld_student_temperature=kd.temperature,
        uld_teacher_temperature=kd.temperature,
    )
    trainer = GOLDTrainer(
        model=model,
        teacher_model=teacher,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    # GOLD's ULD loss is a per-micro-batch mean that ignores `num_items_in_batch`: let Trainer average it over
    # gradient-accumulation steps instead of assuming it is already normalised by the global token count.
    trainer.model_accepts_loss_kwargs = False
    return trainer


def train_kd(
    student_path: str,
    teacher_path: str | None,
    rows: list[dict[str, Any]],
    out_dir: str | Path,
    cfg: Mapping[str, Any],
    *,
    seed: int = 0,
    report_to: str = "none",
    dtype: str = "float32",
    use_cpu: bool | None = None,
    attn_implementation: str | None = None,
) -> dict[str, Any]:
    """Distil `teacher_path` (default: `cfg["kd"]["teacher"]`) into `student_path` on `rows`; resumes from the last
    checkpoint in `out_dir`; saves the student to `<out_dir>/final`; returns a summary."""
    kd = KDSettings.from_cfg(cfg.get("kd"))
    teacher_path = teacher_path or kd.teacher
    if not teacher_path:
        raise ValueError("no KD teacher: pass teacher_path or set kd.teacher to a model path or hub id")
    out_dir = Path(out_dir)
    trainer = build_kd_trainer(
        student_path,
        teacher_path,
        rows,
        out_dir,
        cfg,
        seed=seed,
        report_to=report_to,
        dtype=dtype,
        use_cpu=use_cpu,
        attn_implementation=attn_implementation,
    )
    resume = distributed.broadcast(last_checkpoint(out_dir / "checkpoints"))  # rank 0 decides for every rank
    distributed.allow_indexed_cpu_location()  # several CPU ranks resume optimizer state mapped to `cpu:<rank>`
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    train_seconds = time.perf_counter() - start
    final_dir = save_final_model(trainer, out_dir, lora=bool(cfg["lora"]), base_model_path=student_path, dtype=dtype)
    history = trainer.state.log_history
    last = lambda key: next((e[key] for e in reversed(history) if key in e), None)  # noqa: E731
    return {
        "model_path": str(final_dir),
        "steps": trainer.state.global_step,
        "train_seconds": train_seconds,
        "resumed_from": resume,
        "n_rows": len(rows),
        "final_loss": last("loss"),
        "num_tokens": last("num_tokens"),
        "train_loss": result.training_loss,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "teacher_path": teacher_path,
        "kd_mode": "gold_uld" if kd.cross_tokenizer else "gkd",
        "final_kd_loss": last("kd_loss"),
        "final_ce_loss": last("ce_loss"),
    }
