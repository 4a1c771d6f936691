"""teacher_accounting: per-teacher traces, verified, tokens and estimated price, for one teacher and a multi."""

from __future__ import annotations

import pytest

from sft.teachers.accounting import price_usd, teacher_accounting


def _record(teacher: str, problem: str, path: int, verified: bool, tokens_in: int, tokens_out: int) -> dict:
    return {
        "id": f"{problem}/{teacher}/{path}",
        "problem_id": problem,
        "teacher": teacher,
        "verified": verified,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
    }


def test_one_priced_teacher_bills_the_prompt_once_per_problem():
    records = [
        _record("gpt", "p0", 0, True, 100, 300),
        _record("gpt", "p0", 1, False, 100, 500),
        _record("gpt", "p1", 0, True, 50, 200),
    ]
    cfg = {"name": "gpt", "backend": "openai", "price_per_million_input": 2.0, "price_per_million_output": 8.0}
    stats = {"requests": 3, "retries": 1, "retries_by_reason": {"429": 1}, "failures": 0}
    out = teacher_accounting(records, cfg, stats)
    entry = out["per_teacher"]["gpt"]
    assert (entry["n_traces"], entry["n_verified"], entry["n_problems"]) == (3, 2, 2)
    assert (entry["tokens_in"], entry["tokens_out"], entry["tokens_in_billed"]) == (250, 1000, 150)
    assert entry["price_usd"] == pytest.approx(150 * 2e-6 + 1000 * 8e-6)
    assert entry["requests"] == stats
    assert out["total"]["price_usd"] == entry["price_usd"] and out["total"]["n_problems"] == 2


def test_an_unpriced_teacher_has_no_price_and_a_half_priced_one_counts_the_missing_side_as_free():
    records = [_record("hf", "p0", 0, False, 10, 20)]
    assert teacher_accounting(records, {"name": "hf"})["per_teacher"]["hf"]["price_usd"] is None
    assert teacher_accounting(records, {"name": "hf"})["total"]["price_usd"] is None
    assert price_usd(1_000_000, 2_000_000, {"price_per_million_output": 1.0}) == 2.0


def test_multi_prices_each_teacher_from_its_own_config_with_its_own_counters():
    from launch.teacher_configs import resolve_teacher_config

    cfg = {
        "name": "multi",
        "backend": "multi",
        "policy": "first_correct",
        "teachers": [
            {"base": "hf", "label": "local"},
            {"base": "openai", "label": "api", "price_per_million_input": 1.0, "price_per_million_output": 4.0},
            {"base": "openai", "label": "backup", "price_per_million_output": 1.0},
        ],
    }
    records = [
        _record("local", "p0", 0, True, 40, 60),
        _record("local", "p1", 0, False, 40, 60),
        _record("api", "p1", 0, True, 1_000_000, 500_000),
    ]
    stats = {"api": {"requests": 2, "retries": 1}, "backup": {"requests": 4, "failures": 1}}
    out = teacher_accounting(records, resolve_teacher_config(cfg), stats)
    assert out["per_teacher"]["local"]["price_usd"] is None and "requests" not in out["per_teacher"]["local"]
    assert out["per_teacher"]["api"]["price_usd"] == pytest.approx(1.0 + 2.0)
    assert out["per_teacher"]["api"]["requests"] == {"requests": 2, "retries": 1}
    assert out["per_teacher"]["backup"]["n_traces"] == 0 and out["per_teacher"]["backup"]["requests"]["failures"] == 1
    assert out["total"]["n_traces"] == 3 and out["total"]["n_verified"] == 2 and out["total"]["n_problems"] == 2
    assert out["total"]["price_usd"] == pytest.approx(3.0)


def test_accounting_of_a_real_program_run_matches_the_records(small_world):
    from launch.config_check import compose
    from sft.teachers.base import build_teacher

    _, train, _ = small_world
    cfg = compose(["teacher=program"]).teacher
    records = list(build_teacher(cfg).generate(train[:20]))
    out = teacher_accounting(records, cfg)
    entry = out["per_teacher"]["program"]
    assert entry["n_traces"] == len(records) and entry["n_verified"] == sum(r["verified"] for r in records)
    assert entry["n_problems"] == 20 and entry["price_usd"] is None
