"""`sft.max_rows`: a seeded row budget for SFT data (trace SFT, answer-only, re-distillation, KD), in the SFT and KD
fingerprints only when set, so that every fingerprint of a config without it stays what it was."""

from __future__ import annotations

import pytest

from launch import stages
from launch.config_check import ConfigError, compose
from launch.config_schema import validate_config

BASE = "outputs/shared/base/abc/final"
# Fingerprints of the SFT and KD stages computed by the code before sft.max_rows existed (commit eaea4fd) for the
# default config, sft=lora and answer-only, with 7 rows: a null row budget must leave them unchanged.
BEFORE = {
    (): [("sft", "fc0f23de71"), ("kd", "ebb0cf31ea")],
    ("sft=lora",): [("sft", "7273551cb1"), ("kd", "055765d269")],
    ("condition=answer_only_sft",): [("sft", "0ed9295eeb"), ("kd", "81b499dbff")],
}


def _fingerprints(monkeypatch, overrides: list[str]) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(stages, "run_stage", lambda name, out, fp, build, **k: seen.append((name, fp)) or {})
    cfg = compose(["output_root=/tmp/x", *overrides])
    stages.stage_sft(cfg, BASE, [{}] * 7)
    stages.stage_kd(cfg, BASE, "teacher/final", [{}] * 7)
    return seen


@pytest.mark.parametrize("overrides", list(BEFORE))
def test_no_row_budget_keeps_the_fingerprints(monkeypatch, overrides):
    assert _fingerprints(monkeypatch, list(overrides)) == BEFORE[overrides]


def test_a_row_budget_is_part_of_the_fingerprints(monkeypatch):
    with_budget = _fingerprints(monkeypatch, ["sft.max_rows=1000"])
    assert [fp for _, fp in with_budget] != [fp for _, fp in BEFORE[()]]
    assert with_budget != _fingerprints(monkeypatch, ["sft.max_rows=2000"])


def test_row_budget_is_seeded_and_keeps_order():
    rows = [{"i": i} for i in range(100)]
    cfg = compose(["sft.max_rows=10"])
    picked = stages.row_budget(cfg, rows)
    assert len(picked) == 10 and picked == stages.row_budget(cfg, rows)  # deterministic
    assert [r["i"] for r in picked] == sorted(r["i"] for r in picked)  # original order kept
    assert picked != rows[:10]  # a shuffle, not the head
    assert picked != stages.row_budget(compose(["sft.max_rows=10", "seed=1"]), rows)  # seeded by the run seed
    assert stages.row_budget(compose([]), rows) is rows  # null: every row
    assert stages.row_budget(compose(["sft.max_rows=500"]), rows) == rows  # more than exist: every row


def test_redistill_and_trace_rows_are_budgeted(tmp_path):
    from data.jsonl_io import write_jsonl_atomic

    traces = [
        {"id": f"t{i}", "problem_id": f"p{i}", "problem": f"q{i}?", "trace": f"<think>{i}</think> \\\\boxed{{{i}}}"}
        for i in range(50)
    ]
    for t in traces:
        t["verified"] = True
    write_jsonl_atomic(tmp_path / "traces.jsonl", traces)
    cfg = compose(["sft.max_rows=20", "condition=redistill"])
    rows, _ = stages.redistill_rows(cfg, tmp_path, None, tmp_path)
    assert len(rows) == 20
    trace_rows, _ = stages.sft_examples(compose(["sft.max_rows=20"]), tmp_path, tmp_path)
    assert len(trace_rows) == 20


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "many"])
def test_bad_row_budget_is_refused(value):
    with pytest.raises(ConfigError, match=r"sft.max_rows=.*: must be an integer >= 1 or null"):
        validate_config(compose([f"sft.max_rows={value}"]))


def test_matched_sweep_sets_the_budget():
    cfg = compose(["+sweep=matched"])
    validate_config(cfg)
    assert cfg.sft.max_rows == 1000 and cfg.run_name == "matched"
