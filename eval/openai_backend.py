"""Generation through any OpenAI-compatible chat endpoint: `python -m llama_cpp.server` serving a GGUF export,
`python -m launch.serve` serving a checkpoint, vLLM or a hosted API. Same `{text, n_tokens, truncated}` samples.

`eval.backend=openai` with `eval.openai.base_url=http://127.0.0.1:8000/v1`; the model argument of the harness
(`eval.run model=...`) is the model id sent to the endpoint. The server applies its chat template, so the record's
`prompt` is the user message. Greedy is temperature 0 with `repeat_penalty` 1.0, `top_k` 0 and `min_p` 0 sent as
extra fields (llama-cpp-python's server otherwise applies its own defaults, repeat_penalty 1.1). `n_tokens` is the
server's `usage.completion_tokens` (llama.cpp's server leaves the end token out; launch.serve counts it).
Knobs: `eval.openai` (base_url, api_key_env, timeout, concurrency) in conf/eval/greedy.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class OpenAIGenerator:
    def __init__(self, model: str, options: Mapping[str, Any]) -> None:
        from openai import OpenAI

        options = dict(options)
        key_env = options.get("api_key_env")
        self.model = model
        self.concurrency = int(options.get("concurrency") or 1)
        self.client = OpenAI(
            base_url=str(options["base_url"]),
            api_key=(os.environ.get(key_env) if key_env else None) or "none",
            timeout=float(options.get("timeout") or 600.0),
            max_retries=int(options.get("max_retries", 2)),
        )

    def complete(
        self, user: str, *, max_new_tokens: int, do_sample: bool, n: int, temperature: float, top_p: float, seed: int
    ) -> list[dict[str, Any]]:
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": user}],
            max_tokens=max_new_tokens,
            n=n,
            temperature=temperature if do_sample else 0.0,
            top_p=top_p if do_sample else 1.0,
            seed=seed,
            extra_body={"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0},
        )
        tokens = int(getattr(response.usage, "completion_tokens", 0) or 0)
        return [
            {
                "text": choice.message.content or "",
                "n_tokens": tokens // max(1, len(response.choices)),
                "truncated": choice.finish_reason == "length",
            }
            for choice in response.choices
        ]

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
        progress: Any = None,
    ) -> list[list[dict[str, Any]]]:
        def one(i: int) -> list[dict[str, Any]]:
            out = self.complete(
                prompts[i],
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                n=n_samples if do_sample else 1,
                temperature=temperature,
                top_p=top_p,
                seed=seed + i,
            )
            if progress is not None:
                progress.update(1)
            return out

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, range(len(prompts))))
