"""A condition is its ordered list of stages (`stages:` in conf/condition/<name>.yaml), run in that order.

Each stage is declared once below: what it needs from earlier stages and what it makes (fields of `RunContext`),
how many torch threads it runs on, and the step that calls its builder in launch/stages.py and records what the
run summary reports. `plan_stages` expands the list (a `repeat:` group becomes its rounds) and refuses, before
anything runs, a list in which a stage needs what no earlier stage makes. `launch.pipeline.run_condition` walks
the plan over one `RunContext`.

A `repeat` item is a loop written out: `{repeat: N, stages: [...], between: [...]}` runs `stages` N times with
`between` after every round but the last (re-distillation: sample the policy, SFT a fresh student, then evaluate
that student and run GRPO from it before the next round).

Several processes (torchrun / accelerate, `run_on_ranks`): a stage with `distributed=True` trains, so every rank runs
it together (the trainer is distributed; the main rank alone locks, claims and writes the summary: stage_state
`collective` mode): base (the toy base is pretrained by the SFT trainer), sft, kd, rl, rl_budget, sft_more and
redistill_sft. Every other stage is single-process work (data, teacher, policy_traces sampling, eval_round, eval):
the main rank (global rank 0) builds it while the others wait at a barrier, then they read its summary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from launch import stages
from launch.config_check import ConfigError
from launch.stage_state import read_summary, stage_mode
from sft import distributed

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What stages pass to later stages (paths and summaries, never models in memory), and the run's summary."""

    cfg: DictConfig
    data_dir: Path | None = None  # data: the train / test problems
    base_path: str | None = None  # base: the start model (also the fresh student of kd and redistill_sft)
    model_path: str | None = None  # the current model: every training stage replaces it
    traces_dir: Path | None = None  # teacher: the teacher's traces
    rows: list[dict[str, Any]] | None = None  # sft: the condition's SFT examples
    sft: dict[str, Any] | None = None  # sft: its summary (model, steps, seconds)
    rl_budget: dict[str, Any] | None = None  # rl_budget: the GRPO run whose seconds sft_more is given
    policy_traces: Path | None = None  # policy_traces: this round's sampled, verified policy traces
    round: int = 0  # re-distillation round (policy_traces starts the next one)
    rounds: list[dict[str, Any]] = field(default_factory=list)  # one entry per re-distillation round
    result: dict[str, Any] = field(default_factory=dict)  # the run summary
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per charged stage (launch/cost.py)

    def train(self, key: str, summary: dict[str, Any]) -> None:
        """Charge a training stage: its wall seconds under `key`, its train seconds to the run's total."""
        self.seconds[key] = float(summary.get("seconds") or summary["train_seconds"])
        self.result["train_seconds"] = self.result.get("train_seconds", 0.0) + float(summary["train_seconds"])


@dataclass(frozen=True)
class Stage:
    """A stage: `run(ctx)` needs the context fields `needs(cfg)` and sets the fields in `makes`."""

    name: str
    run: Callable[[RunContext], None]
    makes: tuple[str, ...]
    needs: Callable[[DictConfig], tuple[str, ...]]
    threads: Callable[[DictConfig], int] = lambda cfg: int(cfg.threads)  # torch threads while it runs
    doc: str = ""
    check: Callable[[DictConfig], None] = lambda cfg: None  # ConfigError, at plan time, for a config it cannot run
    distributed: bool = False  # several ranks: True = every rank runs it (training); False = the main rank only


# ---- the steps: call the builder, move paths along, record what the run summary reports ----------------------
def _data(ctx: RunContext) -> None:
    ctx.data_dir = stages.stage_data(ctx.cfg)
    report = (read_summary(ctx.data_dir) or {}).get("filter_report")
    if report:  # a real source: rows read, dropped without an answer, dropped by decontamination, kept
        ctx.result["data_report"] = report


def _base(ctx: RunContext) -> None:
    ctx.base_path = ctx.model_path = stages.stage_base(ctx.cfg, ctx.data_dir)


def _teacher(ctx: RunContext) -> None:
    ctx.traces_dir = stages.stage_teacher(ctx.cfg, ctx.data_dir)
    summary = read_summary(ctx.traces_dir) or {}
    ctx.seconds["teacher"] = float(summary.get("seconds") or 0.0)
    if summary.get("accounting"):  # tokens and estimated price per teacher
        ctx.result["teacher_accounting"] = summary["accounting"]


def _sft(ctx: RunContext) -> None:
    ctx.rows, report = stages.sft_examples(ctx.cfg, ctx.data_dir, ctx.traces_dir)
    if report is not None:
        ctx.result["filter_report"] = report
    ctx.sft = stages.stage_sft(ctx.cfg, ctx.model_path, ctx.rows)
    ctx.model_path = ctx.sft["model_path"]
    ctx.train("sft", ctx.sft)
    ctx.result["sft_steps"] = ctx.sft["steps"]


def _kd(ctx: RunContext) -> None:
    teacher = str(ctx.cfg.kd.teacher or ctx.sft["model_path"])  # the trace-SFT model unless kd.teacher names one
    kd = stages.stage_kd(ctx.cfg, ctx.base_path, teacher, ctx.rows)
    ctx.model_path = kd["model_path"]
    ctx.train("kd", kd)
    ctx.result.update(kd_teacher=teacher, kd_steps=kd["steps"])


def _rl(ctx: RunContext) -> None:
    rl = stages.stage_rl(ctx.cfg, ctx.model_path, ctx.data_dir)
    ctx.model_path = rl["model_path"]
    if ctx.round:  # GRPO from the previous re-distillation round's student
        ctx.seconds[f"redistill:rl{ctx.round + 1}"] = float(rl["seconds"])
        return
    ctx.train("rl", rl)
    ctx.result.update(rl_seconds=rl["train_seconds"], rl_steps=rl["steps"], rl_path=rl["model_path"])
    ctx.result["rl_learning"] = rl.get("learning")  # did the training pass rate rise? (rl.learning_check)


def _rl_budget(ctx: RunContext) -> None:
    ctx.rl_budget = stages.stage_rl(ctx.cfg, ctx.sft["model_path"], ctx.data_dir)  # sft_grpo's GRPO run, reused


def _deploy(ctx: RunContext) -> None:
    """The final student as a quantized GGUF, scored on the same held-out split (summary key `deploy`; with the
    eval stage's accuracy, `accuracy_kept` = quantized / full precision)."""
    summary = stages.stage_deploy(ctx.cfg, ctx.model_path, ctx.data_dir)
    keys = ("quant", "accuracy", "n_eval", "truncation_rate", "gguf_bytes", "source_bytes", "size_ratio", "seconds")
    entry = {k: summary.get(k) for k in keys}
    full = ctx.result.get("accuracy")
    entry["accuracy_kept"] = summary["accuracy"] / full if full else None
    ctx.result["deploy"] = entry


def _sft_more(ctx: RunContext) -> None:
    rl_seconds = float(ctx.rl_budget["train_seconds"])
    more_cfg, extra = stages.continued_sft_config(ctx.cfg, ctx.sft, rl_seconds)
    source = [*stages.sft_source(ctx.cfg), "continued"]
    more = stages.stage_sft(more_cfg, ctx.sft["model_path"], ctx.rows, source=source)
    ctx.model_path = more["model_path"]
    ctx.train("sft_more", more)
    ctx.result.update(sft_more_steps=extra, matched_rl_seconds=rl_seconds)


def _policy_traces(ctx: RunContext) -> None:
    ctx.round += 1
    ctx.policy_traces = stages.stage_policy_traces(ctx.cfg, ctx.model_path, ctx.data_dir)
    summary = read_summary(ctx.policy_traces)
    counts = {k: summary[k] for k in ("n_traces", "n_verified", "problems_solved", "seconds")}
    source = stages.redistill_dataset(ctx.cfg)  # a verified-trace dataset instead of the GRPO policy
    ctx.rounds.append({"round": ctx.round, "policy_path": source or ctx.model_path, **counts})
    if summary.get("filter_report"):
        ctx.rounds[-1]["source_report"] = summary["filter_report"]
    ctx.result["rounds"] = ctx.rounds
    ctx.seconds[f"redistill:sample{ctx.round}"] = float(summary["seconds"])


def _redistill_sft(ctx: RunContext) -> None:
    rows, report = stages.redistill_rows(ctx.cfg, ctx.policy_traces, ctx.traces_dir, ctx.data_dir)
    if not rows:
        raise RuntimeError(
            f"redistill round {ctx.round}: the policy {ctx.model_path} solved no training problem; "
            "nothing to distil (raise redistill.sampling.n_paths or train GRPO longer)"
        )
    sft = stages.stage_sft(ctx.cfg, ctx.base_path, rows, source=stages.redistill_source(ctx.cfg, ctx.policy_traces))
    ctx.model_path = sft["model_path"]
    entry = ctx.rounds[-1]
    entry.update(n_rows=len(rows), student_path=sft["model_path"], sft_seconds=sft["seconds"])
    if report is not None:
        entry["filter_report"] = report
    ctx.seconds[f"redistill:sft{ctx.round}"] = float(sft["seconds"])
    ctx.result["train_seconds"] = ctx.result.get("train_seconds", 0.0) + float(sft["seconds"])


def _eval_round(ctx: RunContext) -> None:
    name = f"eval_round{ctx.round}"
    ctx.rounds[-1]["accuracy"] = stages.stage_eval(ctx.cfg, ctx.model_path, ctx.data_dir, name=name)["accuracy"]


BENCHMARK_KEYS = ("accuracy", "n_eval", "ci_low", "ci_high", "truncation_rate", "no_answer_rate", "max_new_tokens")


def test_split_label(cfg: DictConfig) -> str:
    """The name the data's own test split has beside eval.benchmarks in the run summary and the sweep table."""
    return f"{cfg.data.name}_test"


def _eval(ctx: RunContext) -> None:
    """The data's test split, or every benchmark of `eval.benchmarks` (the first one is the run's `accuracy`; all
    are under `benchmarks`, with the data's own test split as `<data>_test` when `eval.test_split` is true)."""
    if ctx.cfg.eval.get("benchmarks"):
        results = stages.stage_benchmarks(ctx.cfg, ctx.model_path)
        if ctx.cfg.eval.get("test_split"):  # the data's own held-out split, scored alongside
            results[test_split_label(ctx.cfg)] = stages.stage_eval(ctx.cfg, ctx.model_path, ctx.data_dir)
        ctx.result["benchmarks"] = {name: {k: s[k] for k in BENCHMARK_KEYS if k in s} for name, s in results.items()}
        summary = next(iter(results.values()))
        ctx.seconds["eval"] = sum(float(s.get("seconds") or 0.0) for s in results.values())
    else:
        summary = stages.stage_eval(ctx.cfg, ctx.model_path, ctx.data_dir)
        ctx.seconds["eval"] = float(summary.get("seconds") or 0.0)
        _measures(ctx, summary)
    ctx.result.update(accuracy=summary["accuracy"], n_eval=summary["n_eval"])
    ctx.result["truncation_rate"] = summary["truncation_rate"]
    if summary.get("trace_shape"):  # equations written and steps skipped (eval.trace_shape)
        ctx.result["trace_shape"] = summary["trace_shape"]


def _measures(ctx: RunContext, summary: dict[str, Any]) -> None:
    """The format study's measures (issue 17) in the run summary: tokens and seconds per answer, how often the
    model reasons at length (eval.evaluate.thinking_share), and when asked for, template-shift accuracy
    (`eval.template_shift`) and the error propagation probe (`eval.error_propagation`: N problems)."""
    ctx.result["format"] = stages.trace_format_of(ctx.cfg).name
    ctx.result["tokens_per_answer"] = summary.get("mean_tokens")
    ctx.result["seconds_per_answer"] = summary.get("seconds_per_answer")
    if summary.get("thinking"):
        ctx.result["thinking"] = summary["thinking"]
    if ctx.cfg.eval.get("template_shift"):
        shift = stages.stage_template_shift(ctx.cfg, ctx.model_path, ctx.data_dir)
        ctx.seconds["eval_shift"] = float(shift.get("seconds") or 0.0)
        ctx.result["template_shift_accuracy"] = shift["accuracy"]
    if ctx.cfg.eval.get("error_propagation"):
        eval_dir = stages.run_dir(ctx.cfg) / "eval"
        probe = stages.stage_error_propagation(ctx.cfg, ctx.model_path, ctx.data_dir, eval_dir)
        ctx.seconds["eval_propagation"] = float(probe.get("seconds") or 0.0)
        ctx.result["error_propagation"] = {
            k: probe.get(k) for k in ("n_probed", "n_solved_unforced", "recovery_rate", "propagation_rate")
        }


def _needs(*fields: str) -> Callable[[DictConfig], tuple[str, ...]]:
    return lambda cfg: fields


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("data", _data, ("data_dir",), _needs(), doc="train / held-out problems", check=stages.check_data),
        Stage(
            "base",
            _base,
            ("base_path", "model_path"),
            _needs("data_dir"),
            threads=lambda cfg: int(cfg.model.pretrain.threads) if cfg.model.get("pretrain") else int(cfg.threads),
            doc="the start model: a hub model, or the toy base pretrained once",
            check=stages.check_base,
            distributed=True,
        ),
        Stage(
            "teacher",
            _teacher,
            ("traces_dir",),
            _needs("data_dir"),
            doc="teacher traces of the training problems",
            check=lambda cfg: (stages.check_teacher(cfg), stages.check_format(cfg)),
        ),
        Stage(
            "sft",
            _sft,
            ("rows", "sft", "model_path"),
            lambda cfg: (
                "data_dir",
                "model_path",
                *(
                    ("traces_dir",)
                    if cfg.condition.sft_data == "trace" or stages.answers_from(cfg) == "teacher"
                    else ()
                ),
            ),
            doc="SFT of the current model on the condition's sft_data",
            check=stages.check_sft,
            distributed=True,
        ),
        Stage(
            "kd",
            _kd,
            ("model_path",),
            lambda cfg: ("rows", "base_path", *(() if cfg.kd.teacher else ("sft",))),
            doc="token-level KD of a fresh student from the base (teacher: kd.teacher or the SFT model)",
            distributed=True,
        ),
        Stage(
            "rl",
            _rl,
            ("model_path",),
            _needs("data_dir", "model_path"),
            doc="GRPO from the current model",
            distributed=True,
        ),
        Stage(
            "rl_budget",
            _rl_budget,
            ("rl_budget",),
            _needs("data_dir", "sft"),
            doc="the GRPO run from the SFT model (sft_grpo's), only timed: its seconds are sft_more's budget",
            distributed=True,
        ),
        Stage(
            "sft_more",
            _sft_more,
            ("model_path",),
            _needs("sft", "rows", "rl_budget"),
            doc="SFT continued from the SFT model for as long as rl_budget's GRPO trained",
            distributed=True,
        ),
        Stage(
            "policy_traces",
            _policy_traces,
            ("policy_traces",),
            lambda cfg: ("data_dir", "model_path") if stages.redistill_dataset(cfg) is None else ("data_dir",),
            doc="sample the current (GRPO) model on training problems, verify each completion (or, with "
            "redistill.source=<dataset>, read that dataset's verified traces)",
            check=stages.check_redistill,
        ),
        Stage(
            "redistill_sft",
            _redistill_sft,
            ("model_path",),
            lambda cfg: (
                "policy_traces",
                "base_path",
                *(("traces_dir",) if float(cfg.redistill.mix_teacher) > 0 else ()),
            ),
            doc="SFT of a fresh student from the base on the verified policy traces",
            distributed=True,
        ),
        Stage(
            "eval_round",
            _eval_round,
            (),
            _needs("data_dir", "policy_traces", "model_path"),
            doc="held-out eval of this round's student (eval_round<r>)",
        ),
        Stage(
            "eval",
            _eval,
            (),
            _needs("data_dir", "model_path"),
            doc="held-out accuracy of the current model (the test split, or eval.benchmarks)",
            check=lambda cfg: (stages.check_eval(cfg), stages.check_measures(cfg)),
        ),
        Stage(
            "deploy",
            _deploy,
            (),
            _needs("data_dir", "model_path"),
            doc="the current model exported to GGUF (deploy.quant) and evaluated with llama.cpp on the test split",
            check=stages.check_eval,
        ),
    )
}


def run_on_ranks(stage: Stage, ctx: RunContext) -> None:
    """`stage.run(ctx)` on this rank: alone in a single-process run; on every rank together for a distributed
    stage; else on the main rank while the others wait at a barrier (a broadcast of its outcome), then read what
    it wrote (an error on the main rank stops every rank)."""
    if distributed.world_size() == 1:
        stage.run(ctx)
    elif stage.distributed:
        with stage_mode("collective"):
            stage.run(ctx)
    elif distributed.is_main():
        try:
            stage.run(ctx)
        except BaseException as error:
            distributed.broadcast(f"{type(error).__name__}: {error}")
            raise
        distributed.broadcast(None)
    else:
        error = distributed.broadcast(None)
        if error is not None:
            raise RuntimeError(f"rank {distributed.rank()}: stage {stage.name!r} failed on the main rank: {error}")
        with stage_mode("read"):
            stage.run(ctx)


def _expand(items: Any, where: str) -> list[str]:
    """The condition's stage list with every `repeat` group written out as its rounds."""
    plan: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            plan.append(item)
            continue
        if not isinstance(item, Mapping) or set(item) - {"repeat", "stages", "between"} or "stages" not in item:
            raise ConfigError(
                f"{where}[{i}]={item!r}: a stage is a name or {{repeat: N, stages: [...], between: [...]}}"
            )
        times = item.get("repeat")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ConfigError(f"{where}[{i}].repeat={times!r}: must be an integer >= 1")
        body, between = list(item["stages"]), list(item.get("between") or [])
        for r in range(times):
            plan += _expand(body, f"{where}[{i}].stages") + (
                _expand(between, f"{where}[{i}].between") * (r < times - 1)
            )
    return plan


def plan_stages(cfg: DictConfig) -> list[Stage]:
    """The stages of `cfg.condition` in the order they run; ConfigError (before anything runs) for an unknown
    stage or a stage that needs what no earlier stage makes."""
    name = cfg.condition.name
    raw = cfg.condition.stages
    items = list(raw) if isinstance(raw, (list, ListConfig)) else raw
    if not isinstance(items, list) or not items:
        raise ConfigError(f"condition {name!r}: condition.stages={raw!r} must be a non-empty list of stages")
    plan = _expand(items, "condition.stages")
    if (cfg.get("deploy") or {}).get("enabled") and "deploy" not in plan:
        plan.append("deploy")  # deploy.enabled: every condition ends with its quantized export's accuracy
    made: dict[str, str] = {}
    for position, stage_name in enumerate(plan):
        stage = STAGES.get(stage_name)
        if stage is None:
            raise ConfigError(f"condition {name!r} lists unknown stage {stage_name!r}; valid: {list(STAGES)}")
        missing = [f for f in stage.needs(cfg) if f not in made]
        if missing:
            makers = {f: [s.name for s in STAGES.values() if f in s.makes] for f in missing}
            raise ConfigError(
                f"condition {name!r}: stage {stage_name!r} (position {position + 1} of {plan}) needs "
                + ", ".join(f"{f} (made by {' or '.join(m)})" for f, m in makers.items())
                + ", which no earlier stage makes; reorder or add stages in conf/condition/"
                + f"{name}.yaml"
            )
        made.update(dict.fromkeys(stage.makes, stage_name))
    for stage_name in dict.fromkeys(plan):  # what each stage cannot run with (e.g. real data without a student)
        STAGES[stage_name].check(cfg)
    stages_in_order = [STAGES[s] for s in plan]
    if stages.redistill_dataset(cfg) and "policy_traces" in plan:  # the policy chain feeds nothing then
        return prune(cfg, stages_in_order)
    return stages_in_order


def prune(cfg: DictConfig, plan: list[Stage]) -> list[Stage]:
    """`plan` without the stages whose output no later stage needs (walking back from the last stage; a stage that
    makes nothing, an eval, always stays). Used with `redistill.source=<dataset>`: the teacher -> sft -> rl chain
    that would only feed the policy's sampling is skipped (a plan otherwise runs every stage its YAML lists)."""
    needed: set[str] = set()
    keep: list[Stage] = []
    for position, stage in enumerate(reversed(plan)):
        if position == 0 or not stage.makes or needed & set(stage.makes):  # evals make nothing: always kept
            keep.append(stage)
            needed = (needed - set(stage.makes)) | set(stage.needs(cfg))
    skipped = [s.name for s in plan if s not in keep]
    if skipped:
        log.info("condition %s: stages %s skipped (no later stage needs what they make)", cfg.condition.name, skipped)
    return keep[::-1]


def select_stages(plan: list[Stage], only: list[str] | None, cfg: DictConfig) -> list[Stage]:
    """`only_stages`: the listed stages and every earlier stage whose output they need (a complete stage is just
    read back); None: the whole plan. ConfigError for a name that is not in the plan."""
    if not only:
        return plan
    unknown = sorted(set(only) - {s.name for s in plan})
    if unknown:
        raise ConfigError(f"only_stages={only}: {unknown} not in this condition's stages {[s.name for s in plan]}")
    needed: set[str] = set()
    keep: list[Stage] = []
    for stage in reversed(plan):
        if stage.name in only or needed & set(stage.makes):
            keep.append(stage)
            needed = (needed - set(stage.makes)) | set(stage.needs(cfg))
    return keep[::-1]
