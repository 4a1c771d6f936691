"""The `vllm` teacher: sample `n_paths` traces per problem with an offline `vllm.LLM` engine on GPU.

The engine (tensor_parallel_size, gpu_memory_utilization, max_model_len, dtype) comes from
conf/teacher/vllm.yaml and is built through `eval.vllm_backend.VLLMGenerator`, which formats prompts with the
tokenizer's chat template, passes them as token ids, and samples `SamplingParams(n=n_paths, ...)` with the HF
backend's end tokens. Problems go to the engine `chunk_size` at a time so that a killed run keeps the chunks
it finished (ids `{problem_id}/vllm/{k}`, skipped when all are in `done`). Where vLLM cannot run (no CUDA GPU,
vllm not installed or outside TRL's supported range) building the teacher raises one clear line.
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
from sft.vllm_check import GenerationBackendError, check_vllm_installed


@dataclass(frozen=True)
class VLLMTeacherConfig:
    """Knobs of the vllm teacher. No defaults: the values live in conf/teacher/vllm.yaml."""

    name_or_path: str
    n_paths: int
    temperature: float
    top_p: float
    max_new_tokens: int
    chunk_size: int
    seed: int
    dtype: str
    tensor_parallel_size: int
    gpu_memory_utilization: float
    max_model_len: int | None

    def __post_init__(self) -> None:
        check_sampling(self.n_paths, self.temperature, self.top_p)
        if self.max_new_tokens < 1 or self.chunk_size < 1 or self.tensor_parallel_size < 1:
            raise ValueError(
                f"max_new_tokens, chunk_size and tensor_parallel_size must be >= 1, got "
                f"{self.max_new_tokens}, {self.chunk_size}, {self.tensor_parallel_size}"
            )
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.dtype not in ("auto", "bfloat16", "float16", "float32"):
            raise ValueError(f"unknown dtype {self.dtype!r}; valid: ['auto', 'bfloat16', 'float16', 'float32']")

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> VLLMTeacherConfig:

        return cls(**config_fields(cls, cfg))


def check_vllm_teacher(cuda_available: bool | None = None) -> None:
    """GenerationBackendError (one line, with what to use instead) unless vLLM can run on this machine."""
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        raise GenerationBackendError(
            "teacher=vllm needs a CUDA GPU and none is visible here (vLLM's wheel cannot run on CPU); use "
            "teacher=hf on this machine, or teacher=openai against a vLLM / SGLang / launch.serve endpoint"
        )
    check_vllm_installed(  # installed, in the version range TRL supports
        "teacher=vllm needs the 'vllm' package, which is not installed: pip install -e .[gpu] "
        "(or use teacher=hf, or teacher=openai against a vLLM server)"
    )


class VLLMTeacher(FormatAware):
    """Offline vLLM sampling of `n_paths` completions per problem; records like the hf teacher's."""

    name = "vllm"
    uses_problems = True

    def __init__(self, config: VLLMTeacherConfig, generator: Any = None, cuda_available: bool | None = None) -> None:
        self.config = config
        if generator is None:
            check_vllm_teacher(cuda_available)
        self._generator = generator

    def _engine(self) -> Any:
        if self._generator is None:
            from eval.vllm_backend import VLLMGenerator

            c = self.config
            engine = {
                "tensor_parallel_size": c.tensor_parallel_size,
                "gpu_memory_utilization": c.gpu_memory_utilization,
            }
            if c.max_model_len is not None:
                engine["max_model_len"] = int(c.max_model_len)
            self._generator = VLLMGenerator(c.name_or_path, dtype=c.dtype, seed=c.seed, engine_kwargs=engine)
        return self._generator

    def record_id(self, problem_id: str, k: int) -> str:
        return f"{problem_id}/{self.name}/{k}"

    def generate(self, problems: list[dict[str, Any]], done: set[str] | None = None) -> Iterator[dict[str, Any]]:
        """Records for every problem not already complete in `done`, one chunk of problems per engine call."""
        from data.records import teacher_messages
        from eval.generate import chat_prompt_text

        c = self.config
        todo = pending_problems(problems, done, self.record_id, c.n_paths)
        if not todo:
            return
        engine = self._engine()
        tokenizer = engine.tokenizer
        for start in range(0, len(todo), c.chunk_size):
            chunk = todo[start : start + c.chunk_size]
            prompts = [chat_prompt_text(tokenizer, teacher_messages(p, self.fmt), **self.chat_kwargs()) for p in chunk]
            outputs = engine.generate(
                prompts,
                max_new_tokens=c.max_new_tokens,
                do_sample=c.temperature > 0,
                n_samples=c.n_paths,
                temperature=c.temperature,
                top_p=c.top_p,
                seed=c.seed + start,
            )
            for problem, prompt, samples in zip(chunk, prompts, outputs):
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
