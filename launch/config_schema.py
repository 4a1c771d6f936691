"""The typed schema of the pipeline config (conf/config.yaml): one dataclass per config group, and `validate_config`.

The YAML files under conf/ are the presets: they hold every value and its comment. The dataclasses here hold
only what a value may be: each key's type, and in its field metadata the valid range (`ge`, `gt`, `le`, `lt`),
choices, or pattern; no field has a default (an absent required key is an error, never silently filled). A
field marked `optional` may be absent (TRL / the code then uses its own default). Every schema is registered in
Hydra's ConfigStore under the group `schema` (`schema/<group>`, teachers under `schema/teacher/<backend>`), so
they are the documented types of the config; composition itself still reads the YAML presets.

`validate_config(cfg)` checks a composed config against these schemas without changing it (it reads a resolved
copy) and raises `launch.config_check.ConfigError` with one line naming the key, the bad value and what is
valid, e.g. `sft.max_steps=-5: must be an integer >= 1`. After the single-key checks it runs the code's own
cross-key checks (toy world ranges, teacher configs, rl.grpo_config.check_rl_config, eval.settings, filters) so
that they too fail before any stage runs.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Union, get_args, get_origin, get_type_hints

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from data.sources import ANSWER_FORMATS
from data.trace_format import FORMATS
from eval.settings import BACKENDS as EVAL_BACKENDS
from eval.settings import DECODINGS
from eval.settings import DTYPES as MODEL_DTYPES
from launch.config_check import ConfigError, group_options
from rewards.registry import REWARDS
from rl.grpo_config import LOSS_TYPES, SCALE_REWARDS
from rl.vllm_guard import BACKENDS as GENERATION_BACKENDS
from rl.vllm_guard import VLLM_MODES
from sft.teachers.dataset import SCHEMAS as DATASET_SCHEMAS
from sft.teachers.multi import POLICIES
from sft.teachers.openai_api import TOKEN_LIMIT_PARAMS

# Choices TRL / transformers define (tests/test_config_schema.py checks them against the installed versions).
LR_SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
    "greedy",
)  # transformers.SchedulerType
SFT_LOSS_TYPES = ("nll", "dft", "chunked_nll")  # trl.SFTConfig.loss_type
PACKING_STRATEGIES = ("bfd", "bfd_split", "wrapped")  # trl.SFTConfig.packing_strategy
IMPORTANCE_SAMPLING_LEVELS = ("token", "sequence")  # trl.GRPOConfig.importance_sampling_level
REWARD_AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")  # trl.GRPOConfig.multi_objective_aggregation
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")
REPORT_TO = ("none", "wandb", "tensorboard")
SFT_DATA = ("trace", "answer_only")
ANSWERS_FROM = ("data", "teacher")  # launch/stages.py answers_from
SOLUTION_STYLES = ("answer_is", "hashes", "boxed")  # launch/stages.py SOLUTION_ENDINGS
TRAJECTORIES = ("deepseek", "gemini")
DEVICE = (r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:<index> or mps")
URL = (r"https?://\S+", "an http(s) URL such as http://127.0.0.1:8000/v1")
PORT = {"ge": 1, "le": 65535}


def key(
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Any = None,
    pattern: tuple[str, str] | None = None,
    optional: bool = False,
    min_items: int | None = None,
    type: Any = None,
    select: Callable[[Any, str], type] | None = None,
) -> Any:
    """A schema field without a default. Bounds, choices (a tuple, or a function returning one) and `pattern`
    (regex, its description) apply to the value, or to each item of a list. `optional`: the key may be absent.
    `type`: the real type where OmegaConf cannot hold it (a union of containers; the annotation is then Any).
    `select(value, key)`: the schema of a mapping chosen by its content (a teacher by its backend)."""
    meta = dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices, pattern=pattern, min_items=min_items, type=type)
    meta = {k: v for k, v in meta.items() if v is not None}
    if optional:
        meta["optional"] = True
    if select is not None:
        meta["select"] = select
    return field(metadata=meta)


def _teacher_schema(value: Any, path: str) -> type:
    from sft.teachers.base import backend_name

    backend = backend_name(value)
    if backend not in TEACHER_SCHEMAS:
        where = "backend" if value.get("backend") else "name"
        raise ConfigError(
            f"{path}.{where}={_show(value.get(where))}: names no teacher backend; "
            f"set {path}.backend to one of {sorted(TEACHER_SCHEMAS)}"
        )
    return TEACHER_SCHEMAS[backend]


def _reward_schema(value: Any, path: str) -> type:
    name = value.get("name")
    if name not in REWARD_SCHEMAS:
        raise ConfigError(f"{path}.name={_show(name)}: must be one of {sorted(REWARD_SCHEMAS)}")
    return REWARD_SCHEMAS[name]


def _recipe_schema(value: Any, path: str) -> type:
    name = value.get("name")
    if name not in RECIPE_SCHEMAS:
        raise ConfigError(f"{path}.name={_show(name)}: must be one of {sorted(RECIPE_SCHEMAS)}")
    return RECIPE_SCHEMAS[name]


def _conditions() -> list[str]:
    return group_options("condition")


# ---- data, model ---------------------------------------------------------------------------------------
@dataclass
class DataSchema:
    """conf/data/toy.yaml: the toy world (data/toy_world.py ToyWorldConfig)."""

    name: str
    n_train: int = key(ge=1)
    n_test: int = key(ge=1)
    n_dev: int = key(ge=1)
    min_steps: int = key(ge=1)
    max_steps: int = key(ge=1)
    max_value: int = key(ge=20)
    max_factor: int = key(ge=2)
    max_addend: int = key(ge=2)
    seed: int = key(ge=0)


@dataclass
class RealDataSchema:
    """conf/data/gsm8k.yaml, conf/data/math.yaml: a real source's splits (data/sources.py)."""

    name: str
    train_path: str | None
    test_path: str | None
    n_train: int | None = key(ge=1)
    n_test: int | None = key(ge=1)
    decontam_ngram: int | None = key(ge=1)


@dataclass
class HfDataSchema(RealDataSchema):
    """conf/data/hf.yaml: any hub dataset with a question and a verifiable answer column (data/sources.py)."""

    path: str | None
    config: str | None
    train_split: str
    test_split: str
    question_key: str
    answer_key: str
    answer_format: str = key(choices=ANSWER_FORMATS)
    max_new_tokens: int = key(ge=1)


DATA_SCHEMAS: dict[str, type] = {"toy": DataSchema, "gsm8k": RealDataSchema, "math": RealDataSchema, "hf": HfDataSchema}


def _data_schema(value: Any, path: str) -> type:
    name = value.get("name")
    if name not in DATA_SCHEMAS:
        raise ConfigError(f"{path}.name={_show(name)}: must be one of {sorted(DATA_SCHEMAS)}")
    return DATA_SCHEMAS[name]


@dataclass
class TokenizerSchema:
    """model.tokenizer: the tiny model's locally trained byte-level BPE (sft/tiny_model.py)."""

    vocab_size: int = key(ge=256)  # the byte-level alphabet alone is 256 tokens
    corpus_problems: int = key(ge=1)


@dataclass
class ArchSchema:
    """model.arch: transformers.Qwen3Config fields of the tiny model (vocab, special tokens and tying are set by
    sft/tiny_model.py and may not appear here)."""

    hidden_size: int = key(ge=1)
    intermediate_size: int = key(ge=1)
    num_hidden_layers: int = key(ge=1)
    num_attention_heads: int = key(ge=1)
    num_key_value_heads: int = key(ge=1)
    head_dim: int = key(ge=1)
    max_position_embeddings: int = key(ge=1)
    rope_theta: float = key(gt=0)
    rms_norm_eps: float = key(gt=0, optional=True)
    initializer_range: float = key(gt=0, optional=True)
    attention_dropout: float = key(ge=0, lt=1, optional=True)
    attention_bias: bool = key(optional=True)
    hidden_act: str = key(optional=True)


@dataclass
class SftTrainerArgs:
    """The trl.SFTConfig keys a conf/sft preset (or model.pretrain) may set (sft/train.py _TRAINER_KEYS)."""

    learning_rate: float = key(gt=0, optional=True)
    lr_scheduler_type: str = key(choices=LR_SCHEDULERS, optional=True)
    warmup_steps: float = key(ge=0, optional=True)  # a float < 1 is a share of max_steps
    weight_decay: float = key(ge=0, optional=True)
    max_steps: int = key(ge=1, optional=True)
    num_train_epochs: float = key(gt=0, optional=True)
    per_device_train_batch_size: int = key(ge=1, optional=True)
    gradient_accumulation_steps: int = key(ge=1, optional=True)
    max_length: int | None = key(ge=1, optional=True)
    logging_steps: int = key(ge=1, optional=True)
    save_steps: int = key(ge=1, optional=True)
    save_total_limit: int | None = key(ge=1, optional=True)
    max_grad_norm: float = key(ge=0, optional=True)
    adam_beta1: float = key(ge=0, lt=1, optional=True)
    adam_beta2: float = key(ge=0, lt=1, optional=True)
    gradient_checkpointing: bool = key(optional=True)
    bf16: bool = key(optional=True)
    packing: bool = key(optional=True)
    packing_strategy: str = key(choices=PACKING_STRATEGIES, optional=True)
    dataset_num_proc: int | None = key(ge=1, optional=True)
    loss_type: str = key(choices=SFT_LOSS_TYPES, optional=True)
    optim: str = key(optional=True)


@dataclass
class PretrainSchema(SftTrainerArgs):
    """model.pretrain: the toy base model's pretraining corpus and SFT recipe (launch/stages.py stage_base)."""

    n_facts: int = key(ge=1)
    facts_per_doc: int = key(ge=1)
    n_statements: int = key(ge=0)
    n_solutions: int = key(ge=0)  # worked solutions of training problems (launch/stages.py worked_solutions)
    solution_styles: list[str] = key(min_items=1, choices=SOLUTION_STYLES)
    slip_share: float = key(ge=0, le=1)
    skip_share: float = key(ge=0, le=1)
    chat_share: float = key(ge=0, le=1)
    threads: int = key(ge=1)
    max_steps: int = key(ge=1)


@dataclass
class ModelSchema:
    """conf/model/*.yaml: the student (a hub model, or the tiny one built from tokenizer/arch/pretrain)."""

    name: str
    name_or_path: str | None
    dtype: str = key(choices=MODEL_DTYPES)
    attn_implementation: str | None = key(choices=ATTN_IMPLEMENTATIONS)
    tokenizer: TokenizerSchema | None
    arch: ArchSchema | None
    pretrain: PretrainSchema | None
    prebuilt: str | None = key(optional=True)  # a built copy of the toy base (launch/prebuilt_base.py)


# ---- teachers (one schema per backend; the backend is `backend`, else `name`) ---------------------------
@dataclass
class TeacherCommon:
    """Keys every teacher preset has; read by the teacher stage, not the backend."""

    name: str
    backend: str = key(choices=("program", "hf", "vllm", "openai", "dataset", "multi"), optional=True)
    max_problems: int | None = key(ge=1, optional=True)  # the teacher budget (null: every problem)
    only_verified: bool


@dataclass
class ProgramTeacherSchema(TeacherCommon):
    """conf/teacher/program.yaml (sft/teachers/program.py)."""

    n_paths: int = key(ge=1, le=6)  # 3 phrasings x 2 operand orders: 6 distinct paths exist (MAX_PATHS)
    wrong_share: float = key(ge=0, le=1)
    skip_share: float = key(ge=0, le=1)
    seed: int = key(ge=0)
    ablation: str = key(choices=("none", "wrong_numbers", "delete_steps", "add_steps"))  # program.ABLATIONS
    ablation_share: float = key(ge=0, le=1)


@dataclass
class HFTeacherSchema(TeacherCommon):
    """conf/teacher/hf.yaml (sft/teachers/hf.py)."""

    name_or_path: str
    n_paths: int = key(ge=1)
    temperature: float = key(ge=0)  # 0: greedy
    top_p: float = key(gt=0, le=1)
    max_new_tokens: int = key(ge=1)
    batch_size: int = key(ge=1)
    dtype: str = key(choices=MODEL_DTYPES)
    compact_every: int | None = key(ge=1)


@dataclass
class VLLMTeacherSchema(TeacherCommon):
    """conf/teacher/vllm.yaml (sft/teachers/vllm_offline.py)."""

    name_or_path: str
    n_paths: int = key(ge=1)
    temperature: float = key(ge=0)
    top_p: float = key(gt=0, le=1)
    max_new_tokens: int = key(ge=1)
    chunk_size: int = key(ge=1)
    seed: int = key(ge=0)
    dtype: str = key(choices=MODEL_DTYPES)
    tensor_parallel_size: int = key(ge=1)
    gpu_memory_utilization: float = key(gt=0, le=1)
    max_model_len: int | None = key(ge=1)


@dataclass
class OpenAITeacherSchema(TeacherCommon):
    """conf/teacher/openai.yaml (sft/teachers/openai_api.py)."""

    base_url: str = key(pattern=URL)
    model: str
    api_key_env: str | None  # the NAME of the environment variable holding the key
    n_paths: int = key(ge=1)
    temperature: float = key(ge=0, le=2)
    top_p: float = key(gt=0, le=1)
    max_tokens: int = key(ge=1)
    token_limit_param: str = key(choices=TOKEN_LIMIT_PARAMS)
    seed: int | None = key(ge=0)
    concurrency: int = key(ge=1)
    max_retries: int = key(ge=0)
    backoff_base: float = key(ge=0)
    backoff_max: float = key(ge=0)
    timeout: float = key(gt=0)
    max_failed_problems: int = key(ge=0)
    price_per_million_input: float | None = key(ge=0)
    price_per_million_output: float | None = key(ge=0)


@dataclass
class DatasetTeacherSchema(TeacherCommon):
    """conf/teacher/dataset_*.yaml (sft/teachers/dataset.py)."""

    schema: str = key(choices=DATASET_SCHEMAS)
    hub_id: str | None
    path: Any = key(type=str | list[str] | None)  # local file(s) instead of the hub
    split: str
    limit: int | None = key(ge=1)
    trajectory: str = key(choices=TRAJECTORIES)
    tokenizer: str | None


@dataclass
class MultiTeacherSchema(TeacherCommon):
    """conf/teacher/multi.yaml (sft/teachers/multi.py); each entry of `teachers` is checked against its own
    backend's schema once resolved (a name, `{base: name, ...}` or an inline config)."""

    policy: str = key(choices=POLICIES)
    weights: list[float] | None = key(ge=0)
    teachers: list[Any] = key(min_items=1)


TEACHER_SCHEMAS: dict[str, type] = {
    "program": ProgramTeacherSchema,
    "hf": HFTeacherSchema,
    "vllm": VLLMTeacherSchema,
    "openai": OpenAITeacherSchema,
    "dataset": DatasetTeacherSchema,
    "multi": MultiTeacherSchema,
}


# ---- filters, sft ---------------------------------------------------------------------------------------
@dataclass
class FiltersSchema:
    """conf/filters/*.yaml (sft/filters.py FilterConfig); with `enabled: false` the rest may be absent."""

    enabled: bool
    verified: bool = key(optional=True)
    structure: bool = key(optional=True)
    min_tokens: int = key(ge=0, optional=True)
    max_tokens: int | None = key(ge=1, optional=True)
    exact_dup: bool = key(optional=True)
    near_dup_threshold: float | None = key(gt=0, le=1, optional=True)
    near_dup_ngram: int = key(ge=1, optional=True)
    decontam_ngram: int | None = key(ge=1, optional=True)


@dataclass
class LoraSchema:
    """The `lora:` block of conf/sft and conf/rl presets (PEFT LoraConfig, sft/checkpoints.py lora_config)."""

    r: int = key(ge=1)
    alpha: float = key(gt=0)
    dropout: float = key(ge=0, lt=1)
    use_rslora: bool
    target_modules: Any = key(type=str | list[str])


@dataclass
class SftSchema(SftTrainerArgs):
    """conf/sft/*.yaml: trl.SFTConfig keys plus ours (name, lora)."""

    name: str
    learning_rate: float = key(gt=0)
    max_steps: int = key(ge=1)
    per_device_train_batch_size: int = key(ge=1)
    save_steps: int = key(ge=1)
    max_rows: int | None = key(ge=1)  # ours: the SFT rows budget (launch/stages.py row_budget; null: every row)
    lora: LoraSchema | None


# ---- rl, reward -----------------------------------------------------------------------------------------
@dataclass
class PromptFilterSchema:
    """rl.prompt_filter (rl/prompt_filter.py): drop prompts the start model always / never solves."""

    enabled: bool
    n_samples: int = key(ge=1)
    drop_pass_rates: list[float] = key(ge=0, le=1)
    max_prompts: int | None = key(ge=1)
    batch_size: int = key(ge=1)


@dataclass
class LearningProbeSchema:
    """rl.learning_probe (rl/learning_probe.py): pass rate on fixed training prompts, start vs end."""

    n_prompts: int = key(ge=2)
    n_samples: int = key(ge=1)


@dataclass
class GenerationSchema:
    """rl.generation (rl/vllm_guard.py): hf, or vLLM colocated / on a `trl vllm-serve` server."""

    backend: str = key(choices=GENERATION_BACKENDS)
    vllm_mode: str = key(choices=VLLM_MODES)
    vllm_gpu_memory_utilization: float = key(gt=0, le=1)
    vllm_enable_sleep_mode: bool
    vllm_tensor_parallel_size: int = key(ge=1)
    vllm_max_model_length: int | None = key(ge=1)
    vllm_server_host: str
    vllm_server_port: int = key(**PORT)
    vllm_server_timeout: float = key(ge=0)
    vllm_importance_sampling_correction: bool


@dataclass
class RlSchema:
    """conf/rl/*.yaml: trl.GRPOConfig keys (rl/grpo_config.py TRAINER_KEYS) plus ours (OUR_KEYS)."""

    name: str
    n_prompts: int | None = key(ge=1)
    max_prompt_length: int = key(ge=1)
    prompt_filter: PromptFilterSchema
    learning_probe: LearningProbeSchema | None
    beta: float = key(ge=0)
    loss_type: str = key(choices=LOSS_TYPES)
    scale_rewards: str = key(choices=SCALE_REWARDS)
    num_generations: int = key(ge=2)
    epsilon: float = key(gt=0)
    epsilon_high: float | None = key(gt=0)
    mask_truncated_completions: bool
    importance_sampling_level: str = key(choices=IMPORTANCE_SAMPLING_LEVELS)
    num_iterations: int = key(ge=1)
    multi_objective_aggregation: str = key(choices=REWARD_AGGREGATIONS)
    temperature: float = key(gt=0)
    top_p: float = key(gt=0, le=1)
    top_k: int | None = key(ge=0)  # 0: off
    max_completion_length: int = key(ge=1)
    chat_template_kwargs: dict[str, Any] | None
    learning_rate: float = key(gt=0)
    lr_scheduler_type: str = key(choices=LR_SCHEDULERS)
    warmup_steps: float = key(ge=0)  # a float < 1 is a share of max_steps
    weight_decay: float = key(ge=0)
    max_grad_norm: float = key(ge=0)
    max_steps: int = key(ge=1)
    per_device_train_batch_size: int = key(ge=1)
    gradient_accumulation_steps: int = key(ge=1)
    steps_per_generation: int | None = key(ge=1)
    gradient_checkpointing: bool
    disable_dropout: bool
    lora: LoraSchema | None
    generation: GenerationSchema
    logging_steps: int = key(ge=1)
    save_steps: int = key(ge=1)
    save_total_limit: int | None = key(ge=1)
    log_rollouts: bool
    bf16: bool = key(optional=True)
    optim: str = key(optional=True)
    log_completions: bool = key(optional=True)
    shuffle_dataset: bool = key(optional=True)


@dataclass
class RewardFuncSchema:
    """One entry of reward.funcs: a rewards.registry name and its weight."""

    name: str = key(choices=tuple(REWARDS))
    weight: float = key(optional=True)  # any real number (1.0 when absent)


@dataclass
class CorrectnessRewardSchema(RewardFuncSchema):
    """rewards.trl_rewards.make_correctness_reward."""

    answer_key: str | None = key(optional=True)
    timeout_s: float | None = key(gt=0, optional=True)
    correct: float = key(optional=True)
    wrong: float = key(optional=True)
    no_answer: float = key(optional=True)
    log_metrics: bool = key(optional=True)
    warmup: bool = key(optional=True)
    strict: bool = key(optional=True)  # only a marked answer counts (rewards/extract.py)
    trace_format: str = key(choices=FORMATS, optional=True)  # set by the pipeline from `format` (post: leading answer)


@dataclass
class FormatRewardSchema(RewardFuncSchema):
    """rewards.trl_rewards.make_format_reward."""

    allow_missing_open_tag: bool = key(optional=True)
    max_tail_chars: int = key(ge=0, optional=True)
    min_think_chars: int = key(ge=0, optional=True)
    trace_format: str = key(choices=FORMATS, optional=True)  # set by the pipeline from `format`


@dataclass
class ArithmeticRewardSchema(RewardFuncSchema):
    """rewards.arithmetic.make_arithmetic_reward."""

    grounded: bool = key(optional=True)
    no_equation: float = key(optional=True)
    max_equations: int = key(ge=1, optional=True)


@dataclass
class TagCountRewardSchema(RewardFuncSchema):
    """rewards.trl_rewards.make_tag_count_reward (no knobs)."""


@dataclass
class LengthPenaltySchema(RewardFuncSchema):
    """rewards.trl_rewards.make_length_penalty (needs 0 < soft_tokens < max_tokens)."""

    soft_tokens: int = key(ge=1, optional=True)
    max_tokens: int = key(ge=1, optional=True)
    scale: float = key(ge=0, optional=True)
    chars_per_token: float = key(gt=0, optional=True)


REWARD_SCHEMAS: dict[str, type] = {
    "correctness": CorrectnessRewardSchema,
    "format": FormatRewardSchema,
    "arithmetic": ArithmeticRewardSchema,
    "tag_count": TagCountRewardSchema,
    "length_penalty": LengthPenaltySchema,
}


@dataclass
class RewardSchema:
    """conf/reward/*.yaml (rewards/registry.py build_reward_funcs)."""

    verify_timeout_s: float | None = key(gt=0)
    funcs: list[Any] = key(min_items=1, select=_reward_schema)


# ---- deepspeed, eval ------------------------------------------------------------------------------------
@dataclass
class DeepSpeedSchema:
    """conf/deepspeed/*.yaml: `config` is passed as it is to SFTConfig(deepspeed=...) (DeepSpeed's own JSON)."""

    name: str
    config: dict[str, Any] | None


@dataclass
class EvalVllmSchema:
    """eval.vllm: vllm.LLM engine arguments of the vllm eval backend (any other engine argument may be added)."""

    _open = True  # keys beyond these are passed to vllm.LLM as they are
    gpu_memory_utilization: float = key(gt=0, le=1, optional=True)
    tensor_parallel_size: int = key(ge=1, optional=True)
    max_model_len: int | None = key(ge=1, optional=True)


@dataclass
class EvalLlamaCppSchema:
    """eval.llama_cpp: the llama_cpp eval backend (eval/llama_cpp_backend.py)."""

    n_ctx: int | None = key(ge=16, optional=True)
    n_threads: int | None = key(ge=1, optional=True)


@dataclass
class EvalOpenAISchema:
    """eval.openai: the openai eval backend (eval/openai_backend.py)."""

    base_url: str | None = key(pattern=URL, optional=True)
    api_key_env: str | None = key(optional=True)  # the NAME of the environment variable holding the key
    timeout: float = key(gt=0, optional=True)
    max_retries: int = key(ge=0, optional=True)
    concurrency: int = key(ge=1, optional=True)


def _benchmarks() -> list[str]:
    return group_options("benchmark")


@dataclass
class BenchmarkPathsSchema:
    """eval.benchmark_paths: a local copy per benchmark for the pipeline's eval stage (null: the preset's path)."""

    gsm8k: str | None
    math500: str | None
    arc_challenge: str | None
    strategyqa: str | None
    tinygsm: str | None


@dataclass
class EvalSchema:
    """conf/eval/*.yaml (eval/settings.py EvalSettings; documented in conf/eval/greedy.yaml)."""

    name: str
    backend: str = key(choices=EVAL_BACKENDS)
    max_new_tokens: int | None = key(ge=1)  # null: the benchmark's own budget (python -m eval.run)
    batch_size: int = key(ge=1)
    chunk_items: int | None = key(ge=1)
    compact_every: int | None = key(ge=1)
    limit: int | None = key(ge=0)
    start_from: int = key(ge=0)
    quick: bool
    dtype: str = key(choices=MODEL_DTYPES)
    attn_implementation: str | None = key(choices=ATTN_IMPLEMENTATIONS)
    device: str = key(pattern=DEVICE)
    decoding: str = key(choices=DECODINGS)
    n_samples: int = key(ge=1)
    temperature: float = key(ge=0)  # > 0 with decoding=sample (eval/settings.py checks that)
    top_p: float = key(gt=0, le=1)
    seed: int = key(ge=0)
    ks: list[int] | None = key(ge=1)
    bootstrap_resamples: int = key(ge=1)
    ci_alpha: float = key(gt=0, le=1)
    truncation_warn: float = key(ge=0, le=1)
    prompt_template: str | None
    report: bool
    vllm: EvalVllmSchema | None = key(optional=True)
    llama_cpp: EvalLlamaCppSchema | None = key(optional=True)
    openai: EvalOpenAISchema | None = key(optional=True)
    benchmark: str | None = key(optional=True)
    label: str | None = key(optional=True)
    benchmarks: list[str] | None = key(choices=_benchmarks, optional=True)  # the pipeline's eval stage only
    benchmark_paths: BenchmarkPathsSchema | None = key(optional=True)  # the pipeline's eval stage only
    test_split: bool = key(optional=True)  # the pipeline's eval stage only: the data's test split beside benchmarks
    trace_format: str = key(choices=FORMATS, optional=True)  # set by the pipeline's eval stage from `format`
    error_propagation: int | None = key(ge=1, optional=True)  # the pipeline's eval stage only: problems probed
    template_shift: bool = key(optional=True)  # the pipeline's eval stage only: also the template-shift split
    split: str = key(choices=("test", "dev"), optional=True)  # the pipeline's eval stage only: the scored split


@dataclass
class FormatSchema:
    """conf/format/*.yaml (data/trace_format.py TraceFormat)."""

    name: str = key(choices=FORMATS)
    min_ops: int | None = key(ge=1)  # adaptive only (data/trace_format.py checks which format needs it)


# ---- condition, kd, redistill, logger, demo, cluster ----------------------------------------------------
@dataclass
class ConditionSchema:
    """conf/condition/*.yaml: a condition's stages in order; each a stage name or a `repeat:` group (their
    names and order are checked by launch/conditions.py plan_stages)."""

    name: str
    stages: list[Any] = key(min_items=1)
    sft_data: str | None = key(choices=SFT_DATA)
    continue_sft: dict[str, Any] | None = key(optional=True)  # keys of `sft` the continued SFT changes
    answers_from: str | None = key(choices=ANSWERS_FROM, optional=True)  # answer-only SFT: data or teacher rows


@dataclass
class KdSchema:
    """conf/kd/default.yaml (sft/kd.py KDSettings)."""

    teacher: str | None
    temperature: float = key(gt=0)
    alpha: float = key(ge=0, le=1)
    beta: float = key(ge=0, le=1)
    lmbda: float = key(ge=0, le=1)
    cross_tokenizer: bool
    seq_kd: bool
    sample_temperature: float = key(gt=0)
    max_new_tokens: int = key(ge=1)


@dataclass
class RedistillSamplingSchema:
    """redistill.sampling: the GRPO policy sampled as an hf teacher (launch/stages.py stage_policy_traces)."""

    n_problems: int | None = key(ge=1)
    n_paths: int = key(ge=1)
    temperature: float = key(ge=0)
    top_p: float = key(gt=0, le=1)
    max_new_tokens: int = key(ge=1)
    batch_size: int = key(ge=1)
    compact_every: int | None = key(ge=1)


@dataclass
class RedistillSchema:
    """conf/redistill/default.yaml."""

    rounds: int = key(ge=1)
    mix_teacher: float = key(ge=0)
    source: str = key(choices=("policy", "dataset_openr1", "dataset_s1k"))  # launch/stages.py REDISTILL_DATASETS
    source_path: str | None
    max_traces: int | None = key(ge=1)
    sampling: RedistillSamplingSchema


@dataclass
class LoggerSchema:
    """conf/logger/*.yaml."""

    name: str
    report_to: str = key(choices=REPORT_TO)
    project: str = key(optional=True)
    entity: str | None = key(optional=True)


@dataclass
class DemoSchema:
    """conf/demo/default.yaml (launch/demo.py)."""

    conditions: list[str] = key(min_items=1, choices=_conditions)
    parallel: bool
    critical_path: list[str] = key(choices=_conditions)  # run at normal priority; the other conditions at `nice`
    nice: int = key(ge=0, le=19)
    overrides: list[str]
    results: str


@dataclass
class ClusterRunSchema:
    """cluster.run: one pipeline run = one job of a Hydra sweep on Slurm."""

    gpus: int = key(ge=0)
    cpus: int = key(ge=1)
    mem_gb: int = key(ge=1)
    time_min: int = key(ge=1)
    max_parallel: int = key(ge=1)


@dataclass
class ClusterSchema:
    """conf/cluster/*.yaml (launch/slurm_recipes.py, conf/hydra/launcher/slurm*.yaml)."""

    name: str
    partition: str
    account: str | None
    nodes: int = key(ge=1)
    gpus_per_node: int = key(ge=0)
    cpus_per_task: int = key(ge=1)
    mem_gb: int = key(ge=1)
    time_min: int = key(ge=1)
    price_per_gpu_hour: float = key(ge=0)
    vllm_nodes: int = key(ge=0)
    setup: list[str]
    run: ClusterRunSchema


# ---- groups outside the pipeline's defaults list (added with `+benchmark=...`, `+recipe=...`) ------------
@dataclass
class BenchmarkSchema:
    """conf/benchmark/*.yaml (data/benchmarks.py; root group of conf/eval_run.yaml)."""

    name: str
    path: str | None
    limit: int | None = key(ge=0)
    max_new_tokens: int = key(ge=1)


@dataclass
class RecipeCommon:
    """Keys of every conf/recipe preset (launch/slurm_recipes.py; root group of conf/slurm_recipe.yaml)."""

    name: str
    job_name: str
    condition: str = key(choices=_conditions)
    pipeline_overrides: list[str]
    nproc_per_node: int | None = key(ge=1)
    threads: int | None = key(ge=1)
    rdzv_port: int = key(**PORT)
    env: dict[str, Any]


@dataclass
class SftMultinodeRecipeSchema(RecipeCommon):
    """conf/recipe/sft_multinode.yaml."""

    rows: str | None
    model: str | None
    out: str


@dataclass
class GrpoVllmServerRecipeSchema(RecipeCommon):
    """conf/recipe/grpo_vllm_server.yaml."""

    vllm_model: str | None
    vllm_tensor_parallel_size: int = key(ge=1)
    vllm_data_parallel_size: int = key(ge=1)
    vllm_gpu_memory_utilization: float = key(gt=0, le=1)
    vllm_max_model_len: int | None = key(ge=1)
    vllm_dtype: str = key(choices=("auto", "bfloat16", "float16", "float32"))
    vllm_startup_timeout_s: float = key(gt=0)


@dataclass
class PipelineMultinodeRecipeSchema(RecipeCommon):
    """conf/recipe/pipeline_multinode.yaml."""

    tasks_per_node: int = key(ge=1)


RECIPE_SCHEMAS: dict[str, type] = {
    "sft_multinode": SftMultinodeRecipeSchema,
    "grpo_vllm_server": GrpoVllmServerRecipeSchema,
    "pipeline_multinode": PipelineMultinodeRecipeSchema,
}


# ---- root -----------------------------------------------------------------------------------------------
@dataclass
class StudyFilesSchema:
    """study.files: local copies of the trace sets a study reads (null: the hub)."""

    s1k: str | None
    openr1: str | None
    orca: str | None


@dataclass
class StudySchema:
    """conf/study/*.yaml: a study recipe (its name, and the local copies of the trace sets its conditions read)."""

    name: str
    files: StudyFilesSchema


@dataclass
class CostSchema:
    """cost: accounting in every run summary (launch/cost.py)."""

    gpus: int | None = key(ge=0)  # null: every visible CUDA device
    price_per_gpu_hour: float = key(ge=0)


@dataclass
class DeploySchema:
    """deploy: the GGUF export + quantized eval stage (launch/stages.py stage_deploy, launch/export.py)."""

    enabled: bool
    quant: str = key(choices=("q4", "q8", "f16", "f32"))
    embedding_quant: str = key(choices=("q4", "q8", "f16", "f32"))
    n_threads: int | None = key(ge=1)


@dataclass
class ConfigSchema:
    """conf/config.yaml: the composed pipeline config."""

    data: DataSchema = key(select=_data_schema)  # the toy world's, or a real source's (DATA_SCHEMAS)
    model: ModelSchema
    teacher: Any = key(select=_teacher_schema)
    format: FormatSchema
    filters: FiltersSchema
    sft: SftSchema
    rl: RlSchema
    reward: RewardSchema
    deepspeed: DeepSpeedSchema
    eval: EvalSchema
    condition: ConditionSchema
    kd: KdSchema
    redistill: RedistillSchema
    logger: LoggerSchema
    demo: DemoSchema
    cluster: ClusterSchema
    seed: int = key(ge=0)  # numpy (seeded by the trainers) takes seeds in [0, 2**32)
    threads: int = key(ge=1)
    output_root: str
    run_name: str
    only_stages: list[str] | None  # stage names (launch/pipeline.py KNOWN_STAGES)
    cost: CostSchema
    deploy: DeploySchema
    benchmark: BenchmarkSchema | None = key(optional=True)
    recipe: Any = key(optional=True, select=_recipe_schema)
    study: StudySchema | None = key(optional=True)  # conf/study/<name>.yaml (+study=<name>)


GROUP_SCHEMAS: dict[str, type] = {
    f.name: get_type_hints(ConfigSchema)[f.name]
    for f in fields(ConfigSchema)
    if is_dataclass(get_type_hints(ConfigSchema)[f.name])
}


def register_schemas() -> None:
    """Store every schema in Hydra's ConfigStore: `schema/config` (the root), `schema/<group>`,
    `schema/teacher/<backend>`, `schema/reward_func/<name>`, `schema/recipe/<name>`."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(group="schema", name="config", node=ConfigSchema)
    for name, schema in {**GROUP_SCHEMAS, "benchmark": BenchmarkSchema}.items():
        store.store(group="schema", name=name, node=schema)
    for group, schemas in (("teacher", TEACHER_SCHEMAS), ("reward_func", REWARD_SCHEMAS), ("recipe", RECIPE_SCHEMAS)):
        for name, schema in schemas.items():
            store.store(group=f"schema/{group}", name=name, node=schema)


# ---- checking -------------------------------------------------------------------------------------------
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(schema: type) -> dict[str, Any]:
    if schema not in _HINTS:
        _HINTS[schema] = get_type_hints(schema)
    return _HINTS[schema]


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range_text(meta: Mapping[str, Any]) -> str:
    low = ("[", meta["ge"]) if "ge" in meta else ("(", meta["gt"]) if "gt" in meta else None
    high = ("]", meta["le"]) if "le" in meta else (")", meta["lt"]) if "lt" in meta else None
    if low and high:
        return f" in {low[0]}{_num(low[1])}, {_num(high[1])}{high[0]}"
    if low:
        return f" {'>=' if low[0] == '[' else '>'} {_num(low[1])}"
    if high:
        return f" {'<=' if high[0] == ']' else '<'} {_num(high[1])}"
    return ""


def _choices(meta: Mapping[str, Any]) -> list[Any] | None:
    choices = meta.get("choices")
    if choices is None:
        return None
    return list(choices() if callable(choices) else choices)


def _is_union(tp: Any) -> bool:
    return get_origin(tp) is Union or type(tp).__name__ == "UnionType"


_COMPARE = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}
_WORDS = {int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a string", "strings")}


def describe(tp: Any, meta: Mapping[str, Any], plural: bool = False) -> str:
    """What a value of type `tp` with field metadata `meta` may be, in words (`an integer >= 1 or null`)."""
    tp = meta.get("type", tp)
    if _is_union(tp):
        args = get_args(tp)
        parts = [
            describe(a, {k: v for k, v in meta.items() if k != "type"}, plural) for a in args if a is not type(None)
        ]
        text = ", ".join(parts[:-1]) + (" or " if len(parts) > 1 else "") + parts[-1]
        return text + (" or null" if type(None) in args else "")
    if "select" in meta and get_origin(tp) is not list:
        return "a mapping" if not plural else "mappings"
    if get_origin(tp) is list:
        (item,) = get_args(tp) or (Any,)
        inner = {k: v for k, v in meta.items() if k not in ("min_items", "type")}
        return f"a {'non-empty ' if meta.get('min_items') else ''}list of {describe(item, inner, plural=True)}"
    if get_origin(tp) is dict or tp is dict or is_dataclass(tp):
        return "mappings" if plural else "a mapping"
    if tp is bool:
        return "booleans (true or false)" if plural else "true or false"
    choices = _choices(meta)
    if choices is not None:
        return f"{'values' if plural else 'one'} of {choices}"
    if "pattern" in meta:
        return meta["pattern"][1]
    if tp in _WORDS:
        return _WORDS[tp][plural] + _range_text(meta)
    return "values" if plural else "any value"


def _scalar_ok(tp: Any, meta: Mapping[str, Any], value: Any) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif tp is str:
        ok = isinstance(value, str)
    else:
        return True
    if not ok:
        return False
    if tp is not str and any(bound in meta and not _COMPARE[bound](value, meta[bound]) for bound in _COMPARE):
        return False
    choices = _choices(meta)
    if choices is not None and value not in choices:
        return False
    return "pattern" not in meta or re.fullmatch(meta["pattern"][0], value) is not None


def _accepts(tp: Any, value: Any) -> bool:
    """Whether `value` has the shape of `tp` (for picking a member of a union)."""
    origin = get_origin(tp)
    if origin is list:
        return isinstance(value, list)
    if origin is dict or tp is dict or is_dataclass(tp):
        return isinstance(value, dict)
    return _scalar_ok(tp, {}, value)


def _check_value(tp: Any, meta: Mapping[str, Any], value: Any, path: str, nullable: bool = False) -> None:
    tp = meta.get("type", tp)
    meta = {k: v for k, v in meta.items() if k != "type"}
    full = (tp, meta)
    if _is_union(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        nullable = nullable or len(args) < len(get_args(tp))
        if value is None and nullable:
            return
        picked = args[0] if len(args) == 1 else next((a for a in args if _accepts(a, value)), None)
        if picked is None:
            raise ConfigError(f"{path}={_show(value)}: must be {describe(*full)}")
        return _check_value(picked, meta, value, path, nullable)
    if tp is Any and "select" not in meta:
        return
    bad = f"{path}={_show(value)}: must be {describe(*full)}{' or null' if nullable else ''}"
    origin = get_origin(tp)
    if origin is list:
        if not isinstance(value, list) or len(value) < meta.get("min_items", 0):
            raise ConfigError(bad)
        (item,) = get_args(tp) or (Any,)
        inner = {k: v for k, v in meta.items() if k != "min_items"}
        for i, v in enumerate(value):
            _check_value(item, inner, v, f"{path}[{i}]")
        return
    if "select" in meta:
        if not isinstance(value, dict):
            raise ConfigError(bad)
        return _check_node(meta["select"](value, path), value, path)
    if is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(bad)
        return _check_node(tp, value, path)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(bad)
        args = get_args(tp)
        for k, v in value.items():
            _check_value(args[1] if args else Any, {}, v, f"{path}.{k}")
        return
    if not _scalar_ok(tp, meta, value):
        raise ConfigError(bad)


def _check_node(schema: type, node: Mapping[str, Any], path: str) -> None:
    known = {f.name: f for f in fields(schema)}
    unknown = sorted(str(k) for k in node if k not in known)
    if unknown and not getattr(schema, "_open", False):
        where = f"{path}." if path else ""
        raise ConfigError(
            f"unknown config key '{where}{unknown[0]}'; valid keys under {path or '<root>'}: {sorted(known)}"
        )
    hints = _hints(schema)
    for name, f in known.items():
        key_path = f"{path}.{name}" if path else name
        if name not in node or node[name] == "???":
            if f.metadata.get("optional"):
                continue
            raise ConfigError(f"{key_path} is missing: must be {describe(hints[name], f.metadata)}")
        _check_value(hints[name], f.metadata, node[name], key_path)


# ---- cross-key checks: the code's own, run before anything is built -------------------------------------
def _code_check(group: str, check: Callable[[], Any]) -> None:
    try:
        check()
    except (ValueError, TypeError) as error:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(text if text.startswith(f"{group}.") else f"{group}: {text}") from None


# each backend's config dataclass (its __post_init__ holds the code's own checks)
TEACHER_CONFIGS = {
    "program": ("sft.teachers.program", "ProgramTeacherConfig"),
    "hf": ("sft.teachers.hf", "HFTeacherConfig"),
    "openai": ("sft.teachers.openai_api", "OpenAITeacherConfig"),
    "dataset": ("sft.teachers.dataset", "DatasetTeacherConfig"),
    "vllm": ("sft.teachers.vllm_offline", "VLLMTeacherConfig"),
}


def _check_teacher(teacher: Mapping[str, Any], path: str) -> None:
    """The backend's own config checks (e.g. a dataset teacher needs hub_id or path); for a multi teacher, its
    entries resolved from conf/teacher/ and each checked against its own backend's schema."""
    import importlib

    from sft.teachers.base import backend_name

    backend = backend_name(teacher)
    if backend in TEACHER_CONFIGS:
        module, name = TEACHER_CONFIGS[backend]
        cls = getattr(importlib.import_module(module), name)
        values = {f.name: teacher[f.name] for f in fields(cls)}
        _code_check(path, lambda: cls(**values))
    elif backend == "multi":
        from launch.teacher_configs import resolve_teacher_config
        from sft.teachers.multi import resolve_teachers

        resolved: list[tuple[str, dict[str, Any]]] = []

        def resolve() -> None:  # names and `base:` entries expanded from conf/teacher/, then the multi checks
            resolved.extend(resolve_teachers(resolve_teacher_config(teacher)["teachers"]))

        _code_check(path, resolve)
        for i, (_, entry) in enumerate(resolved):
            entry_path = f"{path}.teachers[{i}]"
            _check_node(_teacher_schema(entry, entry_path), entry, entry_path)
            _check_teacher(entry, entry_path)
        weights = teacher.get("weights")
        if weights is not None and len(weights) != len(resolved):
            raise ConfigError(f"{path}.weights={_show(weights)}: must be {len(resolved)} numbers >= 0, one per teacher")


def _cross_checks(cfg: Mapping[str, Any]) -> None:
    from data.toy_world import ToyWorldConfig
    from eval.settings import settings_from
    from rl.grpo_config import check_rl_config
    from sft.filters import FilterConfig

    if cfg["data"]["name"] == "toy":
        world = {f.name: cfg["data"][f.name] for f in fields(ToyWorldConfig)}
        _code_check("data", lambda: ToyWorldConfig(**world))
    _check_teacher(cfg["teacher"], "teacher")
    from data.trace_format import TraceFormat

    _code_check("format", lambda: TraceFormat.from_mapping(cfg["format"]))
    filters = {k: v for k, v in cfg["filters"].items() if k != "enabled"}
    if cfg["filters"]["enabled"]:
        _code_check("filters", lambda: FilterConfig.from_mapping(filters))
    _code_check("rl", lambda: check_rl_config(cfg["rl"]))
    # the pipeline's eval always has max_new_tokens; python -m eval.run fills a null one from the benchmark
    evaluation = {**cfg["eval"], "max_new_tokens": cfg["eval"]["max_new_tokens"] or 1}
    _code_check("eval", lambda: settings_from(evaluation))
    arch = cfg["model"].get("arch")
    if arch and arch["num_attention_heads"] % arch["num_key_value_heads"]:
        raise ConfigError(
            f"model.arch.num_key_value_heads={arch['num_key_value_heads']}: must divide "
            f"model.arch.num_attention_heads ({arch['num_attention_heads']})"
        )
    continue_sft = cfg["condition"].get("continue_sft") or {}
    sft_fields = {f.name: f for f in fields(SftSchema)}
    for name, value in continue_sft.items():
        if name not in cfg["sft"]:
            raise ConfigError(
                f"unknown config key 'condition.continue_sft.{name}'; valid keys: the sft keys {sorted(cfg['sft'])}"
            )
        f = sft_fields[name]
        _check_value(_hints(SftSchema)[name], f.metadata, value, f"condition.continue_sft.{name}")


def validate_config(cfg: DictConfig | Mapping[str, Any]) -> None:
    """Check the composed pipeline config `cfg` (conf/config.yaml) against the schemas; ConfigError with one line
    naming the key, the bad value and what is valid. `cfg` is not changed: a resolved copy is checked."""
    try:
        plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    except OmegaConfBaseException as error:
        where = getattr(error, "full_key", None)
        text = str(error).strip().splitlines()[0]
        raise ConfigError(f"{where}: {text}" if where else text) from None
    plain.pop("hydra", None)
    _check_node(ConfigSchema, plain, "")
    _cross_checks(plain)


register_schemas()
