"""Files that survive a kill: verified atomic JSONL, append-only JSONL with torn-tail repair, stage folders."""

from __future__ import annotations

import json
import os

import pytest

from data.jsonl_io import AppendOnlyJsonl, iter_jsonl, read_jsonl, read_verified_jsonl, write_jsonl_atomic
from launch.stage_state import claim_stage_dir, fingerprint, is_complete, read_summary, stage_lock, write_summary

ROWS = [{"id": f"r{i}", "text": f"row {i} ü", "n": i} for i in range(20)]


# ---- write_jsonl_atomic / read_verified_jsonl ------------------------------------------------------
def test_atomic_write_round_trip(tmp_path):
    path = tmp_path / "sub" / "rows.jsonl"
    assert write_jsonl_atomic(path, iter(ROWS)) == len(ROWS)
    assert read_verified_jsonl(path) == ROWS
    assert read_jsonl(path) == ROWS
    meta = json.loads((tmp_path / "sub" / "rows.jsonl.meta.json").read_text())
    assert meta["rows"] == len(ROWS)
    # no temporary files left beside it
    assert sorted(p.name for p in path.parent.iterdir()) == ["rows.jsonl", "rows.jsonl.meta.json"]


def test_atomic_write_of_no_rows(tmp_path):
    path = tmp_path / "empty.jsonl"
    assert write_jsonl_atomic(path, []) == 0
    assert read_verified_jsonl(path) == []


def test_rewrite_replaces_the_old_content(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl_atomic(path, ROWS)
    write_jsonl_atomic(path, ROWS[:3])
    assert read_verified_jsonl(path) == ROWS[:3]


def test_atomic_writes_put_exactly_the_given_bytes_and_leave_no_temporary_file(tmp_path):
    from data.atomic_io import tmp_path as atomic_tmp
    from data.atomic_io import write_bytes_atomic, write_text_atomic

    path = tmp_path / "rows.jsonl"
    write_jsonl_atomic(path, ROWS)
    assert path.read_bytes() == "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS).encode("utf-8")
    text = tmp_path / "a.md"
    assert write_text_atomic(text, "ü\r\nline\n") == text and text.read_bytes() == "ü\r\nline\n".encode()
    assert write_bytes_atomic(tmp_path / "b.bin", b"\x00\xff").read_bytes() == b"\x00\xff"
    assert atomic_tmp(text) == tmp_path / f".a.md.tmp-{os.getpid()}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md", "b.bin", "rows.jsonl", "rows.jsonl.meta.json"]


def test_a_failed_atomic_write_keeps_the_old_file_and_removes_its_temporary_file(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl_atomic(path, ROWS)

    def rows_then_crash():
        yield from ROWS[:5]
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        write_jsonl_atomic(path, rows_then_crash())
    assert read_verified_jsonl(path) == ROWS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl", "rows.jsonl.meta.json"]


@pytest.mark.parametrize(
    "damage", ["truncate", "truncate_at_line", "alter_byte", "append_row", "drop_meta", "drop_file", "bad_meta"]
)
def test_damaged_file_reads_as_none(tmp_path, damage):
    path = tmp_path / "rows.jsonl"
    write_jsonl_atomic(path, ROWS)
    raw = path.read_bytes()
    meta = tmp_path / "rows.jsonl.meta.json"
    if damage == "truncate":  # killed mid-write, torn last line
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "truncate_at_line":  # killed between lines: every line still valid JSON
        path.write_bytes(raw[: raw.index(b"\n", len(raw) // 2) + 1])
    elif damage == "alter_byte":  # same length, one digit changed
        at = raw.index(b'"n": 7')
        path.write_bytes(raw[:at] + b'"n": 8' + raw[at + 6 :])
    elif damage == "append_row":
        path.write_bytes(raw + b'{"id": "extra"}\n')
    elif damage == "drop_meta":
        meta.unlink()
    elif damage == "drop_file":
        path.unlink()
    else:
        meta.write_text("{not json")
    assert read_verified_jsonl(path) is None


def test_meta_with_wrong_row_count_reads_as_none(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl_atomic(path, ROWS)
    meta = tmp_path / "rows.jsonl.meta.json"
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "rows": data["rows"] + 1}))
    assert read_verified_jsonl(path) is None


# ---- read_jsonl / iter_jsonl -----------------------------------------------------------------------
def test_read_jsonl_skips_torn_tail_but_raises_on_bad_middle_line(tmp_path):
    path = tmp_path / "a.jsonl"
    good = "".join(json.dumps(r) + "\n" for r in ROWS[:3])
    path.write_text(good + '{"id": "r3", "te')
    assert read_jsonl(path) == ROWS[:3]
    path.write_text(good + "{broken\n" + json.dumps(ROWS[4]) + "\n")
    with pytest.raises(ValueError, match="line 4"):
        read_jsonl(path)
    assert list(iter_jsonl(tmp_path / "missing.jsonl")) == []


# ---- AppendOnlyJsonl -------------------------------------------------------------------------------
def test_append_only_skips_done_keys_and_never_duplicates(tmp_path):
    path = tmp_path / "out" / "items.jsonl"
    with AppendOnlyJsonl(path) as writer:
        assert [writer.write(r) for r in ROWS[:5]] == [True] * 5
        assert writer.write(dict(ROWS[0], text="again")) is False  # same key in the same session
    with AppendOnlyJsonl(path) as writer:
        assert writer.done_keys == {f"r{i}" for i in range(5)}
        written = [writer.write(r) for r in ROWS[:10]]
    assert written == [False] * 5 + [True] * 5
    assert read_jsonl(path) == ROWS[:10]


def test_append_only_repairs_a_torn_tail(tmp_path):
    path = tmp_path / "items.jsonl"
    with AppendOnlyJsonl(path) as writer:
        for row in ROWS[:4]:
            writer.write(row)
    with open(path, "a", encoding="utf-8") as handle:  # a kill in the middle of record r4
        handle.write(json.dumps(ROWS[4])[:15])
    with AppendOnlyJsonl(path) as writer:
        assert writer.done_keys == {"r0", "r1", "r2", "r3"}
        for row in ROWS[:6]:
            writer.write(row)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # ends with a newline, no fragment left
    assert [json.loads(line) for line in lines[:-1]] == ROWS[:6]


def test_append_only_torn_tail_that_is_valid_json_is_rewritten_once(tmp_path):
    """A last line without its newline may parse as JSON; it is still cut and rewritten, never duplicated."""
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS[:2]) + json.dumps(ROWS[2]))
    with AppendOnlyJsonl(path) as writer:
        for row in ROWS[:4]:
            writer.write(row)
    assert read_jsonl(path) == ROWS[:4]


def test_append_only_custom_key(tmp_path):
    path = tmp_path / "items.jsonl"
    with AppendOnlyJsonl(path, key="n") as writer:
        writer.write({"n": 1, "v": "a"})
    with AppendOnlyJsonl(path, key="n") as writer:
        assert writer.done_keys == {"1"}
        assert writer.write({"n": 1, "v": "b"}) is False
    assert read_jsonl(path) == [{"n": 1, "v": "a"}]


# ---- stage_state -----------------------------------------------------------------------------------
def test_fingerprint_is_stable_and_order_free():
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert len(fingerprint("x")) == 10


def test_summary_marks_completion_for_its_fingerprint_only(tmp_path):
    stage = tmp_path / "stage"
    assert not is_complete(stage, "fp1") and read_summary(stage) is None
    write_summary(stage, "fp1", {"rows": 3})
    assert is_complete(stage, "fp1") and not is_complete(stage, "fp2")
    assert read_summary(stage) == {"fingerprint": "fp1", "rows": 3}
    (stage / "summary.json").write_text('{"fingerprint": "fp1", "ro')  # torn
    assert not is_complete(stage, "fp1")
    assert not [p for p in stage.iterdir() if p.name.startswith(".summary")]


def test_claim_moves_aside_a_folder_of_another_fingerprint(tmp_path):
    stage = tmp_path / "sft"
    claim_stage_dir(stage, "aaa")
    (stage / "checkpoint.bin").write_text("old work")
    claim_stage_dir(stage, "aaa")  # same config: kept, resumable
    assert (stage / "checkpoint.bin").read_text() == "old work"
    claim_stage_dir(stage, "bbb")
    assert not (stage / "checkpoint.bin").exists()
    assert (stage / ".fingerprint").read_text() == "bbb"
    stale = tmp_path / "sft.stale-aaa"
    assert (stale / "checkpoint.bin").read_text() == "old work"  # moved aside, not deleted


def test_claim_moves_aside_an_unmarked_folder(tmp_path):
    stage = tmp_path / "eval"
    stage.mkdir()
    (stage / "items.jsonl").write_text("{}\n")
    claim_stage_dir(stage, "ccc")
    assert (tmp_path / "eval.stale-unknown" / "items.jsonl").exists()
    assert list(stage.iterdir()) == [stage / ".fingerprint"]


def test_claim_when_switching_back_and_forth_between_configs_keeps_everything(tmp_path):
    """Re-running with config A, B, A, B: the second move-aside of A must not crash or lose A's folder."""
    stage = tmp_path / "sft"
    for round_, fp in enumerate(["aaa", "bbb", "aaa", "bbb"]):
        claim_stage_dir(stage, fp)
        (stage / f"work-{round_}").write_text(fp)
    names = {p.name for p in tmp_path.rglob("work-*")}
    assert names == {"work-0", "work-1", "work-2", "work-3"}


def test_stage_lock_excludes_a_second_holder(tmp_path):
    import threading
    import time

    events: list[str] = []
    held = threading.Event()

    def first() -> None:
        with stage_lock(tmp_path / "data"):
            events.append("first in")
            held.set()
            time.sleep(0.3)
            events.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    with stage_lock(tmp_path / "data"):
        events.append("second in")
    thread.join()
    assert events == ["first in", "first out", "second in"]
    assert (tmp_path / "data.lock").exists()


# ---- launch.stages.stage_data: a half-written dataset is rebuilt ------------------------------------
@pytest.fixture
def data_cfg(tmp_path):
    from launch.config_check import compose

    return compose(["data.n_train=200", "data.n_test=50", f"output_root={tmp_path / 'outputs'}"])


@pytest.mark.parametrize("damage", ["truncate", "alter", "drop_summary", "drop_test"])
def test_stage_data_rebuilds_a_damaged_dataset(data_cfg, damage):
    from launch.stages import load_split, stage_data

    out = stage_data(data_cfg)
    original = {s: load_split(out, s) for s in ("train", "test")}
    assert len(original["train"]) == 200 and len(original["test"]) == 50
    train_file = out / "train.jsonl"
    raw = train_file.read_bytes()
    if damage == "truncate":
        train_file.write_bytes(raw[: len(raw) // 3])
    elif damage == "alter":
        train_file.write_bytes(raw.replace(b'"final_answer": "', b'"final_answer": "9', 1))
    elif damage == "drop_summary":
        (out / "summary.json").unlink()
    else:
        (out / "test.jsonl").unlink()
    if damage in ("truncate", "alter"):
        with pytest.raises(RuntimeError, match="missing or damaged"):
            load_split(out, "train")
    again = stage_data(data_cfg)
    assert again == out
    assert {s: load_split(out, s) for s in ("train", "test")} == original
    assert read_verified_jsonl(train_file) == original["train"]
    assert is_complete(out, read_summary(out)["fingerprint"])
    assert not list(out.parent.glob("*.stale-*"))  # same config: rebuilt in place


def test_stage_data_is_cached_when_complete(data_cfg, monkeypatch):
    from data.toy_world import ToyWorld
    from launch.stages import stage_data

    out = stage_data(data_cfg)
    stamp = os.stat(out / "train.jsonl").st_mtime_ns

    def boom(*args, **kwargs):
        raise AssertionError("a complete data stage was rebuilt")

    monkeypatch.setattr(ToyWorld, "problems", boom)
    assert stage_data(data_cfg) == out
    assert os.stat(out / "train.jsonl").st_mtime_ns == stamp


def test_stage_data_fingerprint_follows_the_data_config(tmp_path):
    from launch.config_check import compose
    from launch.stages import stage_data

    root = f"output_root={tmp_path}"
    a = stage_data(compose(["data.n_train=30", "data.n_test=10", root]))
    b = stage_data(compose(["data.n_train=30", "data.n_test=10", "data.seed=1", root]))
    assert a != b and a.parent == b.parent
