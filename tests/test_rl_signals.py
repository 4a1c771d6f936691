"""rl.signals (group statistics, wrapped rewards, rollout log) and rl.prompt_filter (pass-rate filtering)."""

from __future__ import annotations

import json

import pytest

from rl.prompt_filter import cached_pass_rates, filter_rows, summarize
from rl.signals import group_stats, read_rollout_order, with_signals, wrap_reward_funcs


def test_group_stats_counts_groups_without_spread():
    rewards = [1, 1, 1, 1] + [0, 0, 0, 0] + [1, 0, 0, 0]
    stats = group_stats(rewards, 4)
    assert stats == {
        "zero_std_frac": 2 / 3,
        "solved_all_frac": 1 / 3,
        "solved_none_frac": 1 / 3,
        "pass_rate": pytest.approx((1 + 0 + 0.25) / 3),
    }
    assert group_stats(rewards, 5) is None  # not whole groups
    assert group_stats([None, None, 1.0, 1.0], 2)["zero_std_frac"] == 1.0  # the unscorable group is skipped


def test_total_reward_zero_std_is_exact_where_trl_float_check_is_not():
    """TRL's frac_reward_zero_std misses constant groups of 0.2-weighted sums (float32 std ~1e-8)."""
    fmt = lambda completions, **kw: [1.0] * len(completions)  # noqa: E731
    fmt.__name__ = "format_reward"
    right = lambda completions, **kw: [0.0] * len(completions)  # noqa: E731
    right.__name__ = "correctness_reward"
    logged = {}
    funcs = wrap_reward_funcs([right, fmt], [1.0, 0.2], 8)
    for f in funcs:
        f(["x"] * 16, prompts=[["a"]] * 8 + [["b"]] * 8, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert logged["signals/reward/zero_std_frac"] == 1.0
    assert [f.__name__ for f in funcs] == ["correctness_reward", "format_reward"]
    assert logged["signals/correctness_reward/zero_std_frac"] == 1.0


def test_with_signals_keeps_name_and_values_and_logs(tmp_path):
    def correctness_reward(completions, **kwargs):
        return [1.0 if c == kwargs["answer"][i] else 0.0 for i, c in enumerate(completions)]

    logged: dict[str, float] = {}

    class State:
        global_step = 7

    wrapped = with_signals(correctness_reward, 2, rollout_log=tmp_path / "r.jsonl")
    out = wrapped(
        ["1", "2", "3", "3"],
        answer=["1", "1", "3", "3"],
        id=["a", "a", "b", "b"],
        prompts=[1, 1, 2, 2],
        trainer_state=State(),
        log_metric=lambda k, v: logged.__setitem__(k, v),
    )
    assert out == [1.0, 0.0, 1.0, 1.0] and wrapped.__name__ == "correctness_reward"
    assert logged["signals/correctness_reward/zero_std_frac"] == 0.5
    assert logged["signals/correctness_reward/solved_all_frac"] == 0.5
    assert json.loads((tmp_path / "r.jsonl").read_text())["ids"] == ["a", "a", "b", "b"]
    # groups that are not consecutive repeats of one prompt are not summarised (e.g. split across processes)
    logged.clear()
    wrapped(["1", "2"], answer=["1", "1"], prompts=[1, 2], log_metric=lambda k, v: logged.__setitem__(k, v))
    assert logged == {}


def test_read_rollout_order_last_record_wins_and_skips_torn_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    lines = [
        {"step": 0, "func": "f", "ids": [1]},
        {"step": 1, "func": "f", "ids": [2]},
        {"step": 1, "func": "f", "ids": [3]},
        {"step": 1, "func": "g", "ids": [9]},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"step": 2, "fu')
    assert read_rollout_order(path, "f") == {0: [1], 1: [3]}


def test_filter_rows_drops_pass_rates_zero_and_one():
    rows = [{"id": i} for i in range(5)]
    assert filter_rows(rows, [0.0, 0.5, 1.0, 0.125, 0.0]) == [{"id": 1}, {"id": 3}]
    assert filter_rows(rows, [0.0, 0.5, 1.0, 0.125, 0.0], drop_pass_rates=[0.0]) == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert summarize([0.0, 1.0, 0.5, 0.5]) == {
        "pass_rate_mean": 0.5,
        "never_solved_frac": 0.25,
        "always_solved_frac": 0.25,
    }


def test_cached_pass_rates_measures_once(tmp_path):
    rows = [{"id": "a"}, {"id": "b"}]
    calls = []

    def measure():
        calls.append(1)
        return [0.25, 1.0]

    assert cached_pass_rates(tmp_path / "p.jsonl", rows, measure) == [0.25, 1.0]
    assert cached_pass_rates(tmp_path / "p.jsonl", rows, measure) == [0.25, 1.0]
    assert len(calls) == 1
    cached_pass_rates(tmp_path / "p.jsonl", [{"id": "c"}], lambda: [0.5])  # other rows: measured again
    assert json.loads((tmp_path / "p.jsonl").read_text())["id"] == "c"
