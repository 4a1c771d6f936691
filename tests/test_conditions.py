"""launch/conditions.py: a condition's YAML order is its run order; a list that cannot run is refused before any
stage starts; `repeat` groups and `only_stages` expand as documented; the stage skeleton takes the only lock."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from launch import conditions
from launch.conditions import STAGES, plan_stages, select_stages
from launch.config_check import ConfigError, compose, group_options

REPO = Path(__file__).resolve().parents[1]


def _names(plan: list[conditions.Stage]) -> list[str]:
    return [s.name for s in plan]


@pytest.mark.parametrize("option", group_options("condition"))
def test_every_condition_plans(option):
    cfg = compose([f"condition={option}"])
    plan = _names(plan_stages(cfg))
    assert plan[0] == "data" and plan[-1] == "eval" and set(plan) <= set(STAGES)


def _record_run_order(monkeypatch, cfg) -> list[str]:
    """Run `cfg`'s condition with every stage step replaced by one that records its name (nothing trains)."""
    ran: list[str] = []
    for name, stage in STAGES.items():
        fake = conditions.Stage(name, lambda ctx, n=name: ran.append(n), stage.makes, stage.needs, lambda cfg: 1)
        monkeypatch.setitem(STAGES, name, fake)
    from launch import pipeline

    monkeypatch.setattr(pipeline, "write_summary", lambda *a, **k: None)
    pipeline.run_condition(cfg)
    return ran


def test_reordering_stages_changes_the_run_order(monkeypatch, tmp_path):
    """kd and sft_more both need only what sft made: swapping them in the YAML swaps the order they run in."""
    stages = "[data,base,teacher,sft,{}]"
    base = ["condition=sft_control", f"output_root={tmp_path}"]
    first = compose([*base, f"condition.stages={stages.format('rl_budget,sft_more,kd,eval')}"])
    second = compose([*base, f"condition.stages={stages.format('kd,rl_budget,sft_more,eval')}"])
    assert _record_run_order(monkeypatch, first) == [
        *"data base teacher sft".split(),
        "rl_budget",
        "sft_more",
        "kd",
        "eval",
    ]
    assert _record_run_order(monkeypatch, second) == [
        *"data base teacher sft".split(),
        "kd",
        "rl_budget",
        "sft_more",
        "eval",
    ]


def test_a_reorder_that_cannot_run_is_refused_before_anything_runs(monkeypatch, tmp_path):
    """sft before teacher (a trace condition): refused, naming the stage, what it lacks and who makes it."""
    from launch import pipeline

    cfg = compose(["condition=trace_sft", f"output_root={tmp_path}", "condition.stages=[data,base,sft,teacher,eval]"])
    with pytest.raises(ConfigError, match=r"stage 'sft' .* needs traces_dir \(made by teacher\)"):
        plan_stages(cfg)
    monkeypatch.setattr(pipeline.stages, "stage_data", lambda cfg: pytest.fail("a stage ran"))
    with pytest.raises(ConfigError, match="traces_dir"):
        pipeline.run_condition(cfg)
    assert not (tmp_path / "shared").exists()


@pytest.mark.parametrize(
    "stages, message",
    [
        ("[data,base,sft_more,eval]", "needs sft"),
        ("[data,base,rl,redistill_sft,eval]", "needs policy_traces"),
        ("[data,base,teacher,kd,eval]", "needs rows"),
        ("[data,base,teacher,sft,grpo,eval]", "unknown stage 'grpo'"),
        ("[base,eval]", "needs data_dir"),
    ],
)
def test_lists_that_cannot_run(stages, message, tmp_path):
    cfg = compose(["condition=trace_sft", f"output_root={tmp_path}", f"condition.stages={stages}"])
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan_stages(cfg)


def test_the_redistill_loop_is_written_out_round_by_round():
    one = _names(plan_stages(compose(["condition=redistill"])))
    assert one == [*"data base teacher sft rl policy_traces redistill_sft eval".split()]
    three = _names(plan_stages(compose(["condition=redistill", "redistill.rounds=3"])))
    round_ = ["policy_traces", "redistill_sft"]
    between = ["eval_round", "rl"]
    assert three == [*"data base teacher sft rl".split(), *round_, *between, *round_, *between, *round_, "eval"]
    with pytest.raises(ConfigError, match=r"redistill.rounds=0: must be an integer >= 1"):
        compose(["condition=redistill", "redistill.rounds=0"])  # the config check, before the plan
    cfg = compose(["condition=redistill"])
    cfg.condition.stages[5].repeat = 0
    with pytest.raises(ConfigError, match=r"condition.stages\[5\].repeat=0: must be an integer >= 1"):
        plan_stages(cfg)


def test_mix_teacher_makes_redistill_sft_need_the_teacher():
    stages = "condition.stages=[data,base,sft,rl,policy_traces,redistill_sft,eval]"
    cfg = compose(["condition=redistill", "condition.sft_data=answer_only", stages])
    assert _names(plan_stages(cfg))[-2] == "redistill_sft"
    cfg = compose(["condition=redistill", "condition.sft_data=answer_only", stages, "redistill.mix_teacher=0.5"])
    with pytest.raises(ConfigError, match=r"redistill_sft.*traces_dir"):
        plan_stages(cfg)


def test_only_stages_runs_the_listed_stages_and_what_they_need():
    cfg = compose(["condition=sft_grpo"])
    plan = plan_stages(cfg)
    assert _names(select_stages(plan, ["data", "teacher"], cfg)) == ["data", "teacher"]
    assert _names(select_stages(plan, ["data", "base", "teacher"], cfg)) == ["data", "base", "teacher"]
    assert _names(select_stages(plan, ["sft"], cfg)) == ["data", "base", "teacher", "sft"]
    assert _names(select_stages(plan, ["data", "base", "rl"], cfg)) == _names(plan)[:-1]
    assert _names(select_stages(plan, [], cfg)) == _names(plan)
    with pytest.raises(ConfigError, match=r"\['kd'\] not in this condition"):
        select_stages(plan, ["kd"], cfg)


def test_one_place_takes_the_stage_lock():
    """Every stage runs in launch.stage_state.run_stage, the only code that takes the lock."""
    uses = [
        f"{path.relative_to(REPO)}:{i}"
        for path in sorted((REPO / "launch").rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if "stage_lock(" in line and not line.lstrip().startswith("def ")
    ]
    assert uses == ["launch/stage_state.py:" + uses[0].split(":")[1]] and len(uses) == 1


def test_the_run_summary_records_provenance(monkeypatch, tmp_path):
    from launch import pipeline

    written = {}
    for name, stage in STAGES.items():
        monkeypatch.setitem(STAGES, name, conditions.Stage(name, lambda ctx: None, stage.makes, stage.needs))
    monkeypatch.setattr(pipeline, "write_summary", lambda folder, fp, summary: written.update(summary))
    result = pipeline.run_condition(compose(["condition=trace_sft", f"output_root={tmp_path}", "threads=1"]))
    assert written == result and result["provenance"]["threads"] == 1
    assert {"commit", "versions", "cpu_model", "torch_threads"} <= set(result["provenance"])
