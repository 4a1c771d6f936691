"""llama.cpp generation (CPU, quantized GGUF files): the same `{text, n_tokens, truncated}` samples as the HF backend.

`eval.backend=llama_cpp` evaluates a `.gguf` file written by `python -m launch.export` (or any GGUF of a chat
model) in-process through llama-cpp-python, so a quantized student and its full-precision checkpoint are scored
by one harness on the same items, prompts and answer checks. The prompt is the GGUF's own chat template
(`tokenizer.chat_template`) rendered as transformers renders a template (Jinja, trim_blocks + lstrip_blocks, the
assistant turn opened), so only what is inside the file is used; its tokens come from llama.cpp's own tokenizer
of the file (special tokens parsed, no BOS). Greedy decoding is llama.cpp's greedy sampler with every penalty off
(llama-cpp-python's server defaults to repeat_penalty 1.1; here it is 1.0). One prompt at a time: llama.cpp
decodes batch 1 on the CPU. `n_tokens` counts the end-of-turn token as the HF backend does.
Knobs: `eval.llama_cpp` (n_ctx, n_threads) in conf/eval/greedy.yaml.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LLAMA_CPP_MISSING = (
    "backend=llama_cpp needs llama-cpp-python: pip install -e .[laptop] (compiles llama.cpp, a few minutes on 2 cores)"
)
DEFAULT_N_CTX = 4096  # the KV cache of a hub model's full context (32k-40k tokens) would take GBs on a laptop


def render_chat(template: str, messages: list[dict[str, str]], **extra: Any) -> str:
    """`template` rendered for `messages` with the assistant turn opened, as transformers' apply_chat_template."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, **extra)


class LlamaCppGenerator:
    """One GGUF model loaded once; `generate(prompts)` returns the HF backend's sample format."""

    def __init__(self, gguf_path: str, options: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        path = Path(gguf_path).expanduser()
        if path.suffix != ".gguf" or not path.is_file():
            raise ValueError(
                f"eval.backend=llama_cpp needs a .gguf file as the model; got {gguf_path!r} "
                "(write one with `python -m launch.export model=<checkpoint>`)"
            )
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ImportError(LLAMA_CPP_MISSING) from None
        options = dict(options or {})
        self.llm = Llama(
            model_path=str(path),
            n_ctx=int(options.get("n_ctx") or DEFAULT_N_CTX),
            n_threads=options.get("n_threads"),
            n_batch=512,
            seed=seed,
            verbose=bool(options.get("verbose", False)),
        )
        self.template = self.llm.metadata.get("tokenizer.chat_template")
        # freed before interpreter teardown (llama-cpp-python's own __del__ then fails on unloaded modules)
        atexit.register(self.llm.close)

    def prompt_text(self, user: str) -> str:
        messages = [{"role": "user", "content": user}]
        if not self.template:  # a plain base model: the text as it is (eval.generate.chat_prompt_text does the same)
            return user
        return render_chat(self.template, messages)

    def complete(
        self, prompt: str, *, max_new_tokens: int, do_sample: bool, temperature: float, top_p: float, seed: int
    ) -> dict[str, Any]:
        """One completion: greedy (temperature 0) or sampled; `{text, n_tokens, truncated}`. Decoded as the HF
        backend decodes (special tokens skipped, an invalid UTF-8 byte run as U+FFFD, where llama-cpp-python's own
        completion text would drop it)."""
        import llama_cpp

        prompt_ids = self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        self.llm.set_seed(seed)
        new: list[int] = []
        stopped = False
        for token in self.llm.generate(
            prompt_ids,
            temp=temperature if do_sample else 0.0,
            top_p=top_p if do_sample else 1.0,
            top_k=0,
            min_p=0.0,
            repeat_penalty=1.0,
            reset=True,
        ):
            if llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token):
                stopped = True
                break
            new.append(token)
            if len(new) >= max_new_tokens:
                break
        text = self.llm.detokenize(new, prev_tokens=prompt_ids).decode("utf-8", errors="replace")
        return {"text": text, "n_tokens": len(new) + (1 if stopped else 0), "truncated": not stopped, "token_ids": new}

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
        results = []
        for i, prompt in enumerate(prompts):
            results.append(
                [
                    self.complete(
                        prompt,
                        max_new_tokens=max_new_tokens,
                        do_sample=do_sample,
                        temperature=temperature,
                        top_p=top_p,
                        seed=seed + i * n_samples + j,
                    )
                    for j in range(n_samples if do_sample else 1)
                ]
            )
            if progress is not None:
                progress.update(1)
        return results
