"""Read an eval config (a `conf/eval/*.yaml` node, or a plain dict) into validated, typed settings.

One place knows every eval knob, its default and its valid values; a bad value is refused with a message
that names it and lists what would be valid. `generation_identity` is the part of the settings that decides
what is generated, so that a resumed run never mixes records generated under different settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

BACKENDS = ("hf", "vllm", "llama_cpp", "openai")
DECODINGS = ("greedy", "sample")
DTYPES = ("float32", "bfloat16", "float16", "auto")
QUICK_ITEMS = 5  # `quick: true` evaluates this many items (a smoke test)


@dataclass(frozen=True)
class EvalSettings:
    """Every knob of one evaluation (documented in conf/eval/greedy.yaml)."""

    max_new_tokens: int
    name: str = "custom"
    backend: str = "hf"
    batch_size: int = 64
    chunk_items: int | None = None
    compact_every: int | None = None
    limit: int | None = None
    start_from: int = 0
    quick: bool = False
    dtype: str = "float32"
    attn_implementation: str | None = None
    llama_cpp: dict[str, Any] = field(default_factory=dict)
    openai: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    decoding: str = "greedy"
    n_samples: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    ks: tuple[int, ...] | None = None
    bootstrap_resamples: int = 1000
    ci_alpha: float = 0.05
    truncation_warn: float = 0.01
    prompt_template: str | None = None
    benchmark: str | None = None
    label: str | None = None
    report: bool = False
    vllm: dict[str, Any] = field(default_factory=dict)
    trace_format: str = "pre"  # where the answer is read from (data/trace_format.py); set by the pipeline's format

    @property
    def do_sample(self) -> bool:
        return self.decoding == "sample"

    @property
    def prompts_per_call(self) -> int:
        """Prompts per generate call: `batch_size` counts sequences, and each prompt yields `n_samples`."""
        return max(1, self.batch_size // self.n_samples)

    @property
    def items_per_chunk(self) -> int:
        """Items generated, scored and written together (a kill loses at most one chunk)."""
        return self.chunk_items or 4 * self.prompts_per_call

    def generation_identity(self, model_path: str) -> dict[str, Any]:
        """What decides the generated text; records made under another identity must not be mixed in."""
        identity: dict[str, Any] = {
            "model_path": str(model_path),
            "max_new_tokens": self.max_new_tokens,
            "decoding": self.decoding,
            "n_samples": self.n_samples,
            "prompt_template": self.prompt_template,
            "benchmark": self.benchmark,
        }
        if self.trace_format != "pre":  # Qwen3 prompts differ for post; records of two formats never mix
            identity["trace_format"] = self.trace_format
        if self.do_sample:
            identity.update(temperature=self.temperature, top_p=self.top_p, seed=self.seed)
        return identity

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ks"] = list(self.ks) if self.ks is not None else None
        return out


FIELDS = tuple(EvalSettings.__dataclass_fields__)
# Keys of an eval config that only the pipeline's eval stage reads (which benchmarks, their local copies); one
# evaluation's settings ignore them.
# test_split: the data's own test split beside benchmarks; error_propagation / template_shift: the extra measures of
# the eval stage (launch/stages.py), toy world only.
# split: which of the data's held-out splits the eval stage scores (test | dev).
PIPELINE_KEYS = ("benchmarks", "benchmark_paths", "test_split", "error_propagation", "template_shift", "split")


def _int(key: str, value: Any, minimum: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        valid = f"an int >= {minimum}" + (" or null" if allow_none else "")
        raise ValueError(f"eval.{key}={value!r} is not valid; expected {valid}")
    return value


def _choice(key: str, value: Any, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ValueError(f"eval.{key}={value!r} is not valid; valid {key} values: {list(valid)}")
    return value


def _unit(key: str, value: Any, low_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"eval.{key}={value!r} is not valid; expected a number")
    value = float(value)
    ok = (0.0 < value <= 1.0) if low_open else (0.0 <= value <= 1.0)
    if not ok:
        raise ValueError(
            f"eval.{key}={value!r} is not valid; expected a number in {'(0, 1]' if low_open else '[0, 1]'}"
        )
    return value


def settings_from(cfg: Mapping[str, Any]) -> EvalSettings:
    """Validated settings from an eval config mapping; unknown keys and bad values raise ValueError."""
    cfg = {k: v for k, v in cfg.items() if k not in PIPELINE_KEYS}
    unknown = sorted(k for k in cfg if k not in FIELDS)
    if unknown:
        raise ValueError(f"unknown eval config keys {unknown}; valid keys: {sorted(FIELDS)}")
    if cfg.get("max_new_tokens") is None:
        raise ValueError(
            "eval.max_new_tokens is not set; give an int >= 1 (the benchmark's own budget is used "
            "by `python -m eval.run` when eval.max_new_tokens is null)"
        )
    settings = EvalSettings(**{k: v for k, v in cfg.items() if v is not None})  # null keeps the default
    _int("max_new_tokens", settings.max_new_tokens, 1)
    _int("batch_size", settings.batch_size, 1)
    _int("chunk_items", settings.chunk_items, 1, allow_none=True)
    _int("compact_every", settings.compact_every, 1, allow_none=True)
    _int("limit", settings.limit, 0, allow_none=True)
    _int("start_from", settings.start_from, 0)
    _int("n_samples", settings.n_samples, 1)
    _int("seed", settings.seed, 0)
    _int("bootstrap_resamples", settings.bootstrap_resamples, 1)
    _choice("backend", settings.backend, BACKENDS)
    _choice("decoding", settings.decoding, DECODINGS)
    _choice("dtype", settings.dtype, DTYPES)
    from data.trace_format import FORMATS

    _choice("trace_format", settings.trace_format, FORMATS)
    if not isinstance(settings.quick, bool) or not isinstance(settings.report, bool):
        raise ValueError(f"eval.quick={settings.quick!r} / eval.report={settings.report!r}: expected true or false")
    if settings.decoding == "greedy" and settings.n_samples != 1:
        raise ValueError(
            f"eval.n_samples={settings.n_samples} needs eval.decoding=sample (greedy decoding gives one "
            "completion per problem); valid: decoding=greedy with n_samples=1, or decoding=sample"
        )
    if settings.do_sample:
        if (
            isinstance(settings.temperature, bool)
            or not isinstance(settings.temperature, (int, float))
            or settings.temperature <= 0
        ):
            raise ValueError(
                f"eval.temperature={settings.temperature!r} is not valid with decoding=sample; "
                "expected a number > 0 (use decoding=greedy for temperature 0)"
            )
        _unit("top_p", settings.top_p)
    _unit("ci_alpha", settings.ci_alpha)
    _unit("truncation_warn", settings.truncation_warn, low_open=False)
    ks = settings.ks
    if ks is not None:
        ks = tuple(_int("ks", k, 1) for k in ks)
        bad = [k for k in ks if k > settings.n_samples]
        if bad:
            raise ValueError(
                f"eval.ks={list(ks)}: {bad} exceed eval.n_samples={settings.n_samples}; "
                f"valid ks are 1..{settings.n_samples}"
            )
    vllm = dict(settings.vllm or {})
    if settings.backend == "openai" and not (settings.openai or {}).get("base_url"):
        raise ValueError(
            "eval.backend=openai needs eval.openai.base_url (an OpenAI-compatible endpoint such as "
            "http://127.0.0.1:8000/v1 from `python -m llama_cpp.server` or `python -m launch.serve`)"
        )
    return EvalSettings(
        **{
            **settings.__dict__,
            "ks": ks,
            "vllm": vllm,
            "llama_cpp": dict(settings.llama_cpp or {}),
            "openai": dict(settings.openai or {}),
            "temperature": float(settings.temperature),
            "top_p": float(settings.top_p),
        }
    )
