"""The program teacher's traces, checked against the toy world's true answers and plain arithmetic."""

from __future__ import annotations

import re

import pytest

from sft.teachers.program import ProgramTeacher, ProgramTeacherConfig, write_trace
from tests._presets import program_teacher_config

_EQUATION = re.compile(r"(-?\d+) ([-+*/]) (-?\d+) = (-?\d+)")
_BOXED = re.compile(r"\\boxed\{(-?\d+)\}")
_TRACE = re.compile(r"\A<think>\n(.+)\n</think>\n\\boxed\{(-?\d+)\}\Z", re.S)


def _true(op: str, a: int, b: int, c: int) -> bool:
    if op == "+":
        return a + b == c
    if op == "-":
        return a - b == c
    if op == "*":
        return a * b == c
    return b != 0 and a == b * c  # exact division only


def _boxed(trace: str) -> str:
    found = _BOXED.findall(trace)
    assert len(found) == 1, trace
    return found[0]


def _wrong_equations(trace: str) -> list[str]:
    body = _TRACE.match(trace)
    assert body, f"trace not in <think>…</think>\\n\\boxed{{N}} form: {trace!r}"
    equations = _EQUATION.findall(body.group(1))
    assert len(equations) == body.group(1).count("\n") + 1, "one equation per line"
    return [f"{e[0]} {e[1]} {e[2]} = {e[3]}" for e in equations if not _true(e[1], int(e[0]), int(e[2]), int(e[3]))]


@pytest.mark.parametrize("path", range(4))
def test_write_trace_without_slip_is_correct(small_world, path):
    _, train, _ = small_world
    for problem in train:
        trace, answer = write_trace(problem, path)
        assert answer == problem["final_answer"] == _boxed(trace)
        assert not _wrong_equations(trace), (problem["id"], trace)
        assert trace.count("\n") - 2 == len(problem["steps"]), trace  # one line per step


def test_write_trace_paths_differ_in_phrasing_and_operand_order(small_world):
    _, train, _ = small_world
    problem = next(p for p in train if any(s["op"] in "+*" and s["a"] != s["b"] for s in p["steps"]))
    traces = [write_trace(problem, path)[0] for path in range(4)]
    assert len(set(traces)) == 4
    assert (
        "After" in traces[0]
        or "There are" in traces[0]
        or "has" in traces[0]
        or "gets" in traces[0]
        or "makes" in traces[0]
        or "picks" in traces[0]
    )
    bare = traces[1].split("\n")[1:-2]
    assert all(re.fullmatch(r"-?\d+ [-+*/] -?\d+ = -?\d+", line) for line in bare), traces[1]


def test_slip_changes_that_step_and_propagates(small_world):
    _, train, _ = small_world
    problem = next(p for p in train if p["n_steps"] == 3)
    trace, answer = write_trace(problem, 1, slip_step=0, slip=10)  # path 1: bare equations, no operand swap
    lines = trace.split("\n")[1:-2]
    slipped = problem["steps"][0]["result"] + 10
    assert _EQUATION.fullmatch(lines[0]).group(4) == str(slipped)
    assert lines[1].startswith(f"{slipped} {problem['steps'][1]['op']} ")  # the next step works on the slipped value
    assert _boxed(trace) == answer


def test_verified_traces_have_the_gold_answer_and_correct_arithmetic(small_world):
    """Default teacher (20% slips): a trace marked verified must be one the student may learn from."""
    _, train, _ = small_world
    teacher = ProgramTeacher(program_teacher_config())
    bad = []
    for problem in train:
        for record in teacher.traces(problem):
            assert record["answer"] == problem["final_answer"]
            assert record["verified"] == (_boxed(record["trace"]) == problem["final_answer"])
            if record["verified"] and _wrong_equations(record["trace"]):
                bad.append((record["id"], _wrong_equations(record["trace"])))
    assert not bad, f"{len(bad)} verified traces contain false arithmetic, e.g. {bad[:3]}"


def test_wrong_share_zero_gives_only_verified_traces(small_world):
    _, train, _ = small_world
    teacher = ProgramTeacher(program_teacher_config(n_paths=2, wrong_share=0.0))
    for problem in train:
        for record in teacher.traces(problem):
            assert record["verified"] and _boxed(record["trace"]) == problem["final_answer"]
            assert not _wrong_equations(record["trace"])


def test_wrong_share_one_gives_only_unverified_traces(small_world):
    _, train, _ = small_world
    teacher = ProgramTeacher(program_teacher_config(n_paths=2, wrong_share=1.0))
    still_right = []
    for problem in train:
        for record in teacher.traces(problem):
            if record["verified"] or _boxed(record["trace"]) == problem["final_answer"]:
                still_right.append((record["trace"], problem["final_answer"]))
    assert not still_right, (
        f"{len(still_right)} traces with a slip still reach the gold answer (and are marked "
        f"verified), e.g. {still_right[:2]}"
    )


def test_wrong_share_is_roughly_respected(small_world):
    _, train, _ = small_world
    teacher = ProgramTeacher(program_teacher_config(n_paths=2, wrong_share=0.2))
    records = [r for p in train for r in teacher.traces(p)]
    share = 1 - sum(r["verified"] for r in records) / len(records)
    assert 0.1 < share < 0.3


@pytest.mark.parametrize("n_paths", [1, 2, 3, 4])
def test_n_paths_distinct_traces(small_world, n_paths):
    _, train, _ = small_world
    teacher = ProgramTeacher(program_teacher_config(n_paths=n_paths, wrong_share=0.0))
    for problem in train:
        records = teacher.traces(problem)
        traces = [r["trace"] for r in records]
        assert len(set(traces)) == len(traces)
        assert len({r["id"] for r in records}) == len(records)
        if n_paths <= 2:  # bare vs sentence phrasing always differ
            assert len(records) == n_paths
        else:
            assert 2 <= len(records) <= n_paths
        for record in records:
            assert record["id"] == f"{problem['id']}/program/{record['path']}"
            assert record["problem_id"] == problem["id"] and record["problem"] == problem["question"]
            assert record["teacher"] == "program" and 0 <= record["path"] < 4


def test_four_paths_when_operand_order_matters(small_world):
    _, train, _ = small_world
    teacher = ProgramTeacher(program_teacher_config(n_paths=4, wrong_share=0.0))
    swappable = [p for p in train if any(s["op"] in "+*" and s["a"] != s["b"] for s in p["steps"])]
    assert swappable
    assert all(len(teacher.traces(p)) == 4 for p in swappable)


def test_teacher_is_deterministic_and_seeded(small_world):
    _, train, _ = small_world
    config = program_teacher_config(n_paths=2, wrong_share=0.5, seed=3)
    first = [ProgramTeacher(config).traces(p) for p in train]
    assert first == [ProgramTeacher(config).traces(p) for p in train]
    other = [ProgramTeacher(program_teacher_config(n_paths=2, wrong_share=0.5, seed=4)).traces(p) for p in train]
    assert other != first


@pytest.mark.parametrize(
    "kwargs, text",
    [
        (dict(n_paths=0), "n_paths"),
        (dict(n_paths=7), "got 7"),
        (dict(ablation="shuffle_steps"), "valid: ['none', 'wrong_numbers', 'delete_steps', 'add_steps']"),
        (dict(ablation_share=1.5), "ablation_share must be in [0, 1], got 1.5"),
        (dict(wrong_share=1.5), "wrong_share"),
        (dict(wrong_share=-0.1), "-0.1"),
        (dict(skip_share=2.0), "skip_share"),
    ],
)
def test_bad_config_raises(kwargs, text):
    with pytest.raises(ValueError, match=re.escape(text)):
        program_teacher_config(**kwargs)


# ---- skipped steps ("adaptive depth") ------------------------------------------------------------------------
def _value(expression: str) -> int:
    """The value of a folded line's left side (integers, + - * / and brackets), walked on its syntax tree."""
    import ast
    import operator

    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.floordiv}

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](walk(node.left), walk(node.right))
        assert isinstance(node, ast.Constant) and isinstance(node.value, int), ast.dump(node)
        return node.value

    return walk(ast.parse(expression.strip(), mode="eval").body)


def test_skip_share_zero_writes_the_traces_it_always_wrote(small_world):
    _, train, _ = small_world
    plain = ProgramTeacher(program_teacher_config(n_paths=2, wrong_share=0.2))
    explicit = ProgramTeacher(program_teacher_config(n_paths=2, wrong_share=0.2, skip_share=0.0))
    skipping = ProgramTeacher(program_teacher_config(n_paths=2, wrong_share=0.2, skip_share=0.5))
    compared = 0
    for problem in train:
        assert [r["trace"] for r in plain.traces(problem)] == [r["trace"] for r in explicit.traces(problem)]
        assert all(r["skipped_step"] is None for r in plain.traces(problem))
        # skips draw from their own stream: a path the skipping teacher writes in full is the plain teacher's trace
        # (slip included), so turning skip_share on changes nothing but the folded traces
        by_path = {r["path"]: r["trace"] for r in plain.traces(problem)}
        for record in skipping.traces(problem):
            if record["skipped_step"] is None and record["path"] in by_path:
                assert record["trace"] == by_path[record["path"]]
                compared += 1
    assert compared > len(train) // 4


@pytest.mark.parametrize("path", range(4))
def test_a_skipped_step_folds_two_operations_into_one_true_line(small_world, path):
    _, train, _ = small_world
    from sft.teachers.program import foldable_steps

    folded = 0
    for problem in train:
        for fold in foldable_steps(problem):
            trace, answer = write_trace(problem, path, fold_step=fold)
            assert answer == problem["final_answer"] == _boxed(trace)
            lines = trace.split("\n")[1:-2]
            assert len(lines) == len(problem["steps"]) - 1, trace  # one line fewer: the intermediate is not written
            line = lines[fold]
            expression, result = re.search(r"([\d\s()+\-*/]+?) = (\d+)", line).groups()
            assert len(re.findall(r"[-+*/]", expression)) == 2, line
            assert _value(expression) == int(result), line  # brackets where precedence needs them
            hidden = problem["steps"][fold]["result"]
            assert f"= {hidden}" not in line, line
            folded += 1
    assert folded > len(train) // 2


def test_fold_step_that_cannot_fold_is_refused(small_world):
    _, train, _ = small_world
    problem = train[0]
    with pytest.raises(ValueError, match="fold_step=9"):
        write_trace(problem, 0, fold_step=9)


def test_skip_share_is_roughly_respected_and_skipped_traces_verify(small_world):
    _, train, _ = small_world
    teacher = ProgramTeacher(program_teacher_config(n_paths=2, wrong_share=0.0, skip_share=0.5))
    records = [r for p in train for r in teacher.traces(p)]
    skipped = [r for r in records if r["skipped_step"] is not None]
    assert 0.35 < len(skipped) / len(records) < 0.65
    assert all(r["verified"] for r in records)


def test_skipped_trace_with_a_slip_is_still_wrong(small_world):
    _, train, _ = small_world
    teacher = ProgramTeacher(program_teacher_config(n_paths=2, wrong_share=1.0, skip_share=1.0))
    records = [r for p in train for r in teacher.traces(p)]
    assert any(r["skipped_step"] is not None for r in records)
    assert not any(r["verified"] or _boxed(r["trace"]) == r["answer"] for r in records)


def test_every_program_teacher_key_in_conf_reaches_the_teacher():
    from omegaconf import OmegaConf

    from launch.config_check import compose
    from sft.teachers.base import build_teacher

    cfg = OmegaConf.to_container(compose(["teacher.skip_share=0.3", "teacher.n_paths=3", "teacher.seed=7"]).teacher)
    assert build_teacher(cfg).teacher.config == ProgramTeacherConfig(
        n_paths=3, wrong_share=0.2, seed=7, skip_share=0.3, ablation="none", ablation_share=0.67
    )
    with pytest.raises(ValueError, match="skp_share"):
        build_teacher({**cfg, "skp_share": 0.5})


# ---- the teacher stage and the SFT rows built from it ------------------------------------------------------
def test_teacher_stage_resumes_a_killed_run_and_feeds_only_verified_traces(tmp_path):
    from data.jsonl_io import read_jsonl
    from launch.config_check import compose
    from launch.stage_state import read_summary
    from launch.stages import load_split, sft_rows, stage_data, stage_teacher

    cfg = compose(["data.n_train=60", "data.n_test=10", f"output_root={tmp_path}"])
    data_dir = stage_data(cfg)
    traces_dir = stage_teacher(cfg, data_dir)
    clean = read_jsonl(traces_dir / "traces.jsonl")
    train = load_split(data_dir, "train")
    assert len(clean) == 2 * len(train) and len({t["id"] for t in clean}) == len(clean)
    summary = read_summary(traces_dir)
    assert summary["n_traces"] == len(clean) and summary["n_verified"] == sum(t["verified"] for t in clean)

    # kill half way: no summary, a torn last record
    raw = (traces_dir / "traces.jsonl").read_text()
    (traces_dir / "traces.jsonl").write_text(raw[: len(raw) // 2])
    (traces_dir / "summary.json").unlink()
    assert stage_teacher(cfg, data_dir) == traces_dir
    assert read_jsonl(traces_dir / "traces.jsonl") == clean

    rows = sft_rows(cfg, data_dir, traces_dir)
    verified = [t for t in clean if t["verified"]]
    assert len(rows) == len(verified)
    for row, trace in zip(rows, verified):
        assert row["prompt"] == [{"role": "user", "content": trace["problem"] + "\nPut the final answer in \\boxed{}."}]
        assert row["completion"] == [{"role": "assistant", "content": trace["trace"]}]
        assert _boxed(trace["trace"]) == trace["answer"]

    answer_rows = sft_rows(
        compose(["condition=answer_only_sft", "data.n_train=60", "data.n_test=10", f"output_root={tmp_path}"]),
        data_dir,
        None,
    )
    assert [r["completion"][0]["content"] for r in answer_rows] == [f"\\boxed{{{p['final_answer']}}}" for p in train]
    with pytest.raises(ValueError, match="teacher"):
        sft_rows(cfg, data_dir, None)


def test_teacher_budget_writes_traces_for_the_first_problems_only_and_grpo_still_sees_all(tmp_path):
    from data.jsonl_io import read_jsonl
    from launch.config_check import compose
    from launch.stage_state import read_summary
    from launch.stages import load_split, rl_rows, stage_data, stage_teacher

    cfg = compose(["data.n_train=60", "data.n_test=10", "teacher.max_problems=7", f"output_root={tmp_path}"])
    data_dir = stage_data(cfg)
    traces_dir = stage_teacher(cfg, data_dir)
    train = load_split(data_dir, "train")
    traces = read_jsonl(traces_dir / "traces.jsonl")
    assert {t["problem_id"] for t in traces} == {p["id"] for p in train[:7]}
    assert read_summary(traces_dir)["n_problems"] == 7
    assert len(rl_rows(cfg, data_dir)) == len(train) == 60
    full = stage_teacher(compose(["data.n_train=60", "data.n_test=10", f"output_root={tmp_path}"]), data_dir)
    assert full != traces_dir and len({t["problem_id"] for t in read_jsonl(full / "traces.jsonl")}) == 60
    for bad in ("0", "-3", "true", "2.5"):
        with pytest.raises(ValueError, match="teacher.max_problems"):
            stage_teacher(
                compose(
                    ["data.n_train=60", "data.n_test=10", f"teacher.max_problems={bad}", f"output_root={tmp_path}"]
                ),
                data_dir,
            )


def test_standard_filters_drop_wrong_and_planted_eval_traces_and_report_counts(tmp_path):
    from data.jsonl_io import read_jsonl
    from launch.config_check import compose
    from launch.stages import load_split, sft_examples, sft_source, stage_data, stage_teacher
    from tests._files import write_jsonl

    overrides = ["data.n_train=60", "data.n_test=10", f"output_root={tmp_path}"]
    plain, filtered = compose(overrides), compose([*overrides, "filters=standard", "filters.decontam_ngram=16"])
    data_dir = stage_data(plain)
    traces_dir = stage_teacher(plain, data_dir)
    traces = read_jsonl(traces_dir / "traces.jsonl")
    held_out = load_split(data_dir, "test")[0]
    planted = {**traces[0], "id": "planted", "problem_id": "planted", "problem": held_out["question"]}
    write_jsonl(traces_dir / "traces.jsonl", [*traces, planted, {**traces[0], "id": "copy"}])  # + an exact duplicate
    rows, report = sft_examples(filtered, data_dir, traces_dir)
    n_wrong = sum(not t["verified"] for t in traces)
    assert report["n_in"] == len(traces) + 2 and report["verified"] == n_wrong and report["exact_dup"] == 1
    assert report["decontam"] >= 1 and report["n_kept"] == len(rows) == report["n_in"] - sum(
        report[k] for k in ("verified", "structure", "length", "exact_dup", "near_dup", "decontam")
    )
    assert not any(held_out["question"] in r["prompt"][0]["content"] for r in rows)
    unfiltered, none = sft_examples(plain, data_dir, traces_dir)
    assert none is None and len(unfiltered) == len(traces) - n_wrong + 2  # only_verified: planted + copy stay
    assert sft_source(filtered) != sft_source(plain)  # filtered rows train a different SFT stage
