"""Shared fixtures: one tiny tokenizer + Qwen3 model per test session (per xdist worker), single-threaded torch, and
the slow tests scheduled first.

The machine the tests run on has few shared cores; torch's default thread pool fights over them and makes a
93k-parameter model forward ~40x slower than one thread does, so model tests pin torch to one thread.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` tests first (a stable sort): `make test` runs two pytest-xdist workers, and a long test collected
    last would leave one worker running it alone while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A saved tiny tokenizer + freshly initialised tiny Qwen3 (tests/_sft_fixtures.TINY_ARCH); read-only for tests."""
    from tests._sft_fixtures import make_tiny_model

    _one_thread()
    return make_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def peaky_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Like `tiny_model_dir` but initialised with large weights, so greedy decoding is varied (not one repeated
    token) and its argmax has wide margins (no near-ties that float noise from padding could flip)."""
    from tests._sft_fixtures import TINY_ARCH, make_tiny_model

    _one_thread()
    return make_tiny_model(tmp_path_factory.mktemp("peaky_model"), arch={**TINY_ARCH, "initializer_range": 0.3})


@pytest.fixture(scope="session")
def small_world():
    """A small toy world (n_train=200, n_test=50) and its two splits."""
    from data.toy_world import ToyWorld
    from tests._presets import toy_world_config

    world = ToyWorld(toy_world_config(n_train=200, n_test=50))
    return world, world.problems("train"), world.problems("test")


@pytest.fixture
def sft_cfg():
    """A `conf/sft/<name>.yaml` composed through Hydra, shrunk to a few CPU steps; call with the group option
    and extra overrides."""

    def make(option: str = "full", *overrides: str) -> dict:
        from omegaconf import OmegaConf

        from launch.config_check import compose

        small = [
            f"sft={option}",
            "sft.per_device_train_batch_size=4",
            "sft.logging_steps=1",
            "sft.max_length=256",
            "sft.save_total_limit=5",
            *overrides,
        ]
        return OmegaConf.to_container(compose(small).sft, resolve=True)

    return make


@pytest.fixture(scope="session")
def peaky_model_and_tokenizer(peaky_model_dir: str):
    """The peaky tiny model, made to end its turn after some tokens (an untrained model never emits
    `<|im_end|>`): the end-of-turn logit is forced up wherever the input token id is 3 mod 7. The rule
    depends on token content only, so it means the same with or without padding."""
    from data.hub import load_model, load_tokenizer

    model, tokenizer = load_model(peaky_model_dir), load_tokenizer(peaky_model_dir)
    eos = tokenizer.eos_token_id

    def force_eos(module, args, kwargs, output):
        ids = kwargs.get("input_ids", args[0] if args else None)
        hit = (ids % 7 == 3)[:, -output.logits.shape[1] :]
        output.logits[..., eos] += 1e4 * hit.to(output.logits.dtype)
        return output

    model.register_forward_hook(force_eos, with_kwargs=True)
    return model, tokenizer
