"""The `openai` teacher: sample `n_paths` traces per problem from any OpenAI-compatible chat endpoint.

Works against OpenAI itself, vLLM / SGLang servers, and `python -m launch.serve` (the tiny model on CPU). The
API key is read from the environment variable the config names (`api_key_env`), held only by the client, and
scrubbed from every error message: it never reaches logs, records, summaries or configs. Requests run in a
thread pool of `concurrency`; the client's own retries are off (`max_retries=0`) and this module retries 429,
5xx, timeouts and dropped connections itself with exponential backoff, so every retry is counted in `.stats`
(requests, retries by reason, failures, usage tokens). Records come out in problem order, ids
`{problem_id}/{name}/{k}`; problems whose records are all in `done` are skipped (a resumed run).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
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

log = logging.getLogger(__name__)
TOKEN_LIMIT_PARAMS = ("max_tokens", "max_completion_tokens")
RETRY_REASONS = ("429", "5xx", "timeout", "connection")


class TeacherRequestError(RuntimeError):
    """A request the endpoint refused for good (bad model name, bad key, bad parameter): retrying cannot help."""


@dataclass(frozen=True)
class OpenAITeacherConfig:
    """Knobs of the openai teacher. No defaults: the values live in conf/teacher/openai.yaml."""

    base_url: str
    model: str
    api_key_env: str | None  # name of the environment variable holding the key; None: no key (local server)
    n_paths: int
    temperature: float
    top_p: float
    max_tokens: int
    token_limit_param: str
    seed: int | None
    concurrency: int
    max_retries: int
    backoff_base: float
    backoff_max: float
    timeout: float
    max_failed_problems: int
    price_per_million_input: float | None
    price_per_million_output: float | None

    def __post_init__(self) -> None:
        check_sampling(self.n_paths, self.temperature, self.top_p, max_temperature=2)
        if self.max_tokens < 1 or self.concurrency < 1:
            raise ValueError(f"max_tokens and concurrency must be >= 1, got {self.max_tokens}, {self.concurrency}")
        if self.token_limit_param not in TOKEN_LIMIT_PARAMS:
            raise ValueError(f"unknown token_limit_param {self.token_limit_param!r}; valid: {list(TOKEN_LIMIT_PARAMS)}")
        if self.max_retries < 0 or self.max_failed_problems < 0:
            raise ValueError(
                f"max_retries and max_failed_problems must be >= 0, got {self.max_retries}, {self.max_failed_problems}"
            )
        if self.timeout <= 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError(
                f"timeout must be > 0 and backoff_base, backoff_max >= 0, got {self.timeout}, "
                f"{self.backoff_base}, {self.backoff_max}"
            )
        if not self.base_url or not str(self.base_url).startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {self.base_url!r}")
        if not self.model or self.model == "???":
            raise ValueError("model must name the model the endpoint serves (GET <base_url>/models lists them)")

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> OpenAITeacherConfig:

        return cls(**config_fields(cls, cfg))


def read_api_key(env_name: str | None) -> str:
    """The key held by environment variable `env_name`; a placeholder when `env_name` is None (local server)."""
    if env_name is None:
        return "EMPTY"
    key = os.environ.get(env_name, "")
    if not key:
        raise ValueError(
            f"teacher.api_key_env={env_name!r} names an environment variable that is not set or empty; "
            f"export {env_name}=<key>, or set teacher.api_key_env=null for a local server that needs no key"
        )
    return key


def split_tokens(total: int, texts: list[str], known: list[int | None] | None = None) -> list[int]:
    """`total` completion tokens shared out over the choices `texts` (the shares sum to `total`).

    An n>1 response reports one usage for all its choices. A choice whose count is `known` (one cut at
    `max_tokens` used exactly that many) gets it; the rest is shared in proportion to text length."""
    known = list(known or [None] * len(texts))
    fixed = sum(k for k in known if k is not None)
    if fixed > total:  # the server counts differently: share everything by length
        known, fixed = [None] * len(texts), 0
    free = [i for i, k in enumerate(known) if k is None]
    shares = [int(k) if k is not None else 0 for k in known]
    rest = int(total) - fixed
    if not free:
        shares[-1] += rest
        return shares
    weights = {i: max(len(texts[i]), 1) for i in free}
    for i in free:
        shares[i] = rest * weights[i] // sum(weights.values())
    for i in sorted(free, key=lambda i: -weights[i])[: rest - sum(shares[i] for i in free)]:
        shares[i] += 1
    return shares


def choice_text(choice: Any) -> str:
    """A choice's trace: the content, with a separate `reasoning_content` (R1-style servers) put back as <think>."""
    message = choice.message
    content = message.content or ""
    extra = getattr(message, "model_extra", None) or {}
    reasoning = extra.get("reasoning_content") or extra.get("reasoning")
    if isinstance(reasoning, str) and reasoning.strip():
        return f"<think>\n{reasoning.strip()}\n</think>\n{content}"
    return content


class OpenAITeacher(FormatAware):
    """Concurrent chat-completion requests, `n_paths` choices per problem, with counted retries and backoff."""

    uses_problems = True

    def __init__(self, config: OpenAITeacherConfig, name: str = "openai", client: Any = None) -> None:
        self.config, self.name = config, name
        self._key = read_api_key(config.api_key_env)
        if client is None:
            import openai

            client = openai.OpenAI(base_url=config.base_url, api_key=self._key, max_retries=0, timeout=config.timeout)
        self.client = client
        self._lock = threading.Lock()
        self.stats: dict[str, Any] = {
            "requests": 0,
            "retries": 0,
            "retries_by_reason": {r: 0 for r in RETRY_REASONS},
            "failures": 0,
            "failed_problems": [],
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }

    # ---- helpers -----------------------------------------------------------------------------------
    def record_id(self, problem_id: str, k: int) -> str:
        return f"{problem_id}/{self.name}/{k}"

    def scrub(self, text: str) -> str:
        """`text` with the API key (if any) replaced, for logs and error messages."""
        return text.replace(self._key, "<api key>") if self._key and self._key != "EMPTY" else text

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def _retry_reason(self, error: Exception) -> str | None:
        """Why `error` is worth retrying ("429", "5xx", "timeout", "connection"), or None when it is not."""
        import openai

        if isinstance(error, openai.APITimeoutError):
            return "timeout"
        if isinstance(error, openai.APIConnectionError):
            return "connection"
        if isinstance(error, openai.APIStatusError):
            status = error.status_code
            if status == 429:
                return "429"
            if status >= 500:
                return "5xx"
            if status in (408, 409):
                return "timeout" if status == 408 else "5xx"
        return None

    def _backoff(self, attempt: int, error: Exception) -> float:
        c = self.config
        wait = min(c.backoff_max, c.backoff_base * 2**attempt) * (0.5 + random.random() / 2)
        response = getattr(error, "response", None)
        after = response.headers.get("retry-after") if response is not None else None
        try:
            wait = max(wait, min(float(after), c.backoff_max)) if after is not None else wait
        except ValueError:
            pass
        return wait

    def _seed(self, problem_id: str) -> int | None:
        if self.config.seed is None:
            return None
        return (int(self.config.seed) + zlib.crc32(str(problem_id).encode())) % (2**31)

    # ---- requests ----------------------------------------------------------------------------------
    def _call(self, messages: list[dict[str, str]], n: int, seed: int | None) -> Any:
        """One chat completion with this module's retry loop; None when every retry failed."""
        import openai

        c = self.config
        kwargs: dict[str, Any] = {
            "model": c.model,
            "messages": messages,
            "n": n,
            "temperature": c.temperature,
            "top_p": c.top_p,
            c.token_limit_param: c.max_tokens,
            "timeout": c.timeout,
        }
        if seed is not None:
            kwargs["seed"] = seed
        for attempt in range(c.max_retries + 1):
            self._count("requests")
            try:
                return self.client.chat.completions.create(**kwargs)
            except openai.OpenAIError as error:  # sorted into retryable / fatal below; anything else is a bug
                reason = self._retry_reason(error)
                if reason is None:
                    status = getattr(error, "status_code", None)
                    raise TeacherRequestError(
                        self.scrub(
                            f"openai teacher: {c.base_url} refused the request for model {c.model!r} "
                            f"({type(error).__name__}{f', HTTP {status}' if status else ''}): {error}"
                        )
                    ) from None
                if attempt == c.max_retries:
                    log.warning(
                        "%s",
                        self.scrub(
                            f"openai teacher: giving up after {attempt + 1} attempts ({reason}: {type(error).__name__})"
                        ),
                    )
                    return None
                with self._lock:
                    self.stats["retries"] += 1
                    self.stats["retries_by_reason"][reason] += 1
                wait = self._backoff(attempt, error)
                log.info(
                    "openai teacher: %s (%s), retry %d of %d in %.2f s",
                    reason,
                    type(error).__name__,
                    attempt + 1,
                    c.max_retries,
                    wait,
                )
                time.sleep(wait)
        return None

    def _solve(self, problem: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """The `n_paths` records of one problem, or None when its requests failed after all retries."""
        from data.records import teacher_messages

        c = self.config
        gold = gold_answer(problem)
        messages = teacher_messages(dict(problem), self.fmt)
        rows: list[tuple[Any, int, int]] = []  # (choice, tokens_in, tokens_out)
        while len(rows) < c.n_paths:  # a server that ignores `n` is asked again for the rest
            response = self._call(messages, c.n_paths - len(rows), self._seed(problem["id"]))
            if response is None:
                with self._lock:
                    self.stats["failures"] += 1
                    self.stats["failed_problems"].append(problem["id"])
                return None
            choices = list(response.choices or [])
            if not choices:
                raise TeacherRequestError(f"openai teacher: {c.base_url} returned no choices for model {c.model!r}")
            usage = response.usage
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            self._count("prompt_tokens", prompt_tokens)
            self._count("completion_tokens", completion_tokens)
            choices = choices[: c.n_paths - len(rows)]
            shares = split_tokens(
                completion_tokens,
                [choice_text(ch) for ch in choices],
                [c.max_tokens if ch.finish_reason == "length" else None for ch in choices],
            )
            rows += [(ch, prompt_tokens, share) for ch, share in zip(choices, shares)]
        records = []
        for k, (choice, tokens_in, tokens_out) in enumerate(rows):
            text = choice_text(choice)
            records.append(
                trace_record(
                    self.record_id(problem["id"], k),
                    problem,
                    gold,
                    k,
                    text,
                    self.name,
                    fmt=self.fmt,
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                    truncated=choice.finish_reason == "length",
                    finish_reason=choice.finish_reason,
                    model=c.model,
                )
            )
        return records

    def generate(self, problems: list[dict[str, Any]], done: set[str] | None = None) -> Iterator[dict[str, Any]]:
        """Records of every problem not complete in `done`, in problem order, `concurrency` requests at a time."""
        c = self.config
        todo = pending_problems(problems, done, self.record_id, c.n_paths)
        if not todo:
            return
        pool = ThreadPoolExecutor(max_workers=c.concurrency, thread_name_prefix="openai-teacher")
        waiting = iter(todo)
        pending: deque[Future] = deque()
        try:
            for problem in waiting:  # a window of 2x concurrency keeps the pool busy while records come out in order
                pending.append(pool.submit(self._solve, problem))
                if len(pending) >= 2 * c.concurrency:
                    break
            while pending:
                records = pending.popleft().result()
                following = next(waiting, None)
                if following is not None:
                    pending.append(pool.submit(self._solve, following))
                yield from records or []
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if self.stats["failures"] > c.max_failed_problems:
            failed = self.stats["failed_problems"]
            raise RuntimeError(
                f"openai teacher: {len(failed)} problem(s) failed after {c.max_retries} retries "
                f"(first: {failed[:5]}; max_failed_problems={c.max_failed_problems}); the other records "
                f"are saved, re-run to resume the failed ones"
            )
