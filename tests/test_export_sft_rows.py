"""launch.export_sft_rows: writes the same SFT rows the pipeline's sft stage trains on, as a JSONL that
launch.ds_sft_entry reads, and refuses conditions without SFT rows with a clear message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from launch import stages
from launch.config_check import ConfigError, compose
from launch.export_sft_rows import export_rows

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("condition", ["answer_only_sft", "trace_sft"])
def test_rows_are_the_sft_stage_rows(condition: str, tmp_path: Path) -> None:
    cfg = compose([f"condition={condition}", f"output_root={tmp_path}", "data.n_train=40", "data.n_test=4"])
    n = export_rows(cfg, tmp_path / "rows.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    data_dir = stages.stage_data(cfg)  # cached: the export built it
    traces = stages.stage_teacher(cfg, data_dir) if condition == "trace_sft" else None
    assert rows == stages.sft_rows(cfg, data_dir, traces) and n == len(rows) > 0
    if condition == "answer_only_sft":
        assert n == 40  # one row per training problem
    assert {"prompt", "completion"} <= set(rows[0])
    assert rows[0]["prompt"][-1]["role"] == "user" and rows[0]["completion"][0]["role"] == "assistant"


def test_condition_without_sft_rows_is_refused(tmp_path: Path) -> None:
    cfg = compose(["condition=grpo", f"output_root={tmp_path}"])
    with pytest.raises(ConfigError, match=r"condition 'grpo' has no SFT rows \(condition.sft_data=None\)"):
        export_rows(cfg, tmp_path / "rows.jsonl")
    assert not (tmp_path / "rows.jsonl").exists()


def test_cli_writes_rows_and_rejects_stray_arguments(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "rows.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "launch.export_sft_rows",
        "--out",
        str(out),
        "condition=answer_only_sft",
        f"output_root={tmp_path}",
        "data.n_train=12",
        "data.n_test=4",
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote 12 SFT rows to {out}" and len(out.read_text().splitlines()) == 12
    bad = subprocess.run([*cmd, "trace_sft"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unexpected arguments ['trace_sft']" in bad.stderr and "trace_sft" in bad.stderr
