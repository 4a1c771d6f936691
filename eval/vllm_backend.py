"""vLLM generation (GPU): the same `{text, n_tokens, truncated}` samples per prompt as the HF backend.

`vllm` is imported inside :class:`VLLMGenerator` only (a GPU-only dependency, the `gpu` extra); where it is
missing, building the generator raises one clear line instead of an ImportError deep inside. Prompts are
passed as token ids of our own chat-formatted text (no second BOS), and generation stops at the same end
tokens as the HF backend.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

VLLM_MISSING = "backend=vllm needs the gpu extra: pip install -e .[gpu]"


def import_vllm() -> tuple[Any, Any]:
    """`(vllm.LLM, vllm.SamplingParams)`, or RuntimeError(VLLM_MISSING) where vllm is not installed."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError as error:
        raise RuntimeError(f"{VLLM_MISSING} ({type(error).__name__}: {error})") from None
    return LLM, SamplingParams


def sampling_kwargs(
    *,
    max_new_tokens: int,
    do_sample: bool,
    n_samples: int,
    temperature: float,
    top_p: float,
    seed: int,
    stop_token_ids: list[int],
) -> dict[str, Any]:
    """`SamplingParams` arguments matching the HF backend: greedy is temperature 0; no top-k."""
    if do_sample:
        decoding = {"temperature": float(temperature), "top_p": float(top_p), "top_k": -1, "seed": int(seed)}
    else:
        decoding = {"temperature": 0.0, "top_p": 1.0, "top_k": -1}
    return {
        "n": int(n_samples),
        "max_tokens": int(max_new_tokens),
        "stop_token_ids": list(stop_token_ids),
        "skip_special_tokens": True,
        **decoding,
    }


def samples_from_outputs(outputs: list[Any]) -> list[list[dict[str, Any]]]:
    """vLLM `RequestOutput`s to per-prompt lists of `{text, n_tokens, truncated}` (truncated: finish_reason=length)."""
    return [
        [
            {
                "text": completion.text,
                "n_tokens": len(completion.token_ids),
                "truncated": completion.finish_reason == "length",
            }
            for completion in request.outputs
        ]
        for request in outputs
    ]


class VLLMGenerator:
    """A vLLM engine for one model, loaded once; `generate(prompts)` returns the HF backend's sample format."""

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "auto",
        seed: int = 0,
        engine_kwargs: dict[str, Any] | None = None,
        tokenizer: Any = None,
    ) -> None:
        LLM, self._SamplingParams = import_vllm()
        from data.hub import load_tokenizer

        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(model_path)
        kwargs = {"gpu_memory_utilization": 0.9, "tensor_parallel_size": 1, **(engine_kwargs or {})}
        self.llm = LLM(model=model_path, dtype=dtype, seed=int(seed), **kwargs)
        self.stop_token_ids = self._end_tokens(model_path)

    def _end_tokens(self, model_path: str) -> list[int]:
        ids = [self.tokenizer.eos_token_id]
        try:
            from transformers import GenerationConfig

            extra = GenerationConfig.from_pretrained(model_path).eos_token_id
        except (OSError, ValueError):
            extra = None
        for token in extra if isinstance(extra, (list, tuple)) else [extra]:
            if token is not None and token not in ids:
                ids.append(int(token))
        return [i for i in ids if i is not None]

    def generate(
        self,
        prompts: list[str],
        *,
        max_new_tokens: int,
        do_sample: bool = False,
        n_samples: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int = 0,
        progress: Iterable | None = None,
    ) -> list[list[dict[str, Any]]]:
        """Completions for each chat-formatted prompt string (one list of samples per prompt, in order)."""
        params = self._SamplingParams(
            **sampling_kwargs(
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                n_samples=n_samples,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
                stop_token_ids=self.stop_token_ids,
            )
        )
        requests = [{"prompt_token_ids": self.tokenizer(p, add_special_tokens=False)["input_ids"]} for p in prompts]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        if progress is not None:
            progress.update(len(prompts))
        return samples_from_outputs(outputs)
