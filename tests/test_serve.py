"""launch.serve: the OpenAI-compatible endpoint over real loopback HTTP, its outputs, errors, hook and CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from launch.serve import ChatModel, ServeApp, build_app, main, start_in_thread

REPO = Path(__file__).resolve().parents[1]
CFG = {"max_tokens": 64, "default_max_tokens": 16, "max_n": 4, "log_requests": True}
QUESTION = [{"role": "user", "content": "Ann has 3 apples and buys 4 more. How many apples?"}]


@pytest.fixture(scope="module")
def served(peaky_model_and_tokenizer):
    """The peaky tiny model (ends its turn after some tokens) served on a free port; yields (url, model, tokenizer)."""
    model, tokenizer = peaky_model_and_tokenizer
    server, url = start_in_thread(ServeApp(ChatModel(model, tokenizer), "peaky", CFG))
    yield url, model, tokenizer
    server.shutdown()
    server.server_close()


def _chat(url: str, **body) -> httpx.Response:
    return httpx.post(f"{url}/chat/completions", json={"model": "peaky", "messages": QUESTION, **body}, timeout=30)


def test_port_0_binds_a_free_port_and_health_and_models_answer(served):
    url = served[0]
    assert not url.endswith(":0/v1")
    assert httpx.get(url.removesuffix("/v1") + "/health").json() == {"status": "ok", "model": "peaky"}
    models = httpx.get(f"{url}/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["peaky"]


def test_greedy_choices_equal_eval_generate_with_usage_and_finish_reasons(served):
    from eval.generate import chat_prompt_text, generate_batched

    url, model, tokenizer = served
    prompt = chat_prompt_text(tokenizer, QUESTION)
    for max_tokens in (40, 2):
        expected = generate_batched(model, tokenizer, [prompt], max_new_tokens=max_tokens, batch_size=1)[0][0]
        body = _chat(url, n=2, temperature=0, max_tokens=max_tokens).json()
        assert body["object"] == "chat.completion" and body["model"] == "peaky"
        assert [c["message"] for c in body["choices"]] == [{"role": "assistant", "content": expected["text"]}] * 2
        reason = "length" if expected["truncated"] else "stop"
        assert [c["finish_reason"] for c in body["choices"]] == [reason, reason]
        assert body["usage"]["prompt_tokens"] == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        assert body["usage"]["completion_tokens"] == 2 * expected["n_tokens"]
        assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert _chat(url, temperature=0, max_tokens=40).json()["choices"][0]["finish_reason"] == "stop"  # peaky ends early


def test_seed_makes_sampling_reproducible(served):
    url = served[0]
    texts = [
        [
            c["message"]["content"]
            for c in _chat(url, n=3, temperature=1.0, top_p=1.0, max_tokens=12, seed=seed).json()["choices"]
        ]
        for seed in (7, 7, 8)
    ]
    assert texts[0] == texts[1] and texts[0] != texts[2]
    assert len(set(texts[0])) > 1  # the n choices are separate samples


def test_the_openai_client_speaks_to_it(served):
    import openai

    client = openai.OpenAI(base_url=served[0], api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["peaky"]
    response = client.chat.completions.create(model="peaky", messages=QUESTION, n=2, max_tokens=3, temperature=0.5)
    assert len(response.choices) == 2 and response.usage.completion_tokens <= 6
    with pytest.raises(openai.NotFoundError, match="'gpt-x' is not served here; valid: \\['peaky'\\]"):
        client.chat.completions.create(model="gpt-x", messages=QUESTION)


@pytest.mark.parametrize(
    "body, param, text",
    [
        ({"messages": []}, "messages", "non-empty list"),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "valid: \\['system', 'user', 'assistant'\\]",
        ),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content", "must be a string"),
        ({"n": 0}, "n", "in \\[1, 4\\]"),
        ({"n": 9}, "n", "in \\[1, 4\\]"),
        ({"n": "2"}, "n", "integer"),
        ({"temperature": -0.5}, "temperature", "in \\[0.0, 2.0\\]"),
        ({"top_p": 0}, "top_p", "in \\(0.0, 1.0\\]"),
        ({"max_tokens": 65}, "max_tokens", "exceeds this server's cap 64"),
        ({"max_tokens": 0}, "max_tokens", "in \\[1, 64\\]"),
        ({"seed": 1.5}, "seed", "integer or null"),
        ({"stream": True}, "stream", "not supported"),
    ],
)
def test_a_bad_field_gets_a_400_naming_it(served, body, param, text):
    import re

    payload = {"messages": QUESTION, **body}
    response = httpx.post(f"{served[0]}/chat/completions", json=payload, timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and re.search(text, error["message"]), error


def test_bad_json_unknown_route_and_non_object_body(served):
    url = served[0]
    response = httpx.post(f"{url}/chat/completions", content=b"{not json", timeout=30)
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]
    response = httpx.post(f"{url}/chat/completions", json=[1, 2], timeout=30)
    assert response.status_code == 400 and "JSON object" in response.json()["error"]["message"]
    response = httpx.get(f"{url}/v2/nothing", timeout=30)
    assert response.status_code == 404 and "POST /v1/chat/completions" in response.json()["error"]["message"]


def test_a_hook_sees_the_request_and_can_answer_instead(peaky_model_and_tokenizer):
    seen = []

    def hook(path, body, headers):
        seen.append((path, body["n"], {k.lower(): v for k, v in headers.items()}["authorization"]))
        return (429, {"error": {"message": "slow down", "type": "rate_limit"}}) if len(seen) == 1 else None

    server, url = start_in_thread(ServeApp(ChatModel(*peaky_model_and_tokenizer), "peaky", CFG, hook))
    try:
        headers = {"Authorization": "Bearer abc"}
        first = httpx.post(f"{url}/chat/completions", json={"messages": QUESTION, "n": 2}, headers=headers, timeout=30)
        second = httpx.post(
            f"{url}/chat/completions", json={"messages": QUESTION, "n": 2, "max_tokens": 2}, headers=headers, timeout=30
        )
    finally:
        server.shutdown()
        server.server_close()
    assert first.status_code == 429 and second.status_code == 200 and len(second.json()["choices"]) == 2
    assert seen == [("/v1/chat/completions", 2, "Bearer abc")] * 2


def test_build_app_loads_a_checkpoint_and_rejects_bad_caps(tiny_model_dir):
    cfg = {
        "model_path": tiny_model_dir,
        "served_model_name": None,
        "dtype": "float32",
        "device": "cpu",
        "threads": None,
        "max_tokens": 8,
        "default_max_tokens": 4,
        "max_n": 2,
        "compact_every": None,
    }
    app = build_app(cfg)
    status, body = app.handle("POST", "/v1/chat/completions", {"model": tiny_model_dir, "messages": QUESTION})
    assert status == 200 and body["usage"]["completion_tokens"] <= 4 and body["model"] == tiny_model_dir
    with pytest.raises(ValueError, match="max_n must be >= 1"):
        build_app({**cfg, "max_n": 0})
    with pytest.raises(ValueError, match=r"unknown device 'tpu'; valid: \['auto', 'cpu', 'cuda'\]"):
        build_app({**cfg, "device": "tpu"})


def test_cli_needs_a_model_and_names_a_bad_key(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["port=0"])
    assert exit_info.value.code == 2 and "python -m launch.serve model=" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["model=/nowhere", "bogus_knob=1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "'bogus_knob'" in err and "max_tokens" in err


def test_cli_serves_on_port_0_and_prints_the_url(tiny_model_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "launch.serve",
            f"model={tiny_model_dir}",
            "port=0",
            "threads=1",
            "served_model_name=tiny",
            "dtype=float32",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving tiny at http://127.0.0.1:"), line
        url = line.split(" at ")[1].strip()
        assert not url.endswith(":0/v1")
        body = httpx.post(
            f"{url}/chat/completions", json={"model": "tiny", "messages": QUESTION, "max_tokens": 3}, timeout=60
        ).json()
        assert body["choices"][0]["finish_reason"] in ("stop", "length") and body["usage"]["completion_tokens"] <= 3
        assert json.loads(httpx.get(f"{url}/models", timeout=30).text)["data"][0]["id"] == "tiny"
    finally:
        proc.kill()
        proc.wait()


def test_a_body_over_the_size_cap_gets_a_413_and_the_server_keeps_serving(peaky_model_and_tokenizer):
    """The cap is judged by Content-Length before any byte is read: a client claiming a huge body that it never
    sends is answered at once (no read blocks), a real oversized body too, a chunked one as it arrives; normal
    requests still succeed."""
    import socket

    model, tokenizer = peaky_model_and_tokenizer
    cfg = {**CFG, "max_request_bytes": 2000}
    server, url = start_in_thread(ServeApp(ChatModel(model, tokenizer), "peaky", cfg))
    try:
        big = [{"role": "user", "content": "x" * 5000}]
        response = httpx.post(f"{url}/chat/completions", json={"messages": big, "max_tokens": 4}, timeout=30)
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["param"] == "Content-Length" and "exceeds this server's cap of 2000 bytes" in error["message"]
        host, port = server.server_address[:2]
        with socket.create_connection((host, port), timeout=10) as sock:  # claims 1 TB, sends nothing
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000000000000\r\n\r\n"
            )
            head = sock.recv(4096).decode()
        assert head.startswith("HTTP/1.1 413") and "connection: close" in head.lower()
        with socket.create_connection((host, port), timeout=10) as sock:  # a Content-Length that is no number
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
            assert sock.recv(4096).decode().startswith("HTTP/1.1 400")
        chunked = httpx.post(f"{url}/chat/completions", content=iter([b"[" + b"1," * 1500, b"1]"]), timeout=30)
        assert chunked.status_code == 413  # no Content-Length: counted as it arrives
        ok = _chat(url, max_tokens=4)
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["role"] == "assistant"
        assert httpx.get(f"http://{host}:{port}/health", timeout=10).json()["status"] == "ok"
    finally:
        server.shutdown()
        server.server_close()


def test_max_request_bytes_is_a_serve_knob():
    from launch.config_check import compose

    assert compose(["model_path=x"], config_name="serve").max_request_bytes == 1048576
    with pytest.raises(ValueError, match="max_request_bytes must be >= 1"):
        build_app({"model_path": "x", "max_tokens": 4, "default_max_tokens": 4, "max_n": 1, "max_request_bytes": -1})
