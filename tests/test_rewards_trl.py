"""TRL reward functions, the registry and conf/reward/*.yaml."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
import yaml

import rewards
from rewards import REWARDS, build_reward_funcs, correctness_reward, format_reward, length_penalty, tag_count_reward
from rewards.trl_rewards import completion_text, make_correctness_reward, make_format_reward

CONF = Path(__file__).resolve().parents[1] / "conf" / "reward"
GOOD = "<think>16 - 3 - 4 = 9 eggs, 9 * 2 = 18.</think>\nThe answer is \\boxed{18}."


@pytest.fixture(scope="module", autouse=True)
def _warm_pool():
    rewards.warmup()


def _conv(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _trl_kwargs(n: int, answers: list, logged: dict | None = None) -> dict:
    """The extra keyword arguments GRPOTrainer passes besides completions."""
    kw = {
        "prompts": [[{"role": "user", "content": "q"}]] * n,
        "completion_ids": [[1, 2, 3]] * n,
        "answer": answers,
        "question": ["q"] * n,
        "trainer_state": object(),
        "log_extra": lambda *a, **k: None,
    }
    if logged is not None:
        kw["log_metric"] = lambda name, value: logged.setdefault(name, []).append(value)
    return kw


def test_correctness_reward_strings_and_conversations():
    comps = [GOOD, _conv(GOOD), "\\boxed{17}", _conv("no answer"), GOOD]
    golds = ["#### 18", "Janet ... #### 18", "#### 18", "#### 18", ""]
    logged: dict = {}
    out = correctness_reward(comps, **_trl_kwargs(len(comps), golds, logged))
    assert out == [1.0, 1.0, 0.0, 0.0, None]
    assert logged["verify/bad_gold_frac"] == [pytest.approx(0.2)]
    assert logged["verify/no_answer_frac"] == [pytest.approx(0.2)]
    assert "verify/timeout_frac" in logged and "verify/fast_frac" in logged


def test_correctness_reward_bad_gold_is_none_and_counted():
    rewards.STATS.snapshot_and_reset()
    out = correctness_reward([GOOD, GOOD], answer=[None, "   "])
    assert out == [None, None]
    assert rewards.STATS.snapshot_and_reset()["verify/bad_gold"] == 2


def test_correctness_reward_options():
    fn = make_correctness_reward(answer_key="solution", correct=2.0, no_answer=-1.0, warmup=False)
    assert fn([GOOD, "nothing", "\\boxed{1}"], solution=["18", "18", "18"]) == [2.0, -1.0, 0.0]
    with pytest.raises(KeyError):
        fn([GOOD], answer=["18"])
    with pytest.raises(ValueError):
        fn([GOOD, GOOD], solution=["18"])
    # default key search: answer, solution, gold, ground_truth
    assert correctness_reward([GOOD], ground_truth=["18"]) == [1.0]


def test_correctness_reward_latex_gold():
    comps = [_conv("<think>..</think> \\boxed{\\frac{\\pi}{2}}"), _conv("<think>..</think> \\boxed{\\pi}")]
    assert correctness_reward(comps, answer=["\\frac{1}{2}\\pi"] * 2) == [1.0, 0.0]


@pytest.mark.parametrize(
    "text, expected",
    [
        (GOOD, 1.0),
        ("<think>x</think>\\boxed{18}", 1.0),
        ("  <think>x</think>\n\n\\boxed{18}\n", 1.0),
        ("<think>x</think>\\boxed{\\frac{1}{2}}", 1.0),
        ("<think></think>\\boxed{18}", 0.0),  # empty thinking
        ("<think>x\\boxed{3}</think>", 0.0),  # no final box
        ("<think>x</think>\\boxed{1} \\boxed{2}", 0.0),  # two boxes
        ("<think>x</think>\\boxed{}", 0.0),  # empty box
        ("<think>x</think>\\boxed{1", 0.0),  # unbalanced
        ("x</think>\\boxed{18}", 0.0),  # no opening tag
        ("\\boxed{18}", 0.0),
        ("pre <think>x</think>\\boxed{18}", 0.0),
        ("<think>a</think><think>b</think>\\boxed{18}", 0.0),
        ("<think>x</think>\\boxed{18}" + " blah" * 100, 0.0),  # too much else
        ("<think>x", 0.0),
    ],
)
def test_format_reward(text, expected):
    assert format_reward([text]) == [expected]
    assert format_reward([_conv(text)], answer=["1"]) == [expected]


def test_format_reward_missing_open_tag_option():
    fn = make_format_reward(allow_missing_open_tag=True)
    assert fn(["x</think>\\boxed{18}", "<think>x</think>\\boxed{18}", "\\boxed{18}"]) == [1.0, 1.0, 0.0]


def test_tag_count_and_length_penalty():
    assert tag_count_reward([GOOD, "\\boxed{1}", "<think>a \\boxed{1}</think>"]) == [1.0, 0.0, 0.5]
    short, long_ = "a" * 100, "a" * 4 * 3584
    out = length_penalty([short, long_, "a" * 100_000])
    assert out[0] == 0.0 and out[1] == pytest.approx(-0.5) and out[2] == -1.0
    ids = [[0] * 10, [0] * 5000]
    assert length_penalty(["x", "x"], completion_ids=ids) == [0.0, -1.0]


def test_reward_functions_have_names_and_trl_signature():
    for fn in (correctness_reward, format_reward, tag_count_reward, length_penalty):
        assert fn.__name__ and fn.__name__ != "<lambda>"
        params = inspect.signature(fn).parameters
        assert "completions" in params and any(p.kind is p.VAR_KEYWORD for p in params.values())
        assert fn([], answer=[]) == []


def test_completion_text_variants():
    assert completion_text("a") == "a"
    assert completion_text([{"role": "assistant", "content": "a"}]) == "a"
    assert completion_text({"role": "assistant", "content": "b"}) == "b"
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "c"}]}]) == "c"
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "d"}]) == "d"
    assert completion_text(None) == ""


def test_registry_builds_from_yaml():
    for path in sorted(CONF.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        funcs, weights = build_reward_funcs(spec)
        assert len(funcs) == len(weights) == len(spec["funcs"])
        assert all(callable(f) and f.__name__ for f in funcs)
        assert 0 < float(spec["verify_timeout_s"]) < 1
    spec = yaml.safe_load((CONF / "binary_format.yaml").read_text())
    funcs, weights = build_reward_funcs(spec)
    assert [f.__name__ for f in funcs] == ["correctness_reward", "format_reward"]
    assert weights == [1.0, 0.2]
    rows = [f([GOOD, "\\boxed{18}"], answer=["#### 18"] * 2) for f in funcs]
    total = [sum(w * r[i] for w, r in zip(weights, rows)) for i in range(2)]
    assert total == [pytest.approx(1.2), pytest.approx(1.0)]
    funcs, weights = build_reward_funcs(yaml.safe_load((CONF / "binary.yaml").read_text()))
    assert [f.__name__ for f in funcs] == ["correctness_reward"] and weights == [1.0]


def test_registry_list_spec_and_errors():
    funcs, weights = build_reward_funcs(
        [
            {"name": "correctness"},
            {"name": "tag_count", "weight": 0.1},
            {"name": "length_penalty", "soft_tokens": 10, "max_tokens": 20},
        ]
    )
    assert weights == [1.0, 0.1, 1.0] and len(funcs) == 3
    assert set(REWARDS) >= {"correctness", "format", "tag_count", "length_penalty"}
    with pytest.raises(ValueError) as err:
        build_reward_funcs([{"name": "corectness", "weight": 1.0}])
    assert "corectness" in str(err.value) and "correctness" in str(err.value) and "format" in str(err.value)
    with pytest.raises(ValueError):
        build_reward_funcs([{"name": "format", "max_tail_charz": 3}])
    with pytest.raises(ValueError):
        build_reward_funcs([])
    with pytest.raises(ValueError):
        build_reward_funcs({"verify_timeout_s": 0.5})


def test_registry_passes_verify_timeout():
    funcs, _ = build_reward_funcs({"verify_timeout_s": 0.25, "funcs": [{"name": "correctness"}]})
    assert funcs[0]([GOOD], answer=["18"]) == [1.0]


def test_rewards_never_nan():
    out = correctness_reward(["\\boxed{nan}", "\\boxed{inf}", "\\boxed{\\infty}"], answer=["5", "5", "5"])
    assert all(o is not None and not math.isnan(o) for o in out)


def test_registry_accepts_omegaconf():
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.load(CONF / "binary_format.yaml")
    funcs, weights = build_reward_funcs(cfg)
    assert [f.__name__ for f in funcs] == ["correctness_reward", "format_reward"] and weights == [1.0, 0.2]
    funcs, weights = build_reward_funcs(cfg.funcs, verify_timeout_s=cfg.verify_timeout_s)
    assert weights == [1.0, 0.2]


def test_correctness_reward_symbolic_batch_in_parallel():
    comps = [_conv(f"<think>.</think> \\boxed{{\\sqrt{{{k * k}}}}}") for k in range(2, 14)]
    out = correctness_reward(comps, answer=[str(k) for k in range(2, 14)])
    assert out == [1.0] * 12
