"""What each stage builds: data, base, teacher, sft, kd, rl, policy_traces, eval. Each builder reads paths, writes
one folder through `launch.stage_state.run_stage` (lock, skip when complete, claim, time, `summary.json` last) and
returns paths or its summary; no builder calls another. The order they run in, and what passes between them, is
the condition's (launch/conditions.py).

Folders are content-addressed: `${output_root}/shared/<stage>/<fingerprint>`, so every condition and seed that
needs the same stage with the same inputs (data, base, teacher traces; the SFT, KD, GRPO and policy-sampling runs
of one seed) builds it once. Only eval writes into the run's own folder.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from data.atomic_io import file_sha256
from data.jsonl_io import AppendOnlyJsonl, read_jsonl, read_verified_jsonl, write_jsonl_atomic
from data.records import answer_only_completion, completion_messages, prompt_messages
from data.toy_world import SPLITS as TOY_SPLITS
from data.toy_world import ToyWorld, ToyWorldConfig
from launch.config_check import CONF_DIR, ConfigError
from launch.stage_state import fingerprint, run_stage
from sft import distributed

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


def ranks() -> list[dict[str, int]]:
    """What a training stage's fingerprint adds under several processes: the world size (each rank trains on its own
    batch, so the global batch, and the result, depend on it); nothing for one process (fingerprints as before)."""
    n = distributed.world_size()
    return [{"world_size": n}] if n > 1 else []


def attn_implementation(cfg: DictConfig) -> str | None:
    """`model.attn_implementation` for every trainer (SFT, KD, GRPO, the toy base): flash_attention_2 falls back to
    sdpa with one log line when flash-attn is not installed (data.hub.resolve_attn_implementation)."""
    return cfg.model.get("attn_implementation")


# ---- data ------------------------------------------------------------------------------------------
def stage_data(cfg: DictConfig) -> Path:
    """Train and held-out test problems of `data.name` (the toy world, or a real source: data/sources.py), written
    once (atomically, with checksums) and cached; a real source's summary counts every problem it dropped. A local
    file's content is part of the fingerprint (an edited file is read again)."""
    files = [_file_digest(cfg.data.get(f"{s}_path")) for s in ("train", "test")] if cfg.data.name != "toy" else []
    held_out = benchmark_files(cfg) if cfg.data.name != "toy" else {}
    fp = fingerprint(
        "data", _plain(cfg.data), *files, *([held_out] if held_out else [])
    )  # toy / no benchmarks: as before
    out = shared_dir(cfg, "data", fp)

    def build(out: Path) -> dict[str, Any]:
        if cfg.data.name == "toy":
            log.info("data: building toy world %s", fp)
            world = ToyWorld(_world_config(cfg))
            return {s: write_jsonl_atomic(out / f"{s}.jsonl", world.problems(s)) for s in TOY_SPLITS}
        from data.sources import load_source
        from rewards.extract import last_boxed

        log.info("data: reading %s %s", cfg.data.name, fp)
        records, report = load_source(_plain(cfg.data), last_boxed, benchmark_questions(cfg) if held_out else None)
        log.info("data: %s", report)
        written = {s: write_jsonl_atomic(out / f"{s}.jsonl", records[s]) for s in ("train", "test")}
        return {**written, "source": str(cfg.data.name), "filter_report": report}

    def intact(out: Path) -> bool:  # a damaged split (checksum mismatch) is rebuilt
        splits = TOY_SPLITS if cfg.data.name == "toy" else ("train", "test")
        return all(read_verified_jsonl(out / f"{s}.jsonl") is not None for s in splits)

    run_stage("data", out, fp, build, complete=intact)
    return out


def _file_digest(path: str | None) -> str | None:
    """sha256 of a local data file (None for no file; a folder by its path alone)."""
    if path is None or not Path(path).expanduser().is_file():
        return None
    return file_sha256(Path(path).expanduser())


def benchmark_path(cfg: DictConfig, name: str) -> str | None:
    """Where benchmark `name` is read from: `eval.benchmark_paths.<name>`, else its preset's path (null: the hub)."""
    return (cfg.eval.get("benchmark_paths") or {}).get(name) or benchmark_preset(name)["path"]


def benchmark_files(cfg: DictConfig) -> dict[str, Any]:
    """`{benchmark: [path, sha256 of a local file]}` for every benchmark of `eval.benchmarks` (what the data stage
    decontaminates against, part of its fingerprint; {} without benchmarks)."""
    names = list(cfg.eval.get("benchmarks") or [])
    return {name: [benchmark_path(cfg, name), _file_digest(benchmark_path(cfg, name))] for name in names}


def benchmark_questions(cfg: DictConfig) -> dict[str, list[str]]:
    """The questions of every benchmark of `eval.benchmarks` (`{name: questions}`), the held-out sets training data is
    decontaminated against besides the data's own test split."""
    from data.benchmarks import load_benchmark

    names = list(cfg.eval.get("benchmarks") or [])
    return {name: [i["question"] for i in load_benchmark(name, path=benchmark_path(cfg, name))] for name in names}


def held_out_questions(cfg: DictConfig, data_dir: Path) -> dict[str, list[str]]:
    """Every held-out set of a run, `{"test": the data's test split, <benchmark>: its questions, ...}`."""
    return {"test": [p["question"] for p in load_split(data_dir, "test")], **benchmark_questions(cfg)}


def decontaminate_traces(
    cfg: DictConfig, traces: list[dict[str, Any]], data_dir: Path
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Real data only: the trace records whose problem shares no word `data.decontam_ngram`-gram with a held-out
    question (the test split and every eval benchmark), and the drops per held-out set (`decontam_<set>`)."""
    from data.sources import decontaminate_against

    kept, dropped = decontaminate_against(
        traces, "problem", held_out_questions(cfg, data_dir), cfg.data.get("decontam_ngram")
    )
    return kept, {f"decontam_{name}": n for name, n in dropped.items()}


def check_data(cfg: DictConfig) -> None:
    """A real source that cannot be read (hf without a hub id or local files): ConfigError before anything runs."""
    if cfg.data.name != "toy":
        from data.sources import check_source

        try:
            check_source(_plain(cfg.data))
        except ValueError as error:
            raise ConfigError(str(error)) from None


def load_split(data_dir: Path, split: str) -> list[dict[str, Any]]:
    rows = read_verified_jsonl(data_dir / f"{split}.jsonl")
    if rows is None:
        raise RuntimeError(f"{data_dir / split}.jsonl is missing or damaged; re-run the data stage")
    return rows


# ---- base ------------------------------------------------------------------------------------------
# model.pretrain keys of the worked solutions in the toy base's corpus; out of the base fingerprint while
# n_solutions is 0, so a corpus without solutions keeps the base it always had.
SOLUTION_KEYS = ("n_solutions", "solution_styles", "slip_share", "skip_share", "chat_share")
# How a web page ends a worked solution (model.pretrain.solution_styles).
SOLUTION_ENDINGS = {
    "answer_is": "The answer is {answer}.",
    "hashes": "#### {answer}",
    "boxed": "\\boxed{{{answer}}}",
}
# How it introduces the question and the solution (drawn per document).
_SOLUTION_FRAMES = (
    ("Question: {q}\nAnswer:\n", ""),
    ("Q: {q}\nA: ", ""),
    ("{q}\nSolution:\n", ""),
    ("Problem: {q}\n", "Let's work it out step by step.\n"),
    ("{q}\n", ""),
)


def _chat_turn(question: str, solution: str) -> str:
    """A `chat_share` solution as instruction data, as modern pretraining mixes hold it: the question as a chat turn
    in the student's own prompt form (data/records.py prompt_messages), the solution as the assistant's turn."""
    user = prompt_messages(question)[0]["content"]
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{solution}<|im_end|>"


def model_settings(cfg: DictConfig) -> dict[str, Any]:
    """`cfg.model` as the base stage fingerprints it: the worked-solution keys only when `n_solutions` > 0, and not
    `prebuilt` (where a built copy may be found changes nothing about the base)."""
    model = _plain(cfg.model)
    model.pop("prebuilt", None)
    pre = model.get("pretrain")
    if pre and not pre.get("n_solutions"):
        model["pretrain"] = {k: v for k, v in pre.items() if k not in SOLUTION_KEYS}
    return model


def worked_solutions(pre: Mapping[str, Any], train: list[dict[str, Any]]) -> list[dict[str, str]]:
    """`pre.n_solutions` training problems (a seeded sample of the train split, so never a held-out one) written as
    web-like worked solutions: the program teacher's steps (sentences or bare equations, either operand order),
    a `slip_share` with one arithmetic slip (a wrong answer), a `skip_share` with two operations in one line, a
    `chat_share` framed as a chat turn (instruction data), and an ending taken in turn from `solution_styles`
    ("The answer is N.", "#### N", `\\boxed{N}`)."""
    from sft.teachers.program import ProgramTeacher, foldable_steps, write_trace

    n = min(int(pre["n_solutions"]), len(train))
    styles = list(pre["solution_styles"])
    chat_share = float(pre.get("chat_share") or 0.0)
    rng = random.Random("pretrain-solutions")
    docs = []
    for index, problem in enumerate(rng.sample(train, n)):
        path = rng.randrange(4)
        fold = None
        if rng.random() < float(pre["skip_share"]) and foldable_steps(problem):
            fold = rng.choice(foldable_steps(problem))
        trace, answer = write_trace(problem, path, fold_step=fold)
        if rng.random() < float(pre["slip_share"]):
            trace, answer = ProgramTeacher._slipped(problem, path, rng, fold) or (trace, answer)
        steps = trace.split("<think>\n", 1)[1].split("\n</think>", 1)[0]
        head, lead = rng.choice(_SOLUTION_FRAMES)
        ending = SOLUTION_ENDINGS[styles[index % len(styles)]].format(answer=answer)
        if chat_share and rng.random() < chat_share:
            text = _chat_turn(problem["question"], steps + "\n" + ending)
        else:
            text = head.format(q=problem["question"]) + lead + steps + "\n" + ending
        docs.append({"text": text})
    return docs


def _pretrain_rows(cfg: DictConfig, world: ToyWorld, train: list[dict[str, Any]]) -> list[dict[str, str]]:
    pre = cfg.model.pretrain
    facts = world.arithmetic_facts(int(pre.n_facts), seed=0)
    per = int(pre.facts_per_doc)
    rows = [{"text": "\n".join(facts[i : i + per])} for i in range(0, len(facts), per)]
    rows += [{"text": p["question"]} for p in train[: int(pre.n_statements)]]
    if pre.get("n_solutions"):
        rows += worked_solutions(_plain(pre), train)
    random.Random(0).shuffle(rows)
    return rows


def check_base(cfg: DictConfig) -> None:
    """The toy base is pretrained on the toy world only: real data needs a pretrained student (ConfigError)."""
    if not cfg.model.name_or_path and cfg.data.name != "toy":
        raise ConfigError(
            f"data={cfg.data.name} needs a pretrained student, but model.name_or_path is null (model={cfg.model.name}"
            " builds its base from the toy world, only with data=toy); valid: a hub model (model=qwen3_0p6b, "
            "qwen3_1p7b, ...) or model.name_or_path=<local model dir or hub id>"
        )


def base_fingerprint(cfg: DictConfig) -> str:
    """The toy base's fingerprint: the data config without `n_dev` (the base reads the train split only, which the
    dev split leaves as it is, so adding one keeps every cached base), the model settings and the ranks."""
    data = {k: v for k, v in _plain(cfg.data).items() if k != "n_dev"}
    return fingerprint("base", data, model_settings(cfg), *ranks())


def stage_base(cfg: DictConfig, data_dir: Path, use_prebuilt: bool = True) -> str:
    """The condition's start point: a hub model as it is, or the toy base model built once and cached: copied from
    the repository's prebuilt copy (`model.prebuilt`, launch/prebuilt_base.py) when it was built for this config,
    else pretrained."""
    if cfg.model.name_or_path:
        return str(cfg.model.name_or_path)
    check_base(cfg)
    from launch.prebuilt_base import install_prebuilt, prebuilt_dir, read_prebuilt
    from sft.tiny_model import build_tiny_model, build_tokenizer, toy_tokenizer_corpus
    from sft.train import train_sft

    fp = base_fingerprint(cfg)

    def build(out: Path) -> dict[str, Any]:
        folder = prebuilt_dir(cfg) if use_prebuilt else None
        manifest = read_prebuilt(folder, fp)
        if manifest is not None:
            return install_prebuilt(folder, manifest, out)
        train = load_split(data_dir, "train")
        world = ToyWorld(_world_config(cfg))
        init_dir = out / "init"

        def init_model() -> None:
            if not (init_dir / "config.json").exists():
                corpus = toy_tokenizer_corpus(train[: int(cfg.model.tokenizer.corpus_problems)], world)
                tokenizer = build_tokenizer(corpus, int(cfg.model.tokenizer.vocab_size), init_dir)
                build_tiny_model(tokenizer, _plain(cfg.model.arch), init_dir, seed=0)

        distributed.main_first(init_model)  # several ranks pretrain together: rank 0 writes init/, the rest read it
        rows = _pretrain_rows(cfg, world, train)
        log.info("base: pretraining the tiny model on %d documents", len(rows))
        return train_sft(
            str(init_dir),
            rows,
            out,
            _plain(cfg.model.pretrain),
            seed=0,
            report_to="none",
            attn_implementation=attn_implementation(cfg),
        )

    return str(run_stage("base", shared_dir(cfg, "base", fp), fp, build)["model_path"])


# ---- format ----------------------------------------------------------------------------------------
def trace_format_of(cfg: DictConfig) -> Any:
    """The run's trace format (conf/format/, data/trace_format.py); `pre` when the config has no format group."""
    from data.trace_format import TraceFormat

    return TraceFormat.from_mapping(_plain(cfg.get("format")))


def format_if_not_pre(cfg: DictConfig) -> Any:
    """The run's trace format, or None when it is pre: the stages add a format to their settings and fingerprints
    only when it is not pre, so that a pre config keeps every fingerprint (and cached result) it always had."""
    fmt = trace_format_of(cfg)
    return None if fmt.is_default else fmt


def check_format(cfg: DictConfig) -> None:
    """A format other than pre needs a teacher that writes or is prompted for it (program, hf, vllm, openai):
    dataset and multi teachers bring traces in the pre layout (ConfigError naming the valid ones)."""
    from sft.teachers.base import backend_name

    fmt = trace_format_of(cfg)
    backend = backend_name(_plain(cfg.teacher))
    if not fmt.is_default and backend not in ("program", "hf", "vllm", "openai"):
        raise ConfigError(
            f"format={fmt.name} needs a teacher that writes that format; teacher={cfg.teacher.name} (backend "
            f"{backend}) brings pre-format traces; valid: teacher=program, hf, vllm or openai, or format=pre"
        )


# ---- teacher ---------------------------------------------------------------------------------------
def teacher_settings(cfg: DictConfig) -> dict[str, Any]:
    """`cfg.teacher` as the teacher and SFT stages fingerprint it: the ablation keys only when an ablation is on and
    the trace format only when it is not pre, so that the default config keeps every fingerprint it had."""
    settings = _plain(cfg.teacher)
    if settings.get("ablation", "none") == "none":
        settings.pop("ablation", None)
        settings.pop("ablation_share", None)
    fmt = format_if_not_pre(cfg)
    if fmt is not None:
        settings["format"] = fmt.as_dict()
    return settings


def teacher_budget(teacher_cfg: Mapping[str, Any]) -> int | None:
    """`teacher.max_problems`: traces for only the first N training problems (GRPO still sees every problem's
    answer); None (every problem) when it is null or absent. ValueError for anything but a positive integer."""
    limit = teacher_cfg.get("max_problems")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"teacher.max_problems={limit!r} must be a positive integer or null (every problem)")
    return limit


def check_teacher(cfg: DictConfig) -> None:
    """The program teacher writes traces from the toy world's structured solutions: real data needs another teacher
    (ConfigError naming them)."""
    from sft.teachers.base import backend_name

    check_dataset_file(_plain(cfg.teacher), "teacher")
    if cfg.data.name != "toy" and backend_name(_plain(cfg.teacher)) == "program":
        raise ConfigError(
            f"teacher=program writes traces from the toy world's structured solutions, which data={cfg.data.name} "
            "does not have; valid: teacher=hf, vllm, openai, multi or a dataset teacher (dataset_s1k, ...)"
        )


def check_dataset_file(teacher_cfg: Mapping[str, Any], where: str) -> None:
    """A dataset teacher's local file (`path`, a string) that lacks a column of its schema: ConfigError naming them and
    the columns the file has, before anything runs."""
    from sft.teachers.base import backend_name

    if backend_name(teacher_cfg) != "dataset" or not isinstance(teacher_cfg.get("path"), str):
        return
    from data.sources import check_local_columns
    from sft.teachers.dataset import DatasetTeacherConfig, required_columns

    config = DatasetTeacherConfig.from_mapping(teacher_cfg)
    try:
        check_local_columns(config.path, required_columns(config), f"{where}={teacher_cfg.get('name')}")
    except ValueError as error:
        raise ConfigError(str(error)) from None


def stage_teacher(cfg: DictConfig, data_dir: Path) -> Path:
    """Teacher traces for every training problem: append-only JSONL that a re-run resumes."""
    from tqdm.auto import tqdm

    from launch.teacher_configs import resolve_teacher_config
    from sft.teachers.accounting import teacher_accounting
    from sft.teachers.base import build_teacher

    teacher_cfg = _plain(cfg.teacher)
    budget = teacher_budget(teacher_cfg)
    fp = fingerprint("teacher", _plain(cfg.data), teacher_settings(cfg))

    def build(out: Path) -> dict[str, Any]:
        resolved = resolve_teacher_config(teacher_cfg)  # a multi teacher's named entries expanded from conf/teacher/
        teacher = build_teacher(resolved, format_if_not_pre(cfg))
        train = load_split(data_dir, "train")[:budget] if teacher.uses_problems else []
        with AppendOnlyJsonl(out / "traces.jsonl") as writer:
            done = {str(r["id"]): r for r in read_jsonl(out / "traces.jsonl")}  # ids -> records (multi reads verdicts)
            for record in tqdm(teacher.generate(train, done), desc="teacher traces", unit="trace"):
                writer.write(record)
        traces = read_jsonl(out / "traces.jsonl")
        return {
            "teacher": teacher.name,
            "n_traces": len(traces),
            "accounting": teacher_accounting(traces, resolved, getattr(teacher, "stats", None)),
            "n_verified": sum(bool(t["verified"]) for t in traces),
            "n_problems": len(train) if teacher.uses_problems else len({t["problem_id"] for t in traces}),
            "tokens_in": sum(int(t.get("tokens_in") or 0) for t in traces),
            "tokens_out": sum(int(t.get("tokens_out") or 0) for t in traces),
        }

    out = shared_dir(cfg, "traces", fp)
    run_stage("teacher", out, fp, build)
    return out


# ---- sft ------------------------------------------------------------------------------------------
def trace_rows(traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trace records as SFT examples in TRL's conversational prompt-completion format."""
    return [{"prompt": prompt_messages(t["problem"]), "completion": completion_messages(t["trace"])} for t in traces]


def filter_traces(
    cfg: DictConfig, traces: list[dict[str, Any]], data_dir: Path
) -> tuple[list[dict[str, Any]], dict[str, int] | None]:
    """The trace records that pass `cfg.filters` (sft/filters.py, decontaminated against the held-out split) and
    the per-filter drop counts; with filters off, only `teacher.only_verified` applies and the report is None."""
    if not cfg.filters.enabled:
        kept, report = ([t for t in traces if t["verified"]] if cfg.teacher.only_verified else traces), None
    else:
        from sft.filters import apply_filters

        settings = {k: v for k, v in _plain(cfg.filters).items() if k != "enabled"}
        questions = [p["question"] for p in load_split(data_dir, "test")]
        kept, report = apply_filters(traces, settings, questions, trace_format_of(cfg))
    if cfg.data.name != "toy":  # real data: never train on a held-out question (test split, eval.benchmarks)
        n_in = len(kept)
        kept, dropped = decontaminate_traces(cfg, kept, data_dir)
        report = {**(report or {"n_in": len(traces), "verified": len(traces) - n_in}), **dropped, "n_kept": len(kept)}
    if report is not None:
        log.info("trace filters: %s", report)
    return kept, report


def row_budget(cfg: DictConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`sft.max_rows`: at most N of `rows`, the first N of a shuffle seeded by the run seed (kept in their original
    order), so that trace SFT, re-distillation and KD train on equally many rows; every row when it is null or at
    least len(rows)."""
    limit = cfg.sft.get("max_rows")
    if limit is None or int(limit) >= len(rows):
        if limit is not None:
            log.info("sft.max_rows=%s: only %d rows exist, all are used", limit, len(rows))
        return rows
    picked = list(range(len(rows)))
    random.Random(int(cfg.seed)).shuffle(picked)
    log.info("sft.max_rows=%s: %d of %d rows", limit, int(limit), len(rows))
    return [rows[i] for i in sorted(picked[: int(limit)])]


def sft_settings(cfg: DictConfig) -> dict[str, Any]:
    """`cfg.sft` as the SFT and KD stages fingerprint it: `max_rows` only when set, so that a config without a row
    budget keeps the fingerprints it had before the key existed."""
    settings = _plain(cfg.sft)
    if settings.get("max_rows") is None:
        settings.pop("max_rows", None)
    return settings


def sft_examples(
    cfg: DictConfig, data_dir: Path, traces_dir: Path | None
) -> tuple[list[dict[str, Any]], dict[str, int] | None]:
    """The condition's SFT examples in TRL's conversational prompt-completion format (at most `sft.max_rows`), and
    the trace filters' report (None when no filter ran)."""
    mode = cfg.condition.sft_data
    if mode == "answer_only" and answers_from(cfg) == "teacher":  # the teacher's problems and gold answers (Orca-Math)
        if traces_dir is None:
            raise ValueError("condition.answers_from=teacher needs the 'teacher' stage before 'sft'")
        records, report = filter_traces(cfg, read_jsonl(traces_dir / "traces.jsonl"), data_dir)
        rows = [
            {
                "prompt": prompt_messages(t["problem"]),
                "completion": completion_messages(answer_only_completion(t["answer"])),
            }
            for t in records
        ]
        return row_budget(cfg, rows), report
    if mode == "answer_only":
        return row_budget(
            cfg,
            [
                {
                    "prompt": prompt_messages(p["question"]),
                    "completion": completion_messages(answer_only_completion(p["final_answer"])),
                }
                for p in load_split(data_dir, "train")
            ],
        ), None
    if mode == "trace":
        if traces_dir is None:
            raise ValueError("condition.sft_data=trace needs the 'teacher' stage before 'sft'")
        traces, report = filter_traces(cfg, read_jsonl(traces_dir / "traces.jsonl"), data_dir)
        return row_budget(cfg, trace_rows(traces)), report
    raise ValueError(f"unknown condition.sft_data {mode!r}; valid: ['answer_only', 'trace']")


def answers_from(cfg: DictConfig) -> str:
    """Where answer-only SFT takes its problems and answers: `data` (the training split, the default) or `teacher`
    (an answer-only teacher's records, e.g. teacher=dataset_orca)."""
    return str(cfg.condition.get("answers_from") or "data")


def teacher_gives_traces(teacher_cfg: Mapping[str, Any]) -> bool:
    """False for a teacher whose records are answers without reasoning (the Orca-Math dataset teacher)."""
    from sft.teachers.base import backend_name

    return not (backend_name(teacher_cfg) == "dataset" and teacher_cfg.get("schema") == "orca")


def check_sft(cfg: DictConfig) -> None:
    """What the SFT stage's data cannot feed, refused before anything runs: trace SFT from an answer-only teacher,
    answers_from=teacher without answer-only SFT."""
    mode, source = cfg.condition.sft_data, answers_from(cfg)
    if mode == "trace" and not teacher_gives_traces(_plain(cfg.teacher)):
        raise ConfigError(
            f"condition {cfg.condition.name!r} trains on reasoning traces (condition.sft_data=trace) but "
            f"teacher={cfg.teacher.name} has answers only (no reasoning); valid: a trace teacher (teacher=dataset_s1k, "
            "dataset_openr1, hf, vllm, openai, multi), or condition.sft_data=answer_only"
        )
    if source == "teacher" and mode != "answer_only":
        raise ConfigError(
            f"condition.answers_from=teacher with condition.sft_data={mode!r}: answers_from is for answer-only SFT; "
            "valid: condition.sft_data=answer_only, or condition.answers_from=data"
        )


def sft_rows(cfg: DictConfig, data_dir: Path, traces_dir: Path | None) -> list[dict[str, Any]]:
    """The condition's SFT examples (see `sft_examples`)."""
    return sft_examples(cfg, data_dir, traces_dir)[0]


def sft_source(cfg: DictConfig) -> Any:
    """What the SFT rows of `cfg.condition.sft_data` are made from (part of the SFT stage's fingerprint)."""
    from_teacher = cfg.condition.sft_data == "trace" or answers_from(cfg) == "teacher"
    source = [cfg.condition.sft_data, teacher_settings(cfg) if from_teacher else None]
    if cfg.filters.enabled and from_teacher:
        source.append(_plain(cfg.filters))
    if answers_from(cfg) == "teacher":  # only then: the fingerprints of existing conditions stay as they were
        source.append("answers_from_teacher")
    if from_teacher and cfg.data.name != "toy":  # real data: decontaminated against these held-out sets
        source.append(benchmark_files(cfg))
    return source


def stage_sft(cfg: DictConfig, base_path: str, rows: list[dict[str, Any]], source: Any = None) -> dict[str, Any]:
    """SFT of `base_path` on `rows` (made from `source`, by default the condition's `sft_data`), shared by every
    condition of the same seed that trains the same thing (trace_sft, sft_grpo, sft_control, redistill and kd all
    start from one trace-SFT run per seed)."""
    from sft.train import train_sft

    source = sft_source(cfg) if source is None else source
    fp = fingerprint("sft", base_path, sft_settings(cfg), _plain(cfg.deepspeed), source, cfg.seed, len(rows), *ranks())

    def build(out: Path) -> dict[str, Any]:
        return train_sft(
            base_path,
            rows,
            out,
            _plain(cfg.sft),
            seed=int(cfg.seed),
            report_to=report_to(cfg),
            deepspeed=_plain(cfg.deepspeed.config),
            dtype=cfg.model.dtype,
            attn_implementation=attn_implementation(cfg),
        )

    return run_stage("sft", shared_dir(cfg, "sft", fp), fp, build)


def continued_sft_config(cfg: DictConfig, sft: dict[str, Any], rl_train_seconds: float) -> tuple[DictConfig, int]:
    """The equal-compute control's recipe: `cfg` with `sft.max_steps` set to as many steps as the first SFT
    (`sft`, its summary) takes in `rl_train_seconds`, and `condition.continue_sft` applied (e.g. a lower learning
    rate for a converged student); returns the config and the step count. ValueError names an unknown key."""
    # train_seconds covers only the steps of the last (possibly resumed) run
    seconds_per_step = float(sft["train_seconds"]) / max(1, int(sft.get("steps_this_run", sft["steps"])))
    extra = max(1, math.ceil(float(rl_train_seconds) / seconds_per_step))
    more = copy.deepcopy(cfg)
    overrides = _plain(cfg.condition.get("continue_sft")) or {}
    unknown = sorted(set(overrides) - set(cfg.sft))
    if unknown:
        raise ValueError(
            f"condition.continue_sft keys {unknown} are not keys of the sft config; valid: {sorted(cfg.sft)}"
        )
    for key, value in overrides.items():
        more.sft[key] = value
    more.sft.max_steps = extra
    more.sft.save_steps = max(1, min(int(cfg.sft.save_steps), extra))
    return more, extra


def stage_kd(cfg: DictConfig, base_path: str, teacher_path: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Token-level KD: a fresh student from `base_path` learns the traces and the teacher's token distributions."""
    from sft.kd import train_kd

    kd_cfg = {**sft_settings(cfg), "kd": {**_plain(cfg.kd), "teacher": teacher_path}}
    fp = fingerprint("kd", base_path, kd_cfg, sft_source(cfg), cfg.seed, len(rows), *ranks())

    def build(out: Path) -> dict[str, Any]:
        return train_kd(
            base_path,
            teacher_path,
            rows,
            out,
            kd_cfg,
            seed=int(cfg.seed),
            report_to=report_to(cfg),
            dtype=cfg.model.dtype,
            attn_implementation=attn_implementation(cfg),
        )

    return run_stage("kd", shared_dir(cfg, "kd", fp), fp, build)


# ---- rl --------------------------------------------------------------------------------------------
def rl_rows(cfg: DictConfig, data_dir: Path) -> list[dict[str, Any]]:
    """GRPO prompts: every training problem as `{prompt, answer, id}` (the reward reads `answer`)."""
    return [
        {"prompt": prompt_messages(p["question"]), "answer": p["final_answer"], "id": p["id"]}
        for p in load_split(data_dir, "train")
    ]


FORMAT_REWARDS = ("correctness", "format")  # the rewards that read where the answer is (trace_format)


def reward_spec(cfg: DictConfig) -> dict[str, Any]:
    """`cfg.reward` with the run's trace format given to the correctness and format rewards when it is not pre
    (a pre config's spec, and so its GRPO fingerprint, is what it always was)."""
    spec = _plain(cfg.reward)
    fmt = format_if_not_pre(cfg)
    if fmt is not None:
        spec["funcs"] = [
            {**f, "trace_format": fmt.name} if f.get("name") in FORMAT_REWARDS else f for f in spec["funcs"]
        ]
    return spec


def rl_settings(cfg: DictConfig) -> dict[str, Any]:
    """`cfg.rl` with the trace format's chat-template arguments merged into `chat_template_kwargs` (post: Qwen3's
    `enable_thinking=False`, so that the policy answers first); unchanged for pre and adaptive."""
    settings = _plain(cfg.rl)
    extra = trace_format_of(cfg).chat_kwargs()
    if extra:
        settings["chat_template_kwargs"] = {**(settings.get("chat_template_kwargs") or {}), **extra}
    return settings


def stage_rl(cfg: DictConfig, model_path: str, data_dir: Path) -> dict[str, Any]:
    """GRPO from `model_path` (the SFT checkpoint, or the base for pure GRPO) with `cfg.rl` and `cfg.reward`;
    shared by the conditions of one seed that start it from the same model (sft_grpo, sft_control, redistill)."""
    from rl.train import train_grpo

    spec, settings = reward_spec(cfg), rl_settings(cfg)
    fp = fingerprint("rl", model_path, settings, spec, _plain(cfg.data), cfg.seed, *ranks())

    def build(out: Path) -> dict[str, Any]:
        return train_grpo(
            model_path,
            rl_rows(cfg, data_dir),
            out,
            settings,
            spec,
            seed=int(cfg.seed),
            report_to=report_to(cfg),
            dtype=cfg.model.dtype,
            attn_implementation=attn_implementation(cfg),
        )

    return run_stage("rl", shared_dir(cfg, "rl", fp), fp, build)


# ---- re-distillation ---------------------------------------------------------------------------------
def stage_policy_traces(cfg: DictConfig, policy_path: str, data_dir: Path) -> Path:
    """`redistill.sampling.n_paths` completions per training problem (the first `sampling.n_problems`) sampled
    from the GRPO policy (the `hf` teacher backend with the policy as teacher, prompted as the student is, in the
    run's trace format), each verified against the gold (post: its leading answer): append-only, resumable."""
    from tqdm.auto import tqdm

    from sft.teachers.hf import HFTeacher, HFTeacherConfig

    if redistill_dataset(cfg):
        return stage_dataset_traces(cfg, data_dir)
    sampling = _plain(cfg.redistill.sampling)
    fmt = format_if_not_pre(cfg)  # the policy writes the run's format: verified by its answer region (post: the lead)
    fmt_part = [] if fmt is None else [fmt.as_dict()]
    fp = fingerprint("policy_traces", policy_path, sampling, _plain(cfg.data), cfg.seed, *fmt_part)

    def build(out: Path) -> dict[str, Any]:
        import torch

        torch.manual_seed(int(cfg.seed))
        teacher = HFTeacher(
            HFTeacherConfig(
                name_or_path=policy_path,
                n_paths=int(sampling["n_paths"]),
                temperature=float(sampling["temperature"]),
                top_p=float(sampling["top_p"]),
                max_new_tokens=int(sampling["max_new_tokens"]),
                batch_size=int(sampling["batch_size"]),
                dtype=cfg.model.dtype,
                compact_every=sampling["compact_every"],
            ),
            student_prompts=True,
        )
        teacher.name = "rl_policy"
        teacher.fmt = fmt
        problems = load_split(data_dir, "train")
        if sampling["n_problems"]:
            problems = problems[: int(sampling["n_problems"])]
        with AppendOnlyJsonl(out / "traces.jsonl") as writer:
            for record in tqdm(teacher.generate(problems, set(writer.done_keys)), desc="policy traces", unit="trace"):
                writer.write(record)
        traces = read_jsonl(out / "traces.jsonl")
        return {
            "policy": policy_path,
            "n_problems": len(problems),
            "n_traces": len(traces),
            "n_verified": sum(bool(t["verified"]) for t in traces),
            "problems_solved": len({t["problem_id"] for t in traces if t["verified"]}),
        }

    out = shared_dir(cfg, "policy_traces", fp)
    run_stage("policy_traces", out, fp, build)
    return out


def redistill_dataset(cfg: DictConfig) -> str | None:
    """The conf/teacher/ name of the verified-trace dataset re-distillation reads (`redistill.source`), or None when it
    samples the GRPO policy (`redistill.source=policy`, the default)."""
    source = str(cfg.redistill.get("source") or "policy")
    return None if source == "policy" else source


REDISTILL_DATASETS = ("dataset_openr1", "dataset_s1k")  # conf/teacher/ files with verified reasoning traces


def check_redistill(cfg: DictConfig) -> None:
    """`redistill.source` names the policy or a verified-trace dataset; a dataset source reads the same traces every
    round, so it runs one round (ConfigError otherwise)."""
    source = redistill_dataset(cfg)
    if source is None:
        return
    if source not in REDISTILL_DATASETS:
        raise ConfigError(
            f"redistill.source={source!r} is not a source of verified reasoning traces; valid: "
            f"{['policy', *REDISTILL_DATASETS]}"
        )
    from launch.teacher_configs import teacher_file

    check_dataset_file(
        {**teacher_file(source), **({"path": str(cfg.redistill.source_path)} if cfg.redistill.source_path else {})},
        "redistill.source",
    )
    if int(cfg.redistill.rounds) != 1:
        raise ConfigError(
            f"redistill.rounds={cfg.redistill.rounds} with redistill.source={source}: a dataset gives the same traces "
            "every round; valid: redistill.rounds=1, or redistill.source=policy"
        )


def stage_dataset_traces(cfg: DictConfig, data_dir: Path) -> Path:
    """Re-distillation from a verified-trace dataset (the reference study's condition 3: 1k OpenR1-Math traces verified
    correct): the dataset teacher `redistill.source` (conf/teacher/<source>.yaml, `redistill.source_path` a local copy)
    read in order, its verified traces kept (one per problem, none whose problem shares an n-gram with a held-out set
    on real data) up to `redistill.max_traces`; written like the policy's traces so that redistill_sft reads them."""
    from launch.teacher_configs import teacher_file
    from sft.teachers.base import build_teacher

    source = str(redistill_dataset(cfg))
    teacher_cfg = teacher_file(source)
    if cfg.redistill.get("source_path"):
        teacher_cfg["path"] = str(cfg.redistill.source_path)
    budget = cfg.redistill.get("max_traces")
    held_out = benchmark_files(cfg) if cfg.data.name != "toy" else {}
    digest = _file_digest(teacher_cfg.get("path")) if isinstance(teacher_cfg.get("path"), str) else None
    fp = fingerprint("dataset_traces", teacher_cfg, digest, budget, _plain(cfg.data), held_out)

    def build(out: Path) -> dict[str, Any]:
        verified, seen = [], set()
        n_rows = 0
        for record in build_teacher(teacher_cfg).generate([], set()):
            n_rows += 1
            if record["verified"] and record["problem_id"] not in seen:
                seen.add(record["problem_id"])
                verified.append(record)
        kept, dropped = decontaminate_traces(cfg, verified, data_dir) if cfg.data.name != "toy" else (verified, {})
        kept = kept[: int(budget)] if budget is not None else kept
        write_jsonl_atomic(out / "traces.jsonl", kept)
        log.info("redistill: %d verified %s traces kept of %d records (%s)", len(kept), source, n_rows, dropped)
        return {
            "source": source,
            "n_problems": len(seen),
            "n_traces": n_rows,
            "n_verified": len(verified),
            "problems_solved": len(kept),
            "filter_report": {"n_verified": len(verified), **dropped, "n_kept": len(kept)},
        }

    out = shared_dir(cfg, "dataset_traces", fp)
    run_stage("dataset_traces", out, fp, build)
    return out


def redistill_rows(
    cfg: DictConfig, policy_traces: Path, traces_dir: Path | None, data_dir: Path
) -> tuple[list[dict[str, Any]], dict[str, int] | None]:
    """The verified policy traces (exact duplicates dropped; every filter of `cfg.filters` when it is on), plus
    `redistill.mix_teacher` times as many teacher traces (filtered the same way) when that share is > 0; and the
    filters' report on the policy traces (None when filters are off). At most `sft.max_rows` rows."""
    report = None
    if cfg.filters.enabled:
        kept, report = filter_traces(cfg, read_jsonl(policy_traces / "traces.jsonl"), data_dir)
    else:
        seen: set[tuple[str, str]] = set()
        kept = []
        for t in read_jsonl(policy_traces / "traces.jsonl"):
            key = (t["problem_id"], t["trace"].strip())
            if t["verified"] and key not in seen:
                seen.add(key)
                kept.append(t)
        if cfg.data.name != "toy":  # real data: never train on a held-out question (test split, eval.benchmarks)
            n_verified = len(kept)
            kept, dropped = decontaminate_traces(cfg, kept, data_dir)
            report = {"n_verified_unique": n_verified, **dropped, "n_kept": len(kept)}
    share = float(cfg.redistill.mix_teacher)
    if share > 0:
        if traces_dir is None:
            raise ValueError("redistill.mix_teacher > 0 needs the 'teacher' stage in the condition")
        teacher = [t for t in filter_traces(cfg, read_jsonl(traces_dir / "traces.jsonl"), data_dir)[0] if t["verified"]]
        random.Random(int(cfg.seed)).shuffle(teacher)
        kept += teacher[: int(share * len(kept))]
    return row_budget(cfg, trace_rows(kept)), report


def redistill_source(cfg: DictConfig, policy_traces: Path) -> list[Any]:
    """What a re-distillation SFT's rows are made from (part of its SFT stage's fingerprint)."""
    source = ["redistill", str(policy_traces), float(cfg.redistill.mix_teacher)]
    if cfg.filters.enabled:
        source.append(_plain(cfg.filters))
    if cfg.data.name != "toy":  # real data: decontaminated against these held-out sets
        source.append(benchmark_files(cfg))
    return source


# ---- eval ------------------------------------------------------------------------------------------
def benchmark_preset(name: str) -> dict[str, Any]:
    """conf/benchmark/<name>.yaml as a plain dict (its path, limit and token budget)."""
    return _plain(OmegaConf.load(CONF_DIR / "benchmark" / f"{name}.yaml"))


def eval_budget(cfg: DictConfig, benchmark: str | None = None) -> int:
    """Generation budget of one evaluated set: `eval.max_new_tokens` when set, else the benchmark's own
    (conf/benchmark/<name>.yaml); for the data's test split (`benchmark` None) the budget of the benchmark that split
    is (data/sources.py TEST_BENCHMARK), or `data.max_new_tokens` for a hub dataset. ConfigError when it is not a
    positive integer."""
    from data.sources import TEST_BENCHMARK

    if cfg.eval.max_new_tokens is not None:
        value, where = cfg.eval.max_new_tokens, "eval.max_new_tokens"
    elif benchmark is None and cfg.data.name not in TEST_BENCHMARK:
        value, where = cfg.data.get("max_new_tokens"), "data.max_new_tokens"
    else:
        name = benchmark or TEST_BENCHMARK[cfg.data.name]
        value, where = benchmark_preset(name).get("max_new_tokens"), f"conf/benchmark/{name}.yaml max_new_tokens"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{where}={value!r}: the eval budget must be a positive integer (eval.max_new_tokens=<int >= 1>, or null "
            "for the benchmark's own)"
        )
    return value


def check_eval(cfg: DictConfig) -> None:
    """Every evaluated set has a budget and a known benchmark (ConfigError naming the valid ones)."""
    from data.benchmarks import BENCHMARKS

    names = list(cfg.eval.get("benchmarks") or [])
    valid = sorted(set(BENCHMARKS) & {p.stem for p in (CONF_DIR / "benchmark").glob("*.yaml")})
    for name in names:
        if name not in valid:
            raise ConfigError(f"eval.benchmarks: {name!r} is not a benchmark; valid: {valid}")
    for name in names or [None]:
        eval_budget(cfg, name)
    split = held_out_split(cfg)
    if split not in ("test", "dev"):
        raise ConfigError(f"eval.split={split!r}; valid: 'test' (report) or 'dev' (tune)")
    if split == "dev" and (cfg.data.name != "toy" or names):
        raise ConfigError(
            f"eval.split=dev: only the toy world has a dev split (data={cfg.data.name}, "
            f"eval.benchmarks={names or None}); valid: data=toy without eval.benchmarks, or eval.split=test"
        )


def held_out_split(cfg: DictConfig) -> str:
    """The split the eval stage scores: `test` (what is reported) or `dev` (what is tuned on; toy world only)."""
    return str(cfg.eval.get("split") or "test")


def _eval_settings(cfg: DictConfig) -> dict[str, Any]:
    """The eval group without the keys only this stage reads (which benchmarks, their local copies)."""
    from eval.settings import PIPELINE_KEYS

    return {k: v for k, v in _plain(cfg.eval).items() if k not in PIPELINE_KEYS}


def benchmark_eval_config(cfg: DictConfig, name: str, model_path: str) -> dict[str, Any]:
    """The eval settings of benchmark `name` as `python -m eval.run` makes them (eval.run.eval_config: the benchmark's
    budget and limit), prompted as the pipeline trains (question + the \\boxed{} instruction) for number and
    expression answers unless eval.prompt_template is set, in the run's trace format."""
    from data.benchmarks import TINYGSM_TEMPLATE, get_spec
    from eval.run import eval_config

    preset = {**benchmark_preset(name), "max_new_tokens": eval_budget(cfg, name)}
    settings = eval_config(
        OmegaConf.create({"eval": _eval_settings(cfg), "benchmark": preset, "label": name, "model_path": model_path})
    )
    if settings["prompt_template"] is None and get_spec(name).answer_type in ("number", "expression"):
        settings["prompt_template"] = TINYGSM_TEMPLATE
    settings["report"] = bool(cfg.eval.report)
    fmt = format_if_not_pre(cfg)
    if fmt is not None:  # prompted and scored in the format the student was trained in (post: its leading answer)
        settings["trace_format"] = fmt.name
    return settings


def stage_eval(cfg: DictConfig, model_path: str, data_dir: Path, name: str = "eval") -> dict[str, Any]:
    """Held-out accuracy of `model_path` on the test split (`eval.split=dev`: the dev split), in `<name>/`."""
    from eval.evaluate import evaluate_items

    settings = format_eval_settings(cfg)
    split = held_out_split(cfg)
    fp = fingerprint("eval", model_path, *_eval_identity(cfg), _plain(cfg.data), *([split] if split != "test" else []))

    def build(out: Path) -> dict[str, Any]:
        return {**evaluate_items(model_path, load_split(data_dir, split), out, settings), "split": split}

    return run_stage("eval", run_dir(cfg) / name, fp, build)


def format_eval_settings(cfg: DictConfig) -> dict[str, Any]:
    """The eval stage's settings: the eval group, its budget, and the trace format when it is not pre."""
    settings = {**_eval_settings(cfg), "max_new_tokens": eval_budget(cfg)}
    fmt = format_if_not_pre(cfg)
    if fmt is not None:
        settings["trace_format"] = fmt.name
    return settings


def _eval_identity(cfg: DictConfig) -> list[Any]:
    """What an eval fingerprint reads of the config: the eval settings, plus the format when it is not pre."""
    fmt = format_if_not_pre(cfg)
    return [_eval_settings(cfg)] + ([] if fmt is None else [fmt.as_dict()])


def check_measures(cfg: DictConfig) -> None:
    """eval.error_propagation / eval.template_shift read the toy world's structured problems (ConfigError)."""
    wanted = [k for k in ("error_propagation", "template_shift") if cfg.eval.get(k)]
    if wanted and cfg.data.name != "toy":
        raise ConfigError(
            f"eval.{wanted[0]} probes the toy world's structured problems; data={cfg.data.name} has none; valid: "
            "data=toy, or eval.error_propagation=null eval.template_shift=false"
        )


def stage_template_shift(cfg: DictConfig, model_path: str, data_dir: Path) -> dict[str, Any]:
    """Held-out accuracy on the template-shift split: the test problems re-told in surface stories never used in
    training (data.toy_world.shift_problem), in the run folder's `eval_shift/`."""
    from data.toy_world import shift_problem
    from eval.evaluate import evaluate_items

    settings = format_eval_settings(cfg)
    fp = fingerprint("eval_shift", model_path, *_eval_identity(cfg), _plain(cfg.data))

    def build(out: Path) -> dict[str, Any]:
        return evaluate_items(model_path, [shift_problem(p) for p in load_split(data_dir, "test")], out, settings)

    return run_stage("eval", run_dir(cfg) / "eval_shift", fp, build)


def stage_error_propagation(cfg: DictConfig, model_path: str, data_dir: Path, eval_dir: Path) -> dict[str, Any]:
    """Error propagation (eval/error_propagation.py) on the first `eval.error_propagation` test problems, against
    the eval stage's own verdicts in `eval_dir`, in the run folder's `eval_propagation/`."""
    from eval.error_propagation import error_propagation

    settings = format_eval_settings(cfg)
    n = int(cfg.eval.error_propagation)
    fp = fingerprint("error_propagation", model_path, *_eval_identity(cfg), _plain(cfg.data), n)

    def build(out: Path) -> dict[str, Any]:
        baseline = {str(r["id"]): bool(r["correct"]) for r in read_jsonl(eval_dir / "items.jsonl")}
        return error_propagation(model_path, load_split(data_dir, "test")[:n], baseline, out, settings)

    return run_stage("error_propagation", run_dir(cfg) / "eval_propagation", fp, build)


def stage_benchmarks(cfg: DictConfig, model_path: str) -> dict[str, dict[str, Any]]:
    """`model_path` on every benchmark of `eval.benchmarks` (each in the run folder's `eval_<benchmark>/`, resumable),
    loaded from `eval.benchmark_paths.<name>`, else the preset's path, else the hub: `{benchmark: summary}`."""
    from data.benchmarks import load_benchmark
    from eval.evaluate import evaluate_items

    results = {}
    for name in cfg.eval.benchmarks:
        settings = benchmark_eval_config(cfg, name, model_path)
        path = benchmark_path(cfg, name)
        fp = fingerprint("eval", model_path, settings, name, path, _file_digest(path))  # an edited file is scored again

        def build(out: Path, name: str = name, path: Any = path, settings: dict[str, Any] = settings) -> dict[str, Any]:
            return evaluate_items(model_path, load_benchmark(name, path=path), out, settings)

        results[name] = run_stage("eval", run_dir(cfg) / f"eval_{name}", fp, build)
    return results


# ---- deploy ----------------------------------------------------------------------------------------
def stage_deploy(cfg: DictConfig, model_path: str, data_dir: Path) -> dict[str, Any]:
    """The final student exported to GGUF (`deploy.quant`, launch/export.py) and that file evaluated with llama.cpp
    on the held-out split with the eval stage's settings (backend llama_cpp), in the run folder's `deploy/`:
    `{quant, gguf_bytes, source_bytes, size_ratio, accuracy, n_eval, ...}`."""
    from eval.evaluate import evaluate_items
    from launch.export import export, weight_bytes

    deploy = _plain(cfg.deploy)
    settings = {
        **_eval_settings(cfg),
        "max_new_tokens": eval_budget(cfg),
        "backend": "llama_cpp",
        "report": False,
        "llama_cpp": {"n_threads": deploy.get("n_threads") or int(cfg.threads)},
    }
    fp = fingerprint("deploy", model_path, deploy, settings, _plain(cfg.data))

    def build(out: Path) -> dict[str, Any]:
        gguf = out / f"model-{deploy['quant']}.gguf"
        info = export(
            {
                "model_path": model_path,
                "quant": deploy["quant"],
                "embedding_quant": deploy["embedding_quant"],
                "out": str(gguf),
                "label": f"{cfg.condition.name}-seed{cfg.seed}",
            }
        )
        source = weight_bytes(model_path) if Path(model_path).is_dir() else None
        summary = evaluate_items(str(gguf), load_split(data_dir, "test"), out / "eval", settings)
        return {
            "quant": deploy["quant"],
            "gguf_path": str(gguf),
            "gguf_bytes": info["bytes"],
            "source_bytes": source,
            "size_ratio": source / info["bytes"] if source else None,
            "accuracy": summary["accuracy"],
            "n_eval": summary["n_eval"],
            "truncation_rate": summary["truncation_rate"],
        }

    return run_stage("deploy", run_dir(cfg) / "deploy", fp, build)
