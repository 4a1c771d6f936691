"""The openai teacher against launch.serve (tiny model, real loopback HTTP): records, concurrency, counted
retries on 429 / 5xx / timeouts, failures, resume, and an API key that never leaves the client."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from sft.teachers.openai_api import OpenAITeacher, OpenAITeacherConfig, TeacherRequestError, choice_text, split_tokens
from tests._presets import from_preset


class Faults:
    """A launch.serve hook: answers or delays requests by plan, counts requests and their overlap."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self, plan: list | None = None, always=None, delay: float = 0.0) -> None:
        self.plan, self.always, self.delay = list(plan or []), always, delay
        self.calls, self.in_flight, self.max_in_flight, self.headers = 0, 0, 0, []

    def __call__(self, path, body, headers):
        with self.lock:
            self.calls += 1
            self.headers.append({k.lower(): v for k, v in headers.items()})
            action = self.plan.pop(0) if self.plan else None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.always is not None:
                answer = self.always(body)
                if answer is not None:
                    return answer
            if isinstance(action, tuple) and action[0] == "sleep":
                time.sleep(action[1])
            elif isinstance(action, int):
                return action, {"error": {"message": f"injected {action}", "type": "injected"}}
            time.sleep(self.delay)
            return None
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    """launch.serve with the tiny model on a free port and a fault hook; yields (url, faults)."""
    from data.hub import load_model, load_tokenizer
    from launch.serve import ChatModel, ServeApp, start_in_thread

    faults = Faults()
    chat = ChatModel(load_model(tiny_model_dir), load_tokenizer(tiny_model_dir))
    srv, url = start_in_thread(
        ServeApp(chat, "tiny", {"max_tokens": 64, "default_max_tokens": 8, "max_n": 8, "log_requests": True}, faults)
    )
    yield url, faults
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def faults(server):
    server[1].reset()
    return server[1]


@pytest.fixture(scope="module")
def problems():
    from tests._sft_fixtures import toy_problems

    return toy_problems(5)


def teacher(url: str, **overrides) -> OpenAITeacher:
    knobs = dict(
        base_url=url,
        model="tiny",
        n_paths=2,
        max_tokens=4,
        temperature=1.0,
        concurrency=3,
        max_retries=3,
        backoff_base=0.01,
        backoff_max=0.05,
        timeout=20.0,
    )
    return OpenAITeacher(from_preset(OpenAITeacherConfig, "teacher", "openai", **{**knobs, **overrides}))


def test_records_in_problem_order_with_token_accounting(server, faults, problems):
    t = teacher(server[0])
    records = list(t.generate(problems))
    assert [r["id"] for r in records] == [f"{p['id']}/openai/{k}" for p in problems for k in range(2)]
    gold = {p["id"]: p["final_answer"] for p in problems}
    for r in records:
        assert r["teacher"] == "openai" and r["model"] == "tiny" and isinstance(r["verified"], bool)
        assert r["answer"] == gold[r["problem_id"]] and r["tokens_in"] > 20 and 0 <= r["tokens_out"] <= 4
        assert r["truncated"] == (r["finish_reason"] == "length")
    assert t.stats["requests"] == len(problems) == faults.calls and t.stats["retries"] == 0
    assert t.stats["completion_tokens"] == sum(r["tokens_out"] for r in records)  # shares add up to usage
    assert t.stats["prompt_tokens"] == sum(r["tokens_in"] for r in records if r["path"] == 0)


def test_requests_run_concurrently(server, faults, problems):
    faults.reset(delay=0.3)
    start = time.perf_counter()
    records = list(teacher(server[0], concurrency=5).generate(problems))
    assert len(records) == 10 and faults.max_in_flight >= 3
    assert time.perf_counter() - start < 5 * 0.3  # overlapped, not one after another


@pytest.mark.parametrize("status, reason", [(429, "429"), (503, "5xx"), (500, "5xx")])
def test_an_error_status_once_is_retried_and_counted(server, faults, problems, status, reason):
    faults.reset(plan=[status])
    t = teacher(server[0], concurrency=1)
    records = list(t.generate(problems))
    assert len(records) == 10 and len({r["id"] for r in records}) == 10
    assert t.stats["retries"] == 1 and t.stats["retries_by_reason"][reason] == 1
    assert t.stats["requests"] == len(problems) + 1 and t.stats["failures"] == 0


def test_a_request_past_the_timeout_is_retried_and_counted(server, faults, problems):
    faults.reset(plan=[("sleep", 1.5)])
    t = teacher(server[0], concurrency=1, timeout=0.6)
    records = list(t.generate(problems[:2]))
    assert [r["id"] for r in records] == [f"{p['id']}/openai/{k}" for p in problems[:2] for k in range(2)]
    assert t.stats["retries_by_reason"]["timeout"] == 1 and t.stats["retries"] == 1 and t.stats["requests"] == 3


def test_a_problem_that_keeps_failing_is_counted_and_fails_the_run_after_the_others(server, faults, problems):
    bad = problems[1]["question"]
    faults.reset(always=lambda body: (503, {"error": {"message": "down"}}) if bad in json.dumps(body) else None)
    t = teacher(server[0], max_retries=2)
    records = []
    with pytest.raises(RuntimeError, match=r"1 problem\(s\) failed after 2 retries .*re-run to resume"):
        for r in t.generate(problems):
            records.append(r)
    assert {r["problem_id"] for r in records} == {p["id"] for p in problems} - {problems[1]["id"]}
    assert t.stats["failures"] == 1 and t.stats["failed_problems"] == [problems[1]["id"]]
    assert t.stats["retries_by_reason"]["5xx"] == 2
    tolerant = teacher(server[0], max_retries=0, max_failed_problems=1)
    assert len(list(tolerant.generate(problems))) == 8 and tolerant.stats["failures"] == 1


def test_a_dropped_connection_is_retried_and_counted(problems):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = teacher(f"http://127.0.0.1:{port}/v1", max_retries=1)
    with pytest.raises(RuntimeError, match="1 problem\\(s\\) failed after 1 retries"):
        list(t.generate(problems[:1]))
    assert t.stats["retries_by_reason"]["connection"] == 1 and t.stats["requests"] == 2 and t.stats["failures"] == 1


def test_a_refused_request_raises_at_once_without_retries(server, faults, problems):
    t = teacher(server[0], model="not-served")
    with pytest.raises(TeacherRequestError, match=r"refused the request for model 'not-served' .*HTTP 404"):
        list(t.generate(problems[:1]))
    assert t.stats["requests"] == 1 and t.stats["retries"] == 0


def test_resume_skips_problems_already_done(server, faults, problems):
    done = {f"{p['id']}/openai/{k}" for p in problems[:3] for k in range(2)} | {f"{problems[3]['id']}/openai/0"}
    records = list(teacher(server[0]).generate(problems, done))
    assert {r["problem_id"] for r in records} == {problems[3]["id"], problems[4]["id"]}  # a half-done problem redone
    assert faults.calls == 2
    assert list(teacher(server[0]).generate(problems[:3], done)) == [] and faults.calls == 2


def test_a_named_key_variable_that_is_unset_is_a_clear_error(server, monkeypatch):
    monkeypatch.delenv("NO_SUCH_TEACHER_KEY", raising=False)
    with pytest.raises(ValueError, match=r"api_key_env='NO_SUCH_TEACHER_KEY'.*not set.*api_key_env=null"):
        teacher(server[0], api_key_env="NO_SUCH_TEACHER_KEY")


def test_the_api_key_never_reaches_records_summaries_or_logs(server, faults, tmp_path, monkeypatch, caplog, capfd):
    from launch.config_check import compose
    from launch.stages import stage_data, stage_teacher
    from sft.teachers.accounting import teacher_accounting
    from sft.teachers.base import build_teacher

    secret = "sk-test-5f1d2c3b4a"
    monkeypatch.setenv("TEST_TEACHER_KEY", secret)
    caplog.set_level(logging.DEBUG)
    faults.reset(plan=[429])
    url = server[0]
    cfg = compose(
        [
            "teacher=openai",
            f"teacher.base_url={url}",
            "teacher.model=tiny",
            "teacher.max_tokens=4",
            "teacher.api_key_env=TEST_TEACHER_KEY",
            "teacher.backoff_base=0.01",
            "teacher.price_per_million_input=1.5",
            "teacher.price_per_million_output=6",
            "data.n_train=3",
            "data.n_test=2",
            f"output_root={tmp_path}",
        ]
    )
    traces_dir = stage_teacher(cfg, stage_data(cfg))
    assert all(h.get("authorization") == f"Bearer {secret}" for h in faults.headers)  # the key was really sent
    records = [json.loads(line) for line in (traces_dir / "traces.jsonl").read_text().splitlines()]
    assert len(records) == 6

    t = build_teacher(cfg.teacher)
    faults.reset(always=lambda body: (401, {"error": {"message": f"Incorrect API key provided: {secret}"}}))
    with pytest.raises(TeacherRequestError) as refused:
        list(t.generate([{"id": "x", "question": "1+1?", "final_answer": "2"}]))
    accounting = teacher_accounting(records, cfg.teacher, t.stats)
    assert accounting["per_teacher"]["openai"]["n_traces"] == 6

    texts = [
        str(refused.value),
        json.dumps(accounting),
        json.dumps(t.stats),
        repr(t.config),
        caplog.text,
        *capfd.readouterr(),
    ]
    texts += [p.read_text(errors="replace") for p in Path(tmp_path).rglob("*") if p.is_file()]
    assert "<api key>" in str(refused.value)
    assert not [text[:200] for text in texts if secret in text]
    assert "HTTP Request" in caplog.text or "Retrying" in caplog.text or "retry" in caplog.text  # logs were captured


def test_conf_openai_mirrors_config_and_builds():
    from omegaconf import OmegaConf

    from launch.config_check import compose
    from sft.teachers.base import build_teacher

    conf = OmegaConf.to_container(compose(["teacher=openai"]).teacher)
    assert OpenAITeacherConfig.from_mapping(conf) == from_preset(OpenAITeacherConfig, "teacher", "openai")
    built = build_teacher({**conf, "name": "gpt_small"})
    assert isinstance(built, OpenAITeacher) and built.name == "gpt_small" and built.record_id("p", 1) == "p/gpt_small/1"


@pytest.mark.parametrize(
    "kwargs, text",
    [
        (dict(token_limit_param="max_len"), "valid: \\['max_tokens', 'max_completion_tokens'\\]"),
        (dict(base_url="localhost:8000"), "http\\(s\\) URL"),
        (dict(n_paths=0), "n_paths"),
        (dict(top_p=1.5), "top_p"),
        (dict(concurrency=0), "concurrency"),
    ],
)
def test_bad_config_names_the_value(kwargs, text):
    with pytest.raises(ValueError, match=text):
        from_preset(OpenAITeacherConfig, "teacher", "openai", **kwargs)


def test_token_shares_and_reasoning_content():
    from types import SimpleNamespace

    assert split_tokens(10, ["abc"]) == [10]
    shares = split_tokens(11, ["a" * 30, "b" * 10, ""])
    assert sum(shares) == 11 and shares[0] > shares[1] >= shares[2]
    assert split_tokens(8, ["long text", "x"], [4, 4]) == [4, 4]  # cut at max_tokens: exactly that many
    assert split_tokens(10, ["abc", "d"], [4, None]) == [4, 6]
    message = SimpleNamespace(content="\\boxed{4}", model_extra={"reasoning_content": "2+2=4"})
    assert choice_text(SimpleNamespace(message=message)) == "<think>\n2+2=4\n</think>\n\\boxed{4}"
    assert choice_text(SimpleNamespace(message=SimpleNamespace(content=None, model_extra={}))) == ""
