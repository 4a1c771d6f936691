"""The `dataset` teacher: published trace sets mapped to our trace records by schema.

Assumed schemas (the hub datasets' columns):

* `s1k` (simplescaling/s1K-1.1): `question`, `solution` (gold), `{deepseek,gemini}_thinking_trajectory`,
  `{deepseek,gemini}_attempt`, optional `{deepseek,gemini}_grade` ("Yes"/"No"). Trace =
  `<think>\\n{trajectory}\\n</think>\\n{attempt}`; verified = grade == "Yes" when graded, else `rewards.verify`.
* `openr1` (open-r1/OpenR1-Math-220k): `problem`, `answer`, `generations` (list of full completions),
  `correctness_math_verify` (list of bools). Only generations marked correct are kept (one record each).
* `orca` (microsoft/orca-math-word-problems-200k): `question`, `answer` (a short worded solution). Answer-only:
  no reasoning trace; trace = the answer text, answer = its last number, `answer_only: true`.

Rows come from `datasets.load_dataset(hub_id, split=split)`, or from local JSON/JSONL/Parquet files when `path`
is set. Token counts use `tokenizer` (path or hub id) when given, else whitespace words (`token_unit`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SCHEMAS = ("s1k", "openr1", "orca")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class DatasetTeacherConfig:
    """Knobs of the dataset teacher. No defaults: the values live in conf/teacher/dataset_*.yaml."""

    schema: str
    hub_id: str | None
    path: str | list[str] | None  # local file(s); overrides hub_id
    split: str
    limit: int | None  # first N rows only
    trajectory: str  # s1k only: deepseek | gemini
    tokenizer: str | None

    def __post_init__(self) -> None:
        if self.schema not in SCHEMAS:
            raise ValueError(f"unknown dataset schema {self.schema!r}; valid: {list(SCHEMAS)}")
        if self.hub_id is None and self.path is None:
            raise ValueError("dataset teacher needs `hub_id` or `path` (local files)")
        if self.trajectory not in ("deepseek", "gemini"):
            raise ValueError(f"unknown s1k trajectory {self.trajectory!r}; valid: ['deepseek', 'gemini']")

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> DatasetTeacherConfig:
        from sft.teachers.base import config_fields

        return cls(**config_fields(cls, cfg))


def load_rows(config: DatasetTeacherConfig) -> Iterable[dict[str, Any]]:
    """The dataset's rows, from local files (`path`) or the hub (`hub_id`)."""
    import datasets

    if config.path is not None:
        files = [config.path] if isinstance(config.path, str) else list(config.path)
        suffix = files[0].rsplit(".", 1)[-1].lower()
        builder = {"jsonl": "json", "json": "json", "parquet": "parquet", "csv": "csv"}.get(suffix)
        if builder is None:
            raise ValueError(f"unknown file type {suffix!r} of {files[0]!r}; valid: json, jsonl, parquet, csv")
        rows = datasets.load_dataset(builder, data_files=files, split="train")
    else:
        rows = datasets.load_dataset(config.hub_id, split=config.split)
    if config.limit is not None:
        rows = rows.select(range(min(config.limit, len(rows))))
    return rows


def _last_number(text: str) -> str | None:
    found = _NUMBER.findall(text or "")
    return found[-1].replace(",", "") if found else None


def map_s1k(row: Mapping[str, Any], config: DatasetTeacherConfig) -> list[dict[str, Any]]:
    from rewards import verify

    who = config.trajectory
    trajectory, attempt = row.get(f"{who}_thinking_trajectory"), row.get(f"{who}_attempt")
    if not trajectory or attempt is None:
        return []
    trace = f"<think>\n{trajectory}\n</think>\n{attempt}"
    grade = row.get(f"{who}_grade")
    verified = grade == "Yes" if grade in ("Yes", "No") else bool(verify(trace, str(row["solution"])))
    return [{"problem": row["question"], "answer": str(row["solution"]), "trace": trace, "verified": verified}]


def map_openr1(row: Mapping[str, Any], config: DatasetTeacherConfig) -> list[dict[str, Any]]:
    correct = row.get("correctness_math_verify") or []
    return [
        {"problem": row["problem"], "answer": str(row["answer"]), "trace": text, "verified": True, "path": k}
        for k, (text, ok) in enumerate(zip(row.get("generations") or [], correct))
        if ok is True
    ]


def map_orca(row: Mapping[str, Any], config: DatasetTeacherConfig) -> list[dict[str, Any]]:
    answer = _last_number(str(row["answer"]))
    return [
        {
            "problem": row["question"],
            "answer": answer if answer is not None else str(row["answer"]),
            "trace": str(row["answer"]),
            "verified": answer is not None,
            "answer_only": True,
        }
    ]


def required_columns(config: DatasetTeacherConfig) -> list[str]:
    """The columns a row of `config.schema` must have (the hub dataset's names)."""
    if config.schema == "s1k":
        return ["question", "solution", f"{config.trajectory}_thinking_trajectory", f"{config.trajectory}_attempt"]
    if config.schema == "openr1":
        return ["problem", "answer", "generations", "correctness_math_verify"]
    return ["question", "answer"]


def check_row(row: Mapping[str, Any], config: DatasetTeacherConfig, index: int) -> None:
    """ValueError naming the columns of the schema a row lacks and the columns it has."""
    missing = [k for k in required_columns(config) if k not in row]
    if missing:
        where = config.path or config.hub_id
        raise ValueError(
            f"dataset teacher (schema {config.schema}) {where}: row {index} lacks column(s) {missing}; its columns: "
            f"{sorted(row)}; needed: {required_columns(config)}"
        )


MAPPERS: dict[str, Callable[[Mapping[str, Any], DatasetTeacherConfig], list[dict[str, Any]]]] = {
    "s1k": map_s1k,
    "openr1": map_openr1,
    "orca": map_orca,
}


class DatasetTeacher:
    """Maps a published trace set's rows to trace records; it brings its own problems (`uses_problems=False`)."""

    name = "dataset"
    uses_problems = False

    def __init__(self, config: DatasetTeacherConfig, rows: Iterable[Mapping[str, Any]] | None = None) -> None:
        self.config = config
        self._rows = rows
        self._tokenizer: Any = None

    def _count(self, text: str) -> int:
        if self.config.tokenizer is None:
            return len(text.split())
        if self._tokenizer is None:
            from data.hub import load_tokenizer

            self._tokenizer = load_tokenizer(self.config.tokenizer)
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(
        self, problems: list[dict[str, Any]] | None = None, done: set[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Records of every row (the `problems` argument is ignored); ids are `{schema}-{row}/dataset/{k}`."""
        rows = self._rows if self._rows is not None else load_rows(self.config)
        mapper = MAPPERS[self.config.schema]
        unit = "words" if self.config.tokenizer is None else "tokens"
        for index, row in enumerate(rows):
            if index == 0:  # a file in another schema would map to no record at all: name what it lacks
                check_row(row, self.config, index)
            problem_id = str(row.get("uuid") or row.get("id") or f"{self.config.schema}-{index}")
            for k, mapped in enumerate(mapper(row, self.config)):
                path = mapped.pop("path", k)
                yield {
                    "id": f"{problem_id}/{self.name}/{path}",
                    "problem_id": problem_id,
                    **mapped,
                    "teacher": self.name,
                    "path": path,
                    "source": self.config.schema,
                    "tokens_in": self._count(mapped["problem"]),
                    "tokens_out": self._count(mapped["trace"]),
                    "token_unit": unit,
                }
