"""The hf teacher: n sampled paths per problem from a tiny local model, token accounting, verify, resume."""

from __future__ import annotations

import pytest

from sft.teachers.hf import HFTeacher, HFTeacherConfig
from tests._presets import from_preset


def _config(**overrides) -> HFTeacherConfig:
    """conf/teacher/hf.yaml with `overrides` (the config has no defaults of its own)."""
    return from_preset(HFTeacherConfig, "teacher", "hf", **overrides)


@pytest.fixture(scope="module")
def problems():
    from tests._sft_fixtures import toy_problems

    return toy_problems(3)


def test_samples_n_paths_per_problem_with_token_counts(tiny_model_dir, problems):
    config = _config(
        name_or_path=tiny_model_dir, n_paths=2, temperature=1.0, max_new_tokens=6, batch_size=2, dtype="float32"
    )
    records = list(HFTeacher(config).generate(problems))
    assert [r["id"] for r in records] == [f"{p['id']}/hf/{k}" for p in problems for k in range(2)]
    for record in records:
        assert record["teacher"] == "hf" and isinstance(record["verified"], bool)
        assert record["tokens_in"] > 0 and 1 <= record["tokens_out"] <= 6
        assert record["answer"] in {p["final_answer"] for p in problems}


def test_verified_uses_rewards_verify_and_done_problems_are_skipped(monkeypatch, tiny_model_dir, problems):
    import eval.generate

    calls = []

    def fake(model, tokenizer, prompts, **kwargs):
        calls.append((len(prompts), kwargs))
        return [
            [
                {"text": "<think>x</think>\n\\boxed{7}", "n_tokens": 4, "truncated": False},
                {"text": f"<think>x</think>\n\\boxed{{{gold}}}", "n_tokens": 5, "truncated": False},
            ]
            for gold in golds[: len(prompts)]
        ]

    golds = [p["final_answer"] for p in problems[1:]]
    monkeypatch.setattr(eval.generate, "generate_batched", fake)
    config = _config(name_or_path=tiny_model_dir, n_paths=2, temperature=0.5, top_p=0.9, batch_size=8)
    done = {f"{problems[0]['id']}/hf/0", f"{problems[0]['id']}/hf/1"}
    records = list(HFTeacher(config).generate(problems, done))
    assert {r["problem_id"] for r in records} == {p["id"] for p in problems[1:]}
    assert calls[0][0] == 2
    assert calls[0][1]["num_return_sequences"] == 2 and calls[0][1]["do_sample"] is True
    assert calls[0][1]["temperature"] == 0.5 and calls[0][1]["top_p"] == 0.9
    for record in records:
        assert record["verified"] == (record["path"] == 1 or record["answer"] == "7")
    assert list(HFTeacher(config).generate(problems[:1], done)) == []


@pytest.mark.parametrize(
    "kwargs, text", [(dict(n_paths=0), "n_paths"), (dict(temperature=-1), "temperature"), (dict(top_p=0), "top_p")]
)
def test_bad_config_raises(kwargs, text):
    with pytest.raises(ValueError, match=text):
        _config(**kwargs)


def test_every_conf_hf_key_reaches_the_config():
    import dataclasses

    from omegaconf import OmegaConf

    from launch.config_check import compose

    conf = OmegaConf.to_container(compose(["teacher=hf", "teacher.top_p=0.5"]).teacher)
    config = HFTeacherConfig.from_mapping(conf)
    assert {f.name: getattr(config, f.name) for f in dataclasses.fields(config)} == {
        f.name: conf[f.name] for f in dataclasses.fields(config)
    }
    assert config.top_p == 0.5
