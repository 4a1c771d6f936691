"""One interface for every teacher backend, and `build_teacher(cfg)`: the registry from `cfg.teacher` to a backend.

A teacher turns problems into trace records `{id, problem_id, problem, answer, trace, teacher, verified,
tokens_in, tokens_out, ...}`. `generate(problems, done)` yields them; `done` holds record ids already on disk
(a resumed run), so a backend may skip work whose records all exist. The backend is `cfg.backend` when the
config names one (e.g. `conf/teacher/dataset_s1k.yaml`: `name: dataset_s1k`, `backend: dataset`), else `cfg.name`.
A backend may keep counters in a `.stats` dict (openai: requests, retries by reason, failures; multi: its
teachers' by label) that `sft.teachers.accounting.teacher_accounting` puts into the stage summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Teacher(Protocol):
    """A source of trace records. `uses_problems` is False for a backend that brings its own problems."""

    name: str
    uses_problems: bool

    def generate(self, problems: list[dict[str, Any]], done: set[str] | None = None) -> Iterator[dict[str, Any]]:
        """Trace records for `problems` (ignored when `uses_problems` is False), skipping work already `done`."""
        ...


class FormatAware:
    """A hub teacher's trace format (`fmt`, set by `build_teacher`; None: `pre`): its prompts follow the format
    (data.records.teacher_messages) and so do the chat template's arguments (Qwen3: `enable_thinking=False` for
    post)."""

    fmt: Any = None

    def chat_kwargs(self) -> dict[str, Any]:
        return self.fmt.chat_kwargs() if self.fmt is not None else {}


class ProgramBackend:
    """The toy world's program teacher behind the `Teacher` interface (its records are unchanged)."""

    name = "program"
    uses_problems = True

    def __init__(self, cfg: Mapping[str, Any], fmt: Any = None) -> None:
        from sft.teachers.program import ProgramTeacher, ProgramTeacherConfig

        self.teacher = ProgramTeacher(ProgramTeacherConfig(**config_fields(ProgramTeacherConfig, cfg)), fmt)

    def generate(self, problems: list[dict[str, Any]], done: set[str] | None = None) -> Iterator[dict[str, Any]]:
        for problem in problems:
            yield from self.teacher.traces(problem)


def _program(cfg: Mapping[str, Any]) -> Teacher:
    return ProgramBackend(cfg)


def _hf(cfg: Mapping[str, Any]) -> Teacher:
    from sft.teachers.hf import HFTeacher, HFTeacherConfig

    return HFTeacher(HFTeacherConfig.from_mapping(cfg))


def _dataset(cfg: Mapping[str, Any]) -> Teacher:
    from sft.teachers.dataset import DatasetTeacher, DatasetTeacherConfig

    return DatasetTeacher(DatasetTeacherConfig.from_mapping(cfg))


def _openai(cfg: Mapping[str, Any]) -> Teacher:
    from sft.teachers.openai_api import OpenAITeacher, OpenAITeacherConfig

    return OpenAITeacher(OpenAITeacherConfig.from_mapping(cfg), name=str(cfg.get("name") or "openai"))


def _vllm(cfg: Mapping[str, Any]) -> Teacher:
    from sft.teachers.vllm_offline import VLLMTeacher, VLLMTeacherConfig

    return VLLMTeacher(VLLMTeacherConfig.from_mapping(cfg))


def _multi(cfg: Mapping[str, Any]) -> Teacher:
    from sft.teachers.multi import build_multi

    return build_multi(cfg)


BACKENDS: dict[str, Callable[[Mapping[str, Any]], Teacher]] = {
    "program": _program,
    "hf": _hf,
    "dataset": _dataset,
    "openai": _openai,
    "vllm": _vllm,
    "multi": _multi,
}


def backend_name(cfg: Mapping[str, Any]) -> str:
    """The backend a teacher config selects: `backend` if given, else `name`."""
    return str(cfg.get("backend") or cfg.get("name"))


def build_teacher(cfg: Mapping[str, Any], fmt: Any = None) -> Teacher:
    """The teacher backend `cfg` selects (a plain dict or an OmegaConf node of `conf/teacher/*.yaml`), writing or
    prompted for the trace format `fmt` (data.trace_format.TraceFormat; None: `pre`). The program teacher writes
    the format itself; hf, vllm and openai are prompted for it (their `fmt`); dataset and multi teachers keep the
    traces they have (a `pre` format only: the pipeline refuses another with them)."""
    from omegaconf import DictConfig, OmegaConf

    plain: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    backend = backend_name(plain)
    if backend not in BACKENDS:
        raise ValueError(f"unknown teacher backend {backend!r}; valid: {sorted(BACKENDS)}")
    if backend == "program":
        return ProgramBackend(plain, fmt)
    teacher = BACKENDS[backend](plain)
    if fmt is not None and isinstance(teacher, FormatAware):
        teacher.fmt = fmt
    return teacher


def config_fields(
    cls: type, cfg: Mapping[str, Any], ignore: Iterable[str] = ("name", "backend", "only_verified", "max_problems")
) -> dict[str, Any]:
    """The keys of `cfg` that dataclass `cls` takes; an unknown key, or a missing one (the config dataclasses have
    no defaults: a conf/teacher/ preset holds every value), raises, naming it and the valid ones."""
    import dataclasses

    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(cfg) - valid - set(ignore))
    if unknown:
        raise ValueError(f"unknown teacher config key(s) {unknown}; valid: {sorted(valid)}")
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = sorted(required - set(cfg))
    if missing:
        raise ValueError(
            f"teacher config is missing key(s) {missing}; start from a conf/teacher/ preset, which sets them all"
        )
    return {k: v for k, v in cfg.items() if k in valid}


def check_sampling(n_paths: int, temperature: float, top_p: float, max_temperature: float | None = None) -> None:
    """Raise a clear ValueError for sampling settings no backend accepts."""
    if n_paths < 1:
        raise ValueError(f"n_paths must be >= 1, got {n_paths}")
    if temperature < 0 or (max_temperature is not None and temperature > max_temperature):
        valid = f"in [0, {max_temperature:g}]" if max_temperature is not None else ">= 0"
        raise ValueError(f"temperature must be {valid}, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def pending_problems(
    problems: list[dict[str, Any]], done: Iterable[str] | None, record_id: Callable[[str, int], str], n_paths: int
) -> list[dict[str, Any]]:
    """The problems with at least one of their `n_paths` record ids missing from `done` (a resumed run)."""
    done = done or set()
    return [p for p in problems if not all(record_id(p["id"], k) in done for k in range(n_paths))]


def gold_answer(problem: Mapping[str, Any]) -> str:
    """The problem's gold final answer: `final_answer`, else the GSM8K `answer` (verify parses `#### N`)."""
    gold = problem.get("final_answer") or problem.get("answer")
    if gold is None:
        raise ValueError(f"problem {problem.get('id')!r} has no 'final_answer' or 'answer' field")
    return str(gold)


def trace_record(
    record_id: str,
    problem: Mapping[str, Any],
    gold: str,
    k: int,
    text: str,
    teacher: str,
    *,
    fmt: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """One trace record with its `verified` verdict (rewards.verify against `gold`; for the post format `fmt` of
    the leading answer only) and any extra fields."""
    from rewards import verify

    answer_text = fmt.answer_region(text) if fmt is not None else text

    return {
        "id": record_id,
        "problem_id": problem["id"],
        "problem": problem["question"],
        "answer": gold,
        "trace": text,
        "teacher": teacher,
        "path": k,
        "verified": bool(verify(answer_text, gold)),
        **extra,
    }
