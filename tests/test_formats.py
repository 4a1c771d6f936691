"""Trace formats and structure ablations (issue 17): the format every stage writes and reads (data/trace_format.py),
the program teacher's ablations and paths, the rewards' leading answer for post, the template-shift split, the error
propagation probe, the sweep table's measures, bad input refused with the valid values named, the default config's
stage fingerprints untouched, and each format end to end on the tiny model (teacher -> SFT -> GRPO -> eval)."""

from __future__ import annotations

import json
import re

import pytest
from omegaconf import OmegaConf

from data.trace_format import EMPTY_THINK, TraceFormat, trace_format
from launch.config_check import ConfigError, compose
from sft.teachers.program import MAX_PATHS, ProgramTeacher, write_trace
from tests._presets import TINY_PIPELINE, program_teacher_config

PRE, POST, ADAPTIVE = TraceFormat("pre"), TraceFormat("post"), TraceFormat("adaptive", min_ops=3)
_EQ = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")


def _holds(a: int, op: str, b: int, c: int) -> bool:
    return {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else None}[op] == c


# ---- the format: writing and reading ------------------------------------------------------------------------
def test_each_format_places_the_reasoning_and_the_answer():
    lines = ["20 + 4 = 24", "24 * 3 = 72"]
    assert PRE.render(lines, "72") == "<think>\n20 + 4 = 24\n24 * 3 = 72\n</think>\n\\boxed{72}"
    assert POST.render(lines, "72") == "\\boxed{72}\n20 + 4 = 24\n24 * 3 = 72"
    assert ADAPTIVE.render(lines, "72", n_ops=3) == PRE.render(lines, "72")  # needs it: the full trace
    assert ADAPTIVE.render(lines, "72", n_ops=2) == EMPTY_THINK + "\\boxed{72}"  # easy: an empty think block
    assert [f.is_long(f.render(lines, "72", n_ops=2)) for f in (PRE, POST, ADAPTIVE)] == [True, True, False]


def test_post_reads_the_leading_answer_only():
    assert POST.answer_region("\\boxed{72}\n20 + 4 = 24\nso \\boxed{24}") == "\\boxed{72}"
    assert POST.answer_region("<think>\n\n</think>\n\n\\boxed{7} because 3 + 4 = 7") == "\\boxed{7}"  # Qwen3 /no_think
    assert POST.answer_region("72\n20 + 4 = 24") == "72"  # no box: the first line, never the justification
    assert PRE.answer_region("anything") == "anything"


def test_qwen3_mapping_of_the_formats():
    """post -> enable_thinking=False in the chat template; adaptive -> Qwen3's /think or /no_think per problem."""
    assert POST.chat_kwargs() == {"enable_thinking": False} and PRE.chat_kwargs() == ADAPTIVE.chat_kwargs() == {}
    assert ADAPTIVE.teacher_prompt("Q?", n_ops=2).endswith("/no_think")
    assert ADAPTIVE.teacher_prompt("Q?", n_ops=3).endswith("/think")
    assert "Start your reply with the final answer" in POST.teacher_prompt("Q?")
    from data.records import PROMPT_SUFFIX, teacher_messages

    assert teacher_messages({"question": "Q?"}, None)[0]["content"] == "Q?" + PROMPT_SUFFIX  # pre: as always


def test_qwen3_style_chat_template_gets_enable_thinking():
    from eval.generate import chat_prompt_text

    class Template:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt, **kwargs):
            return "<think>\n\n</think>\n\n" if kwargs.get("enable_thinking") is False else "<think>\n"

    assert chat_prompt_text(Template(), [{"role": "user", "content": "q"}], **POST.chat_kwargs()).startswith(
        "<think>\n\n</think>"
    )


# ---- the rewards ------------------------------------------------------------------------------------------------
def test_a_post_completion_is_scored_by_its_leading_answer():
    from rewards.trl_rewards import make_correctness_reward

    post = make_correctness_reward(trace_format="post", warmup=False)
    pre = make_correctness_reward(warmup=False)
    boxed_twice = "\\boxed{14}\n3 + 4 = 7\n7 * 2 = 14\nnot \\boxed{12}"
    bare = "14\n3 + 4 = 7\n7 * 2 = 14\nCheck: 14 - 2 = 12"
    wrong_lead = "\\boxed{12}\n3 + 4 = 7\n7 * 2 = 14\nso \\boxed{14}"
    assert post([boxed_twice, bare, wrong_lead], answer=["14"] * 3) == [1.0, 1.0, 0.0]
    assert pre([boxed_twice, bare, wrong_lead], answer=["14"] * 3) == [0.0, 0.0, 1.0]  # pre reads the last one


def test_the_pipeline_gives_the_format_to_the_rewards():
    from launch.stages import reward_spec
    from rewards import build_reward_funcs

    cfg = compose(["format=post", "reward=binary_arithmetic"])
    spec = reward_spec(cfg)
    by_name = {f["name"]: f for f in spec["funcs"]}
    assert by_name["correctness"]["trace_format"] == by_name["format"]["trace_format"] == "post"
    assert "trace_format" not in by_name["arithmetic"]
    funcs, _ = build_reward_funcs({**spec, "funcs": [{**by_name["correctness"], "warmup": False}]})
    assert funcs[0](["7\n3 + 4 = 7\nthen 8"], answer=["7"]) == [1.0]


def test_format_reward_per_format():
    from rewards.trl_rewards import make_format_reward

    pre_trace, post_trace = PRE.render(["1 + 1 = 2"], "2"), POST.render(["1 + 1 = 2"], "2")
    short = ADAPTIVE.render(["1 + 1 = 2"], "2", n_ops=1)
    assert make_format_reward()([pre_trace, post_trace, short]) == [1.0, 0.0, 0.0]
    assert make_format_reward(trace_format="post")([pre_trace, post_trace, "\\boxed{2}"]) == [0.0, 1.0, 0.0]
    assert make_format_reward(trace_format="adaptive")([pre_trace, post_trace, short]) == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match=r"valid: \['pre', 'post', 'adaptive'\]"):
        make_format_reward(trace_format="middle")


# ---- the program teacher: formats, ablations, paths ---------------------------------------------------------
def test_program_teacher_writes_each_format(small_world):
    _, train, _ = small_world
    for problem in train[:40]:
        pre = ProgramTeacher(program_teacher_config(wrong_share=0.0)).traces(problem)
        post = ProgramTeacher(program_teacher_config(wrong_share=0.0), POST).traces(problem)
        adaptive = ProgramTeacher(program_teacher_config(wrong_share=0.0), ADAPTIVE).traces(problem)
        assert [t["trace"] for t in pre] == [write_trace(problem, t["path"])[0] for t in pre]  # pre: as always
        for p, q, a in zip(pre, post, adaptive):
            steps = p["trace"].split("<think>\n", 1)[1].split("\n</think>", 1)[0]
            assert q["trace"] == f"\\boxed{{{problem['final_answer']}}}\n{steps}" and q["verified"]
            expected = p["trace"] if problem["n_steps"] >= 3 else EMPTY_THINK + f"\\boxed{{{problem['final_answer']}}}"
            assert a["trace"] == expected


def _equations(trace: str) -> list[tuple[int, str, int, int]]:
    return [(int(a), op, int(b), int(c)) for a, op, b, c in _EQ.findall(trace)]


def test_wrong_numbers_keeps_structure_and_answer_but_corrupts_intermediate_results(small_world):
    _, train, _ = small_world
    plain = ProgramTeacher(program_teacher_config(wrong_share=0.0, n_paths=1))
    wrong = ProgramTeacher(
        program_teacher_config(wrong_share=0.0, n_paths=1, ablation="wrong_numbers", ablation_share=1)
    )
    for problem in train[:60]:
        (p,), (w,) = plain.traces(problem), wrong.traces(problem)
        assert w["verified"] and w["trace"].endswith(f"\\boxed{{{problem['final_answer']}}}")
        pe, we = _equations(p["trace"]), _equations(w["trace"])
        assert [e[1] for e in pe] == [e[1] for e in we]  # the same operations in the same order
        assert [e[3] for e in pe][:-1] != [e[3] for e in we][:-1]  # every intermediate result corrupted
        assert pe[-1][3] == we[-1][3]  # the last step still states the answer


def test_delete_and_add_steps(small_world):
    _, train, _ = small_world
    base = dict(wrong_share=0.0, n_paths=1)
    plain = ProgramTeacher(program_teacher_config(**base))
    deleting = ProgramTeacher(program_teacher_config(**base, ablation="delete_steps", ablation_share=0.67))
    adding = ProgramTeacher(program_teacher_config(**base, ablation="add_steps", ablation_share=0.67))
    for problem in train[:60]:
        n = problem["n_steps"]
        (p,), (d,), (a,) = plain.traces(problem), deleting.traces(problem), adding.traces(problem)
        pe, de, ae = _equations(p["trace"]), _equations(d["trace"]), _equations(a["trace"])
        assert len(de) == n - min(n - 1, int(0.67 * n + 0.5)) and de[-1] == pe[-1]  # never the answer's step
        assert len(ae) == n + min(n, int(0.67 * n + 0.5)) and all(_holds(*e) for e in ae)  # redundant, true
        assert d["verified"] and a["verified"] and d["ablation"]["drop"] and a["ablation"]["checks"]


def test_up_to_six_distinct_paths_and_no_more(small_world):
    _, train, _ = small_world
    # a step whose operands can swap into another trace: commutative, with two different operands
    commutative = [p for p in train if any(s["op"] in "+*" and s["a"] != s["b"] for s in p["steps"])]
    for n_paths in (5, MAX_PATHS):
        teacher = ProgramTeacher(program_teacher_config(n_paths=n_paths, wrong_share=0.0))
        for problem in commutative[:30]:
            traces = [t["trace"] for t in teacher.traces(problem)]
            assert len(traces) == len(set(traces)) == n_paths
    few = ProgramTeacher(program_teacher_config(n_paths=4, wrong_share=0.0))
    assert all(t["path"] < 4 for p in train[:30] for t in few.traces(p))  # <= 4 paths: the original four only
    with pytest.raises(ValueError, match=r"n_paths must be in 1\.\.6 .*got 7"):
        program_teacher_config(n_paths=7)


# ---- the template-shift split -------------------------------------------------------------------------------
def test_template_shift_keeps_the_arithmetic_and_changes_every_surface(small_world):
    from data.toy_world import ITEMS, NAMES, ToyWorld, shift_problem

    world, train, test = small_world
    train_words = set(" ".join(p["question"] for p in train).split())
    signatures = {ToyWorld.signature(p) for p in train}
    for problem in test:
        shifted = shift_problem(problem)
        assert shifted["steps"] == problem["steps"] and shifted["final_answer"] == problem["final_answer"]
        assert shifted["id"] == problem["id"] + "-shift" and shifted["question"] != problem["question"]
        words = set(re.findall(r"[A-Za-z]+", shifted["question"]))
        assert not words & (set(NAMES) | {i.split()[-1] for i in ITEMS} | {i.split()[-1] + "s" for i in ITEMS})
        assert ToyWorld.signature(shifted) not in signatures
        assert {"owns", "cousins", "crates"} & words or words - train_words  # templates never used in training


# ---- error propagation ----------------------------------------------------------------------------------------
def test_forced_prefix_is_a_wrong_first_step(small_world):
    from eval.error_propagation import forced_prefix

    _, _, test = small_world
    for problem in test:
        prefix = forced_prefix(problem, "pre")
        step = problem["steps"][0]
        ((a, op, b, c),) = _equations(prefix)
        assert prefix.startswith("<think>\n") and (a, op, b) == (step["a"], step["op"], step["b"])
        assert c != step["result"] and c >= 0
        assert forced_prefix(problem, "adaptive") == prefix and forced_prefix(problem, "post") is None


# ---- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, message",
    [
        (["format=middle"], r"valid format choices: \['adaptive', 'post', 'pre'\]"),
        (["format.name=middle"], r"format.name='middle': must be one of \['pre', 'post', 'adaptive'\]"),
        (["teacher.ablation=shuffle"], r"must be one of \['none', 'wrong_numbers', 'delete_steps', 'add_steps'\]"),
        (["teacher.ablation_share=1.5"], r"teacher.ablation_share=1.5: must be a number in \[0, 1\]"),
        (["teacher.ablation_share=-0.1"], r"teacher.ablation_share=-0.1: must be a number in \[0, 1\]"),
        (["teacher.n_paths=7"], r"teacher.n_paths=7: must be an integer in \[1, 6\]"),
        (["format=adaptive", "format.min_ops=null"], r"format=adaptive needs format.min_ops, an integer >= 1"),
        (["format.min_ops=2"], r"format.min_ops is read by format=adaptive only"),
        (["eval.error_propagation=0"], r"eval.error_propagation=0: must be an integer >= 1 or null"),
        (["+reward.funcs.0.trace_format=middle"], r"must be one of \['pre', 'post', 'adaptive'\]"),
    ],
)
def test_bad_input_is_refused_naming_the_valid_values(overrides, message):
    with pytest.raises(ConfigError, match=message):
        compose(overrides)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["format=post", "teacher=dataset_s1k"], r"valid: teacher=program, hf, vllm or openai, or format=pre"),
        (
            ["data=gsm8k", "model=qwen3_0p6b", "teacher=hf", "eval.template_shift=true"],
            r"eval.template_shift probes the toy world.*valid: data=toy",
        ),
    ],
)
def test_cross_key_checks_refuse_before_anything_runs(overrides, message):
    from launch.conditions import plan_stages

    with pytest.raises(ConfigError, match=message):
        plan_stages(compose(overrides))


def test_format_mapping_refuses_unknown_keys():
    with pytest.raises(ValueError, match=r"valid: \['min_ops', 'name'\]"):
        TraceFormat.from_mapping({"name": "pre", "minops": 1})
    assert trace_format(None) == PRE and trace_format({"name": "post", "min_ops": None}) == POST


# ---- fingerprints: the default config is what it was ------------------------------------------------------
def test_default_format_leaves_every_stage_fingerprint_input_as_it_was():
    from launch import stages

    cfg = compose([])
    teacher = stages._plain(cfg.teacher)
    assert stages.teacher_settings(cfg) == {k: v for k, v in teacher.items() if not k.startswith("ablation")}
    assert stages.reward_spec(cfg) == stages._plain(cfg.reward)
    assert stages._eval_identity(cfg) == [stages._eval_settings(cfg)]
    assert stages.rl_settings(cfg) == stages._plain(cfg.rl)
    assert "trace_format" not in stages.format_eval_settings(cfg)
    post = compose(["format=post", "teacher.ablation=add_steps"])
    assert stages.teacher_settings(post)["format"]["name"] == "post"
    assert stages.teacher_settings(post)["ablation"] == "add_steps"
    assert stages._eval_identity(post)[1]["name"] == "post"
    assert stages.rl_settings(post)["chat_template_kwargs"]["enable_thinking"] is False  # Qwen3: answer first


# ---- the sweep ----------------------------------------------------------------------------------------------
def test_formats_sweep_composes_every_arm():
    from launch.config_check import CONF_DIR
    from launch.sweep_report import run_label

    labels = set()

    arms = OmegaConf.load(CONF_DIR / "sweep" / "formats.yaml").hydra.sweeper.params["+arm"].split(",")
    for arm in arms:
        cfg = compose(["+sweep=formats", f"+arm={arm}"])
        assert cfg.run_name == f"formats/{arm}" and cfg.eval.template_shift and cfg.eval.error_propagation
        labels.add(run_label(cfg))
    assert len(labels) == len(arms) == 8 and "trace_sft" in labels and "trace_sft post" in labels


def test_sweep_report_rows_per_arm_with_the_measures(tmp_path):
    from launch.stage_state import write_summary
    from launch.sweep_report import aggregate, config_fingerprint, markdown

    sweep = tmp_path / "multirun"
    for arm, fmt, ablation in (("pre", "pre", "none"), ("post", "post", "none"), ("del", "pre", "delete_steps")):
        for seed in (0, 1):
            cfg = OmegaConf.create(
                {
                    "output_root": str(tmp_path),
                    "run_name": f"formats/{arm}",
                    "seed": seed,
                    "condition": {"name": "trace_sft"},
                    "data": {"name": "toy", "n_test": 50},
                    "format": {"name": fmt, "min_ops": None},
                    "teacher": {"name": "program", "n_paths": 2, "ablation": ablation, "ablation_share": 0.67},
                }
            )
            job = sweep / arm / f"seed{seed}" / ".hydra"
            job.mkdir(parents=True)
            OmegaConf.save(cfg, job / "config.yaml")
            write_summary(
                tmp_path / "formats" / arm / "trace_sft" / f"seed{seed}",
                "run",
                {
                    "accuracy": 0.2 + 0.1 * seed,
                    "n_eval": 50,
                    "config_fingerprint": config_fingerprint(cfg),
                    "tokens_per_answer": 30.0 + seed,
                    "seconds_per_answer": 0.01,
                    "thinking": {"long_share": 1.0},
                    "template_shift_accuracy": 0.1,
                    "error_propagation": {
                        "recovery_rate": None if fmt == "post" else 0.5,
                        "propagation_rate": None if fmt == "post" else 0.25,
                    },
                },
            )
    results = aggregate(sweep)
    rows = results["conditions"]
    assert set(rows) == {"trace_sft", "trace_sft post", "trace_sft delete_steps 0.67"} and not results["missing"]
    assert rows["trace_sft"]["tokens_per_answer_mean"] == 30.5 and rows["trace_sft"]["propagation_rate_mean"] == 0.25
    assert "propagation_rate_mean" not in rows["trace_sft post"]  # post: not applicable, never averaged as 0
    text = markdown(results)
    assert "| trace_sft post | 25.0 ± 7.1 | 10.0 ± 0.0 | 30.5 | 0.010 | 100.0 | — | — |" in text
    json.dumps(results)


# ---- end to end: each format, teacher -> SFT -> GRPO -> eval on the tiny model -------------------------------
TINY = [
    "condition=sft_grpo",
    *TINY_PIPELINE,
    "eval.max_new_tokens=24",
    "eval.template_shift=true",
    "eval.error_propagation=4",
]


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory):
    return tmp_path_factory.mktemp("formats")  # one data + base for the three formats


@pytest.mark.slow
@pytest.mark.parametrize("arm", ["pre", "post", "adaptive", "wrong_numbers"])
def test_each_format_end_to_end_on_the_tiny_model(arm, shared_root):
    from launch.pipeline import run_condition
    from launch.stage_state import read_summary

    cfg = compose([f"+arm={arm}", f"output_root={shared_root}", *TINY])
    fmt = cfg.format.name
    result = run_condition(cfg)
    assert result["format"] == fmt and result["sft_steps"] == 2 and result["rl_steps"] == 2
    assert result["n_eval"] == 8 and 0.0 <= result["accuracy"] <= 1.0
    assert result["tokens_per_answer"] > 0 and result["seconds_per_answer"] > 0
    assert 0.0 <= result["thinking"]["long_share"] <= 1.0 and 0.0 <= result["template_shift_accuracy"] <= 1.0
    probe = result["error_propagation"]
    assert probe["n_probed"] == (0 if fmt == "post" else 4)
    from launch import stages
    from launch.stage_state import fingerprint

    fp = fingerprint("teacher", stages._plain(cfg.data), stages.teacher_settings(cfg))
    rows = [json.loads(line) for line in (shared_root / "shared" / "traces" / fp / "traces.jsonl").open()]
    data_dir = next(p for p in (shared_root / "shared" / "data").iterdir() if p.is_dir())
    problems = {p["id"]: p for p in stages.load_split(data_dir, "train")}
    for row in rows:  # the teacher wrote this run's format (and ablation)
        n_ops = problems[row["problem_id"]]["n_steps"]
        if fmt == "post":
            assert row["trace"].startswith("\\boxed{")
        elif fmt == "adaptive" and n_ops < 3:
            assert row["trace"].startswith(EMPTY_THINK)
        else:
            assert row["trace"].startswith("<think>\n") and not row["trace"].startswith(EMPTY_THINK)
        assert ("ablation" in row) == (arm == "wrong_numbers")
    run = shared_root / cfg.run_name / "sft_grpo" / "seed0"
    assert read_summary(run / "eval_shift")["n_eval"] == 8  # the template-shift split, beside the held-out eval
    items = [json.loads(line) for line in (run / "eval_shift" / "items.jsonl").read_text().splitlines()]
    assert all(i["id"].endswith("-shift") for i in items)
    assert "/shared/rl/" in result["rl_path"] and result["model_path"] == result["rl_path"]  # eval scored GRPO's model


def test_hub_teachers_are_prompted_for_the_format_and_verified_by_its_answer():
    from sft.teachers.base import build_teacher, trace_record
    from tests._presets import preset

    for name in ("hf", "openai"):
        teacher = build_teacher(preset("teacher", name), POST)  # nothing is loaded or called until generate
        assert teacher.fmt == POST and teacher.chat_kwargs() == {"enable_thinking": False}
    assert build_teacher(preset("teacher", "hf")).chat_kwargs() == {}  # pre: the template as it always was
    problem = {"id": "p", "question": "q"}
    post_text = "7\n3 + 4 = 7, and 8 more"
    assert trace_record("i", problem, "7", 0, post_text, "hf", fmt=POST)["verified"]
    assert not trace_record("i", problem, "7", 0, post_text, "hf")["verified"]  # pre reads the last number


def test_the_structure_filter_reads_the_trace_format():
    """A post trace (answer first, no think block) is well formed under format=post and not under pre, and the
    other way round; apply_filters checks the layout of the format it is given (a post trace set is not all dropped)."""
    from data.trace_format import TraceFormat
    from sft.filters import apply_filters, well_formed

    post, pre = TraceFormat("post"), TraceFormat("pre")
    post_trace = "\\boxed{12}\n3 * 4 = 12"
    pre_trace = "<think>\n3 * 4 = 12\n</think>\n\\boxed{12}"
    assert well_formed(post_trace, post) and not well_formed(post_trace, pre) and not well_formed(post_trace)
    assert well_formed(pre_trace, pre) and well_formed(pre_trace) and not well_formed(pre_trace, post)
    assert not well_formed("3 * 4 = 12\n\\boxed{12}", post)  # the answer must lead
    assert not well_formed("\\boxed{12}\n\\boxed{13}", post)  # one answer only
    rows = [{"problem_id": "p", "problem": "q", "answer": "12", "trace": post_trace, "verified": True}]
    kept, report = apply_filters(rows, {}, trace_format=post)
    assert len(kept) == 1 and report["structure"] == 0
    kept, report = apply_filters(rows, {})
    assert not kept and report["structure"] == 1


def test_redistill_samples_the_policy_as_the_student_and_verifies_posts_leading_answer(
    tmp_path, monkeypatch, tiny_model_dir
):
    """Re-distillation's policy traces under format=post: the policy is prompted as the student is (its own prompt,
    post's chat-template arguments), and a trace is verified by its leading answer, not a number in the justification;
    pre and post samples live in different stage folders."""
    import eval.generate
    from data.records import prompt_messages
    from launch.stages import load_split, stage_data, stage_policy_traces

    seen = {}

    def fake(model, tokenizer, prompts, **kwargs):
        seen.setdefault("prompts", []).extend(prompts)
        return [
            [
                {"text": POST.render([f"7 + 7 = {gold}"], gold), "n_tokens": 5, "truncated": False},
                {"text": POST.render([f"7 + 7 = {gold}"], "999"), "n_tokens": 5, "truncated": False},
            ]
            for gold in golds[: len(prompts)]
        ]

    overrides = [*TINY_PIPELINE, f"output_root={tmp_path}", "redistill.sampling.n_problems=3"]
    overrides += ["redistill.sampling.n_paths=2", "redistill.sampling.max_new_tokens=8"]
    cfg = compose([*overrides, "format=post"])
    data_dir = stage_data(cfg)
    problems = load_split(data_dir, "train")[:3]
    golds = [p["final_answer"] for p in problems]
    monkeypatch.setattr(eval.generate, "generate_batched", fake)
    out = stage_policy_traces(cfg, tiny_model_dir, data_dir)
    traces = [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()]
    assert [t["verified"] for t in traces] == [True, False] * 3  # the lead answer decides, the step's number does not
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    expected = eval.generate.chat_prompt_text(tokenizer, prompt_messages(problems[0]["question"]), **POST.chat_kwargs())
    assert seen["prompts"][0] == expected
    pre_out = stage_policy_traces(compose(overrides), tiny_model_dir, data_dir)
    assert pre_out != out  # pre and post sample into different stage folders


def test_benchmarks_are_scored_in_the_runs_format():
    """eval.benchmarks read the answer where the format puts it (post: the lead) and prompt with its chat-template
    arguments; a pre run's benchmark settings (and so their fingerprints) are what they were."""
    from eval.settings import settings_from
    from launch import stages

    post = stages.benchmark_eval_config(compose(["format=post"]), "gsm8k", "m")
    assert settings_from(post).trace_format == "post"
    assert "trace_format" not in stages.benchmark_eval_config(compose([]), "gsm8k", "m")
