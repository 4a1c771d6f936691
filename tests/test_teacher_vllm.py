"""The vllm teacher: config composes, a clear one-line refusal without CUDA / vllm, and (with a stand-in engine
class in place of `vllm.LLM`) the engine and SamplingParams it builds and the records it writes."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from sft.teachers.vllm_offline import VLLMTeacher, VLLMTeacherConfig, check_vllm_teacher
from sft.vllm_check import GenerationBackendError
from tests._presets import from_preset


def test_conf_vllm_composes_and_mirrors_config():
    from omegaconf import OmegaConf

    from launch.config_check import compose

    conf = OmegaConf.to_container(compose(["teacher=vllm", "teacher.tensor_parallel_size=2"]).teacher)
    assert conf["backend"] == "vllm" and conf["tensor_parallel_size"] == 2
    assert VLLMTeacherConfig.from_mapping(conf) == from_preset(
        VLLMTeacherConfig, "teacher", "vllm", tensor_parallel_size=2
    )


def test_building_it_without_cuda_is_one_clear_line():
    import torch

    from launch.config_check import compose
    from sft.teachers.base import build_teacher

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(GenerationBackendError, match="teacher=vllm needs a CUDA GPU.*teacher=hf") as error:
        build_teacher(compose(["teacher=vllm"]).teacher)
    assert "\n" not in str(error.value)


def test_missing_vllm_is_one_clear_line():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(GenerationBackendError, match=r"needs the 'vllm' package.*pip install -e \.\[gpu\]"):
        check_vllm_teacher(cuda_available=True)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        (dict(gpu_memory_utilization=1.5), "gpu_memory_utilization"),
        (dict(dtype="fp8"), "unknown dtype 'fp8'"),
        (dict(n_paths=0), "n_paths"),
        (dict(tensor_parallel_size=0), "tensor_parallel_size"),
    ],
)
def test_bad_config_names_the_value(kwargs, text):
    with pytest.raises(ValueError, match=text):
        from_preset(VLLMTeacherConfig, "teacher", "vllm", **kwargs)


class FakeLLM:
    """Stands in for `vllm.LLM`: records its arguments, answers n completions per prompt (the last one cut)."""

    built: list[dict] = []
    calls: list[tuple] = []

    def __init__(self, **kwargs):
        FakeLLM.built.append(kwargs)

    def generate(self, requests, params, use_tqdm=False):
        FakeLLM.calls.append((len(requests), params))
        out = []
        for request in requests:
            assert request["prompt_token_ids"]  # our own chat-formatted prompt, as token ids
            completions = [
                SimpleNamespace(
                    text=f"<think>x</think>\n\\boxed{{{k}}}",
                    token_ids=[1] * (k + 2),
                    finish_reason="length" if k == params.n - 1 else "stop",
                )
                for k in range(params.n)
            ]
            out.append(SimpleNamespace(outputs=completions))
        return out


class FakeParams:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


def test_engine_sampling_params_chunks_records_and_resume(monkeypatch, tiny_model_dir):
    import eval.vllm_backend
    from tests._sft_fixtures import toy_problems

    FakeLLM.built.clear(), FakeLLM.calls.clear()
    monkeypatch.setattr(eval.vllm_backend, "import_vllm", lambda: (FakeLLM, FakeParams))
    monkeypatch.setattr("sft.teachers.vllm_offline.check_vllm_teacher", lambda cuda_available=None: None)
    config = VLLMTeacherConfig(
        name_or_path=tiny_model_dir,
        n_paths=3,
        temperature=0.8,
        top_p=0.9,
        max_new_tokens=32,
        chunk_size=2,
        seed=5,
        dtype="bfloat16",
        tensor_parallel_size=2,
        gpu_memory_utilization=0.5,
        max_model_len=2048,
    )
    problems = toy_problems(5)
    for p in problems[:3]:
        p["final_answer"] = "1"
    done = {f"{problems[0]['id']}/vllm/{k}" for k in range(3)}
    records = list(VLLMTeacher(config).generate(problems, done))

    assert FakeLLM.built == [
        {
            "model": tiny_model_dir,
            "dtype": "bfloat16",
            "seed": 5,
            "gpu_memory_utilization": 0.5,
            "tensor_parallel_size": 2,
            "max_model_len": 2048,
        }
    ]
    assert [n for n, _ in FakeLLM.calls] == [2, 2]  # 4 problems left, chunk_size 2
    params = FakeLLM.calls[0][1]
    assert (params.n, params.temperature, params.top_p, params.max_tokens, params.top_k) == (3, 0.8, 0.9, 32, -1)
    assert [r["id"] for r in records] == [f"{p['id']}/vllm/{k}" for p in problems[1:] for k in range(3)]
    for r in records:
        assert r["teacher"] == "vllm" and r["model"] == tiny_model_dir and r["tokens_in"] > 0
        assert r["tokens_out"] == r["path"] + 2 and r["truncated"] == (r["path"] == 2)
        assert r["verified"] == (r["path"] == 1 and r["answer"] == "1")
    assert list(VLLMTeacher(config).generate(problems[:1], done)) == []
