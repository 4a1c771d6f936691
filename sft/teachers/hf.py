"""The `hf` teacher: sample `n_paths` traces per problem from a transformers model (batched, via eval.generate).

The model is loaded by path or hub id through `data.hub`; generation reuses `eval.generate.generate_batched`
(`num_return_sequences=n_paths`, sampling when `temperature > 0`). Each record carries `tokens_in` (prompt
tokens), `tokens_out` (completion tokens), `truncated`, and `verified` from `rewards.verify` against the gold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sft.teachers.base import (
    FormatAware,
    check_sampling,
    config_fields,
    gold_answer,
    pending_problems,
    trace_record,
)


@dataclass(frozen=True)
class HFTeacherConfig:
    """Knobs of the hf teacher. No defaults: the values live in conf/teacher/hf.yaml."""

    name_or_path: str
    n_paths: int
    temperature: float  # 0 means greedy (then every path is the same; use n_paths=1)
    top_p: float
    max_new_tokens: int
    batch_size: int  # problems per generate call (each gives n_paths rows)
    dtype: str
    compact_every: int | None  # None: one generate call per batch

    def __post_init__(self) -> None:
        check_sampling(self.n_paths, self.temperature, self.top_p)
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError(
                f"max_new_tokens and batch_size must be >= 1, got {self.max_new_tokens}, {self.batch_size}"
            )

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> HFTeacherConfig:

        return cls(**config_fields(cls, cfg))


class HFTeacher(FormatAware):
    """Batched sampling of `n_paths` completions per problem; records are ids `{problem_id}/hf/{k}`."""

    name = "hf"
    uses_problems = True

    def __init__(
        self, config: HFTeacherConfig, model: Any = None, tokenizer: Any = None, *, student_prompts: bool = False
    ) -> None:
        """`student_prompts`: pose each problem as the pipeline poses it to the student (data.records.prompt_messages,
        the format's chat-template arguments still applied): re-distillation samples a trained policy this way, as
        GRPO and eval prompt it; a hub teacher (False) gets the format's instruction (teacher_messages) instead."""
        self.config = config
        self._model, self._tokenizer = model, tokenizer
        self.student_prompts = student_prompts

    def messages(self, problem: dict[str, Any]) -> list[dict[str, str]]:
        """The chat messages `problem` is posed as (see `student_prompts`)."""
        from data.records import prompt_messages, teacher_messages

        return prompt_messages(problem["question"]) if self.student_prompts else teacher_messages(problem, self.fmt)

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            from data.hub import load_model, load_tokenizer

            self._tokenizer = load_tokenizer(self.config.name_or_path)
            self._model = load_model(self.config.name_or_path, dtype=self.config.dtype)
        return self._model, self._tokenizer

    def record_id(self, problem_id: str, k: int) -> str:
        return f"{problem_id}/{self.name}/{k}"

    def generate(self, problems: list[dict[str, Any]], done: set[str] | None = None) -> Iterator[dict[str, Any]]:
        """Records for every problem not already complete in `done`, one batch of problems at a time."""
        from eval.generate import chat_prompt_text, generate_batched

        todo = pending_problems(problems, done, self.record_id, self.config.n_paths)
        if not todo:
            return
        model, tokenizer = self._load()
        c = self.config
        for start in range(0, len(todo), c.batch_size):
            batch = todo[start : start + c.batch_size]
            prompts = [chat_prompt_text(tokenizer, self.messages(p), **self.chat_kwargs()) for p in batch]
            outputs = generate_batched(
                model,
                tokenizer,
                prompts,
                max_new_tokens=c.max_new_tokens,
                batch_size=c.batch_size,
                do_sample=c.temperature > 0,
                temperature=c.temperature or 1.0,
                top_p=c.top_p,
                num_return_sequences=c.n_paths,
                compact_every=c.compact_every,
            )
            for problem, prompt, samples in zip(batch, prompts, outputs):
                tokens_in = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
                gold = gold_answer(problem)
                for k, sample in enumerate(samples):
                    yield trace_record(
                        self.record_id(problem["id"], k),
                        problem,
                        gold,
                        k,
                        sample["text"],
                        self.name,
                        fmt=self.fmt,
                        tokens_in=tokens_in,
                        tokens_out=sample["n_tokens"],
                        truncated=sample["truncated"],
                        model=c.name_or_path,
                    )
