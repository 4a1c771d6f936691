"""The stages a condition is made of, each reading paths and writing its own folder with a `summary.json`.

data → base → teacher → sft → rl → eval. Shared stages (data, base, teacher) live under
`${output_root}/shared/<stage>/<fingerprint>` and are built once for every condition and seed; per-run stages
(sft, rl, eval) live in the run folder. A stage whose summary matches its config fingerprint is skipped.
"""
from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from data.jsonl_io import AppendOnlyJsonl, read_jsonl, read_verified_jsonl, write_jsonl_atomic
from data.records import answer_only_completion, completion_messages, prompt_messages
from data.toy_world import ToyWorld, ToyWorldConfig
from launch.stage_state import fingerprint, is_complete, read_summary, claim_stage_dir, stage_lock, write_summary

log = logging.getLogger(__name__)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _world_config(cfg: DictConfig) -> ToyWorldConfig:
    fields = {k: v for k, v in _plain(cfg.data).items() if k != "name"}
    return ToyWorldConfig(**fields)


def shared_dir(cfg: DictConfig, stage: str, fp: str) -> Path:
    return Path(cfg.output_root) / "shared" / stage / fp


def run_dir(cfg: DictConfig) -> Path:
    return Path(cfg.output_root) / cfg.run_name / cfg.condition.name / f"seed{cfg.seed}"


def report_to(cfg: DictConfig) -> str:
    """The trainers' `report_to`; W&B runs offline unless an API key is present."""
    if cfg.logger.report_to == "wandb":
        os.environ.setdefault("WANDB_PROJECT", cfg.logger.project)
        if cfg.logger.get("entity"):
            os.environ.setdefault("WANDB_ENTITY", cfg.logger.entity)
        if not os.environ.get("WANDB_API_KEY"):
            os.environ.setdefault("WANDB_MODE", "offline")
        # wandb.init reads these: runs grouped by run name, tagged by condition and seed, files in the run folder.
        os.environ.setdefault("WANDB_RUN_GROUP", str(cfg.run_name))
        os.environ.setdefault("WANDB_TAGS", f"{cfg.condition.name},seed{cfg.seed}")
        os.environ.setdefault("WANDB_NAME", f"{cfg.condition.name}-seed{cfg.seed}")
        os.environ.setdefault("WANDB_DIR", str(run_dir(cfg).resolve()))
        run_dir(cfg).mkdir(parents=True, exist_ok=True)
    return cfg.logger.report_to


# ---- data ------------------------------------------------------------------------------------------
def stage_data(cfg: DictConfig) -> Path:
    """Train and held-out test problems, written once (atomically, with checksums) and cached."""
    fp = fingerprint("data", _plain(cfg.data))
    out = shared_dir(cfg, "data", fp)
    with stage_lock(out):
        complete = is_complete(out, fp) and all(read_verified_jsonl(out / f"{s}.jsonl") is not None for s in ("train", "test"))
        if complete:
            return out
        claim_stage_dir(out, fp)
        log.info("data: building toy world %s", fp)
        world = ToyWorld(_world_config(cfg))
        counts = {split: write_jsonl_atomic(out / f"{split}.jsonl", world.problems(split)) for split in ("train", "test")}
        write_summary(out, fp, {"stage": "data", **counts})
    return out


def load_split(data_dir: Path, split: str) -> list[dict[str, Any]]:
    rows = read_verified_jsonl(data_dir / f"{split}.jsonl")
    if rows is None:
        raise RuntimeError(f"{data_dir / split}.jsonl is missing or damaged; re-run the data stage")
    return rows


# ---- base ------------------------------------------------------------------------------------------
def _pretrain_rows(cfg: DictConfig, world: ToyWorld, train: list[dict[str, Any]]) -> list[dict[str, str]]:
    pre = cfg.model.pretrain
    facts = world.arithmetic_facts(int(pre.n_facts), seed=0)
    per = int(pre.facts_per_doc)
    rows = [{"text": "\n".join(facts[i:i + per])} for i in range(0, len(facts), per)]
    rows += [{"text": p["question"]} for p in train[: int(pre.n_statements)]]
    random.Random(0).shuffle(rows)
    return rows


def stage_base(cfg: DictConfig, data_dir: Path) -> str:
    """The condition's start point: a hub model as it is, or the toy base model built once and cached."""
    if cfg.model.name_or_path:
        return str(cfg.model.name_or_path)
    from sft.tiny_model import build_tiny_model, build_tokenizer, toy_tokenizer_corpus
    from sft.train import train_sft

    fp = fingerprint("base", _plain(cfg.data), _plain(cfg.model))
    out = shared_dir(cfg, "base", fp)
    with stage_lock(out):
        if is_complete(out, fp):
            return str(read_summary(out)["model_path"])
        import torch

        claim_stage_dir(out, fp)
        torch.set_num_threads(int(cfg.model.pretrain.threads))
        train = load_split(data_dir, "train")
        world = ToyWorld(_world_config(cfg))
        init_dir = out / "init"
        if not (init_dir / "config.json").exists():
            corpus = toy_tokenizer_corpus(train[: int(cfg.model.tokenizer.corpus_problems)], world)
            tokenizer = build_tokenizer(corpus, int(cfg.model.tokenizer.vocab_size), init_dir)
            build_tiny_model(tokenizer, _plain(cfg.model.arch), init_dir, seed=0)
        rows = _pretrain_rows(cfg, world, train)
        log.info("base: pretraining the tiny model on %d documents", len(rows))
        summary = train_sft(str(init_dir), rows, out, _plain(cfg.model.pretrain), seed=0, report_to="none")
        write_summary(out, fp, {"stage": "base", **summary})
        torch.set_num_threads(int(cfg.threads))
        return summary["model_path"]


# ---- teacher ---------------------------------------------------------------------------------------
def stage_teacher(cfg: DictConfig, data_dir: Path) -> Path:
    """Teacher traces for every training problem: append-only JSONL that a re-run resumes."""
    from sft.teachers.base import build_teacher
    from tqdm.auto import tqdm

    teacher_cfg = _plain(cfg.teacher)
    fp = fingerprint("teacher", _plain(cfg.data), teacher_cfg)
    out = shared_dir(cfg, "traces", fp)
    with stage_lock(out):
        if is_complete(out, fp):
            return out
        claim_stage_dir(out, fp)
        teacher = build_teacher(teacher_cfg)
        train = load_split(data_dir, "train") if teacher.uses_problems else []
        with AppendOnlyJsonl(out / "traces.jsonl") as writer:
            for record in tqdm(teacher.generate(train, set(writer.done_keys)), desc="teacher traces", unit="trace"):
                writer.write(record)
        traces = read_jsonl(out / "traces.jsonl")
        write_summary(out, fp, {"stage": "teacher", "teacher": teacher.name, "n_traces": len(traces),
                                "n_verified": sum(bool(t["verified"]) for t in traces),
                                "n_problems": len(train) if teacher.uses_problems else len({t["problem_id"] for t in traces}),
                                "tokens_in": sum(int(t.get("tokens_in") or 0) for t in traces),
                                "tokens_out": sum(int(t.get("tokens_out") or 0) for t in traces)})
    return out


# ---- sft -------------------------------------------------------------------------------------------
def sft_rows(cfg: DictConfig, data_dir: Path, traces_dir: Path | None) -> list[dict[str, Any]]:
    """The condition's SFT examples in TRL's conversational prompt-completion format."""
    mode = cfg.condition.sft_data
    if mode == "answer_only":
        return [{"prompt": prompt_messages(p["question"]), "completion": completion_messages(answer_only_completion(p["final_answer"]))}
                for p in load_split(data_dir, "train")]
    if mode == "trace":
        if traces_dir is None:
            raise ValueError("condition.sft_data=trace needs the 'teacher' stage before 'sft'")
        traces = read_jsonl(traces_dir / "traces.jsonl")
        if cfg.teacher.only_verified:
            traces = [t for t in traces if t["verified"]]
        return [{"prompt": prompt_messages(t["problem"]), "completion": completion_messages(t["trace"])} for t in traces]
    raise ValueError(f"unknown condition.sft_data {mode!r}; valid: ['answer_only', 'trace']")


def stage_sft(cfg: DictConfig, base_path: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from sft.train import train_sft

    out = run_dir(cfg) / "sft"
    fp = fingerprint("sft", base_path, _plain(cfg.sft), _plain(cfg.deepspeed), cfg.condition.sft_data,
                     _plain(cfg.teacher) if cfg.condition.sft_data == "trace" else None, cfg.seed, len(rows))
    if is_complete(out, fp):
        return read_summary(out)
    claim_stage_dir(out, fp)
    summary = train_sft(base_path, rows, out, _plain(cfg.sft), seed=int(cfg.seed), report_to=report_to(cfg),
                        deepspeed=_plain(cfg.deepspeed.config), dtype=cfg.model.dtype)
    return write_summary(out, fp, {"stage": "sft", **summary})


# ---- rl --------------------------------------------------------------------------------------------
def rl_rows(cfg: DictConfig, data_dir: Path) -> list[dict[str, Any]]:
    """GRPO prompts: every training problem as `{prompt, answer, id}` (the reward reads `answer`)."""
    return [{"prompt": prompt_messages(p["question"]), "answer": p["final_answer"], "id": p["id"]}
            for p in load_split(data_dir, "train")]


def stage_rl(cfg: DictConfig, model_path: str, data_dir: Path) -> dict[str, Any]:
    """GRPO from `model_path` (the SFT checkpoint, or the base for pure GRPO) with `cfg.rl` and `cfg.reward`."""
    from rl.train import train_grpo

    out = run_dir(cfg) / "rl"
    fp = fingerprint("rl", model_path, _plain(cfg.rl), _plain(cfg.reward), _plain(cfg.data), cfg.seed)
    if is_complete(out, fp):
        return read_summary(out)
    claim_stage_dir(out, fp)
    summary = train_grpo(model_path, rl_rows(cfg, data_dir), out, _plain(cfg.rl), _plain(cfg.reward),
                         seed=int(cfg.seed), report_to=report_to(cfg), dtype=cfg.model.dtype)
    return write_summary(out, fp, {"stage": "rl", **summary})


# ---- eval ------------------------------------------------------------------------------------------
def stage_eval(cfg: DictConfig, model_path: str, data_dir: Path) -> dict[str, Any]:
    from eval.evaluate import evaluate_items

    out = run_dir(cfg) / "eval"
    fp = fingerprint("eval", model_path, _plain(cfg.eval), _plain(cfg.data))
    if is_complete(out, fp):
        return read_summary(out)
    claim_stage_dir(out, fp)
    summary = evaluate_items(model_path, load_split(data_dir, "test"), out, _plain(cfg.eval))
    return write_summary(out, fp, {"stage": "eval", **summary})
