"""`python -m launch.serve model=<checkpoint dir or hub id>`: one checkpoint as an OpenAI-compatible chat endpoint.

Endpoints: `POST /v1/chat/completions` (messages, n, temperature, top_p, max_tokens, seed; choices with
finish_reason "stop"/"length" and usage prompt_tokens/completion_tokens), `GET /v1/models`, `GET /health`.
Any client that speaks the OpenAI API (the `openai` teacher backend, `curl`) can then use the tiny model or a
local checkpoint exactly as it would a hosted model.

It runs on FastAPI + uvicorn (a maintained ASGI stack; the same one llama-cpp-python's server runs on), for CPU
work, tests and small checkpoints; for GPU throughput serve the model with vLLM or SGLang, which speak the same
API. Generation goes through `eval.generate.generate_batched` (the `n` choices of one
request are one batched `generate` call) and is serialised with a lock: one model, one request at a time.
Knobs: conf/serve.yaml. A bad request gets a 400 whose JSON error names the bad field and what is valid; a body
larger than `max_request_bytes` (judged by its Content-Length, before a byte of it is read) gets a 413 and its
connection is closed, while the server keeps serving. A GGUF export (`python -m launch.export`) is served by
llama.cpp's own OpenAI-compatible server instead: `python -m llama_cpp.server --model <file>.gguf`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("launch.serve")
USAGE = "python -m launch.serve model=<checkpoint dir or hub id> [host=127.0.0.1] [port=8000] [key=value ...]"
ROLES = ("system", "user", "assistant")
ROUTES = ("GET /health", "GET /v1/models", "POST /v1/chat/completions")
DEFAULT_MAX_REQUEST_BYTES = 1 << 20  # conf/serve.yaml max_request_bytes

# A hook sees (path, parsed body, request headers) before a POST is handled; a (status, payload) it returns is
# sent instead (tests inject faults this way: a 429, a 5xx, a sleep past the client's timeout).
Hook = Callable[[str, dict[str, Any], Mapping[str, str]], "tuple[int, dict[str, Any]] | None"]


class RequestError(ValueError):
    """A request the server refuses: HTTP `status`, the offending `param`, and a message naming valid values."""

    def __init__(
        self, message: str, param: str | None = None, status: int = 400, error_type: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.param, self.status, self.error_type = param, status, error_type

    def payload(self) -> dict[str, Any]:
        return error_payload(str(self), self.param, self.error_type)


def error_payload(message: str, param: str | None = None, error_type: str = "invalid_request_error") -> dict[str, Any]:
    """The OpenAI error body: `{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": None}}


# ---- request validation ----------------------------------------------------------------------------
def _int(body: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{key} must be an integer in [{low}, {high}], got {value!r}", key)
    if not low <= value <= high:
        raise RequestError(f"{key} must be in [{low}, {high}], got {value}", key)
    return value


def _float(body: Mapping[str, Any], key: str, default: float, low: float, high: float, low_open: bool = False) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{key} must be a number, got {value!r}", key)
    if not (low < value if low_open else low <= value) or value > high:
        bounds = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise RequestError(f"{key} must be in {bounds}, got {value}", key)
    return float(value)


def _content(value: Any, where: str) -> str:
    """A message's text: a string, or OpenAI content parts `[{"type": "text", "text": ...}, ...]`."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in value
    ):
        return "".join(p["text"] for p in value)
    raise RequestError(
        f"{where} must be a string or a list of {{'type': 'text', 'text': ...}} parts, got {value!r:.80}", where
    )


def parse_messages(value: Any) -> list[dict[str, str]]:
    """`messages` as `[{role, content}]` with plain-text content; RequestError naming the bad entry."""
    if not isinstance(value, list) or not value:
        raise RequestError(
            f"messages must be a non-empty list of {{'role', 'content'}} objects, got {value!r:.80}", "messages"
        )
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise RequestError(
                f"messages[{i}] must be an object with 'role' and 'content', got {message!r:.80}", f"messages[{i}]"
            )
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(
                f"messages[{i}].role {role!r} is not supported; valid: {list(ROLES)}", f"messages[{i}].role"
            )
        out.append({"role": role, "content": _content(message.get("content"), f"messages[{i}].content")})
    return out


def parse_chat_request(body: Any, cfg: Mapping[str, Any], served_name: str) -> dict[str, Any]:
    """The generation settings of a chat request, validated against the server's caps (conf/serve.yaml)."""
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, got {type(body).__name__}", None)
    model = body.get("model")
    if model is not None and model != served_name:
        raise RequestError(
            f"model {model!r} is not served here; valid: [{served_name!r}]", "model", 404, "model_not_found"
        )
    if body.get("stream"):
        raise RequestError("stream=true is not supported by launch.serve; valid: false", "stream")
    cap = int(cfg["max_tokens"])
    limit_key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = body.get(limit_key)
    if max_tokens is not None and not isinstance(max_tokens, bool) and isinstance(max_tokens, int) and max_tokens > cap:
        raise RequestError(
            f"{limit_key} {max_tokens} exceeds this server's cap {cap} (serve max_tokens); valid: 1..{cap}", limit_key
        )
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise RequestError(f"seed must be an integer or null, got {seed!r}", "seed")
    return {
        "messages": parse_messages(body.get("messages")),
        "n": _int(body, "n", 1, 1, int(cfg["max_n"])),
        "temperature": _float(body, "temperature", 1.0, 0.0, 2.0),
        "top_p": _float(body, "top_p", 1.0, 0.0, 1.0, low_open=True),
        "max_tokens": _int(body, limit_key, min(int(cfg["default_max_tokens"]), cap), 1, cap),
        "seed": seed,
    }


# ---- the model -------------------------------------------------------------------------------------
class ChatModel:
    """A loaded causal LM + tokenizer; `complete(request)` runs one validated request under a lock."""

    def __init__(self, model: Any, tokenizer: Any, compact_every: int | None = None) -> None:
        self.model, self.tokenizer, self.compact_every = model, tokenizer, compact_every
        self.lock = threading.Lock()

    @classmethod
    def load(
        cls, name_or_path: str, dtype: str = "auto", device: str = "auto", compact_every: int | None = None
    ) -> ChatModel:
        """Load through `data.hub` (a local directory or a hub id) and move the model to `device`."""
        import torch

        from data.hub import load_model, load_tokenizer

        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"unknown device {device!r}; valid: ['auto', 'cpu', 'cuda']")
        if device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device=cuda but no CUDA GPU is visible; valid here: ['auto', 'cpu']")
        tokenizer = load_tokenizer(name_or_path)
        model = load_model(name_or_path, dtype=dtype)
        target = "cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu"
        return cls(model.to(target), tokenizer, compact_every)

    def complete(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """`{choices: [{text, n_tokens, truncated}], prompt_tokens}` for one parsed request."""
        import torch

        from eval.generate import chat_prompt_text, generate_batched

        sample = request["temperature"] > 0
        with (
            self.lock
        ):  # the tokenizer too: a fast tokenizer used from two threads at once can raise "Already borrowed"
            prompt = chat_prompt_text(self.tokenizer, list(request["messages"]))
            prompt_tokens = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
            if request.get("seed") is not None:
                torch.manual_seed(int(request["seed"]))
            samples = generate_batched(
                self.model,
                self.tokenizer,
                [prompt],
                max_new_tokens=int(request["max_tokens"]),
                batch_size=1,
                do_sample=sample,
                temperature=request["temperature"] if sample else 1.0,
                top_p=request["top_p"],
                num_return_sequences=int(request["n"]) if sample else 1,
                compact_every=self.compact_every,
            )[0]
        if not sample:  # greedy: every choice is the same completion, decoded once
            samples = [dict(samples[0]) for _ in range(int(request["n"]))]
        return {"choices": samples, "prompt_tokens": prompt_tokens}


# ---- routing ---------------------------------------------------------------------------------------
class ServeApp:
    """The endpoints, independent of HTTP: `handle(method, path, body)` -> (status, JSON payload).

    `hook` (tests: fault injection) sees every POST before it is handled and may answer it instead."""

    def __init__(self, chat: ChatModel, served_name: str, cfg: Mapping[str, Any], hook: Hook | None = None) -> None:
        self.chat, self.served_name, self.cfg, self.hook = chat, served_name, dict(cfg), hook
        self.created = int(time.time())

    def handle(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if method == "GET" and path == "/health":
            return 200, {"status": "ok", "model": self.served_name}
        if method == "GET" and path == "/v1/models":
            return 200, {
                "object": "list",
                "data": [
                    {"id": self.served_name, "object": "model", "created": self.created, "owned_by": "launch.serve"}
                ],
            }
        if method == "POST" and path == "/v1/chat/completions":
            if self.hook is not None:
                answer = self.hook(path, body if isinstance(body, dict) else {}, dict(headers or {}))
                if answer is not None:
                    return answer
            try:
                return 200, self.chat_completion(parse_chat_request(body, self.cfg, self.served_name))
            except RequestError as error:
                return error.status, error.payload()
        return 404, error_payload(f"no route {method} {path}; valid: {list(ROUTES)}", "path", "not_found")

    def chat_completion(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The `chat.completion` object for one validated request."""
        out = self.chat.complete(request)
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": s["text"]},
                "logprobs": None,
                "finish_reason": "length" if s["truncated"] else "stop",
            }
            for i, s in enumerate(out["choices"])
        ]
        completion = sum(int(s["n_tokens"]) for s in out["choices"])
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.served_name,
            "choices": choices,
            "usage": {
                "prompt_tokens": out["prompt_tokens"],
                "completion_tokens": completion,
                "total_tokens": out["prompt_tokens"] + completion,
            },
        }


def _too_large(length: int, cap: int) -> tuple[int, dict[str, Any]]:
    return 413, error_payload(
        f"request body of {length} bytes exceeds this server's cap of {cap} bytes (serve max_request_bytes); "
        f"valid: 0..{cap}",
        "Content-Length",
        "request_too_large",
    )


def asgi_app(app: ServeApp) -> Any:
    """The FastAPI application around `app`: every route goes to `ServeApp.handle` (in a worker thread, so a slow
    generation or hook never blocks other connections), after the body-size cap and the JSON parse."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    cap = int(app.cfg.get("max_request_bytes") or DEFAULT_MAX_REQUEST_BYTES)

    def answer(status: int, payload: dict[str, Any], close: bool = False) -> Any:
        return JSONResponse(payload, status_code=status, headers={"Connection": "close"} if close else None)

    async def dispatch(request: Request) -> Any:  # a plain Starlette route: the request as it came
        start, method, body = time.perf_counter(), request.method, None
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if method == "POST":
            claimed = request.headers.get("content-length")
            if claimed is not None and int(claimed) > cap:  # refused before a byte of the body is read
                log.info("%s %s refused: Content-Length %s (cap %d)", method, path, claimed, cap)
                return answer(*_too_large(int(claimed), cap), close=True)
            raw = bytearray()
            async for chunk in request.stream():  # a chunked body has no Content-Length: counted as it comes
                raw += chunk
                if len(raw) > cap:
                    return answer(*_too_large(len(raw), cap), close=True)
            try:
                body = json.loads(bytes(raw) or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                return answer(400, error_payload(f"the request body is not valid JSON: {error}", "body"))
        try:
            status, payload = await run_in_threadpool(app.handle, method, path, body, dict(request.headers.items()))
        except Exception as error:  # noqa: BLE001  (a failed generation is the client's 500, not the server's end)
            log.exception("request failed")
            status, payload = (
                500,
                error_payload(f"generation failed: {type(error).__name__}: {error}", None, "server_error"),
            )
        if app.cfg.get("log_requests", True):
            usage = payload.get("usage") or {}
            log.info(
                "%s %s %d prompt=%s completion=%s %.2fs",
                method,
                path,
                status,
                usage.get("prompt_tokens", "-"),
                usage.get("completion_tokens", "-"),
                time.perf_counter() - start,
            )
        return answer(status, payload)

    api.add_route("/{path:path}", dispatch, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    return api


class Server:
    """uvicorn serving `asgi_app(app)` on a socket bound at construction (port 0: a free one), with the
    `serve_forever` / `shutdown` / `server_close` / `server_address` of the standard library's servers."""

    def __init__(self, app: ServeApp, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        import uvicorn

        self.app = app
        self.socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, int(port)))
        self.server_address = self.socket.getsockname()
        config = uvicorn.Config(
            asgi_app(app),
            log_level="warning",
            access_log=False,
            timeout_keep_alive=120,  # seconds an idle keep-alive connection is held open
            lifespan="off",
        )
        self.uvicorn = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self.uvicorn.run(sockets=[self.socket])

    def shutdown(self) -> None:
        self.uvicorn.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=30)

    def server_close(self) -> None:
        self.socket.close()


def make_server(app: ServeApp, host: str = "127.0.0.1", port: int = 0) -> Server:
    """A bound (not yet serving) server for `app`; port 0 binds a free port."""
    return Server(app, host, port)


def server_url(server: Server) -> str:
    """`http://host:port/v1`: the base URL an OpenAI client takes."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/v1"


def start_in_thread(app: ServeApp, host: str = "127.0.0.1", port: int = 0) -> tuple[Server, str]:
    """Serve `app` from a daemon thread (tests, notebooks); returns the server (call `.shutdown()`) and its URL,
    once it accepts connections."""
    server = make_server(app, host, port)
    server.thread = threading.Thread(target=server.serve_forever, name="launch.serve", daemon=True)
    server.thread.start()
    deadline = time.time() + 30
    while not server.uvicorn.started and time.time() < deadline:
        time.sleep(0.01)
    return server, server_url(server)


def build_app(cfg: Mapping[str, Any], hook: Hook | None = None) -> ServeApp:
    """Load `cfg["model_path"]` and wrap it in a `ServeApp` (cfg: conf/serve.yaml as a plain dict)."""
    if int(cfg["max_tokens"]) < 1 or int(cfg["default_max_tokens"]) < 1 or int(cfg["max_n"]) < 1:
        raise ValueError(
            f"max_tokens, default_max_tokens and max_n must be >= 1, got "
            f"{cfg['max_tokens']}, {cfg['default_max_tokens']}, {cfg['max_n']}"
        )
    if int(cfg.get("max_request_bytes") or DEFAULT_MAX_REQUEST_BYTES) < 1:
        raise ValueError(f"max_request_bytes must be >= 1, got {cfg.get('max_request_bytes')}")
    if cfg.get("threads"):
        import torch

        torch.set_num_threads(int(cfg["threads"]))
    chat = ChatModel.load(
        str(cfg["model_path"]),
        dtype=str(cfg["dtype"]),
        device=str(cfg["device"]),
        compact_every=cfg.get("compact_every"),
    )
    return ServeApp(chat, str(cfg.get("served_model_name") or cfg["model_path"]), cfg, hook)


def rewrite_argv(argv: list[str]) -> list[str]:
    """`model=<x>` (and `+model=<x>`) becomes `model_path=<x>`; every other argument is kept."""
    return [re.sub(r"^\+?model=", "model_path=", arg) for arg in argv]


def main(argv: list[str] | None = None) -> None:
    """Compose conf/serve.yaml with the command line, load the model, print the bound URL, serve until killed."""
    from omegaconf import OmegaConf

    from launch.config_check import ConfigError, compose

    argv = rewrite_argv(list(sys.argv[1:] if argv is None else argv))
    if not any(a.startswith("model_path=") for a in argv):
        print(f"error: name the checkpoint to serve: {USAGE}", file=sys.stderr)
        raise SystemExit(2)
    try:
        cfg = OmegaConf.to_container(compose(argv, config_name="serve"), resolve=True)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = make_server(build_app(cfg), str(cfg["host"]), int(cfg["port"]))
    print(f"serving {cfg.get('served_model_name') or cfg['model_path']} at {server_url(server)}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
