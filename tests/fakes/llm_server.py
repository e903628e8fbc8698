"""A scripted fake LLM server speaking both the Anthropic Messages API and OpenAI Chat
Completions, for tests that drive the real SDKs over loopback.

    with FakeLLMServer() as server:
        server.enqueue_anthropic(anthropic_tool_use("python_expression", {"expression": "1+1"}))
        server.enqueue_anthropic(anthropic_text("done"))
        model = AnthropicModel("claude-test", api_key="sk-ant-test", base_url=server.url)
        ...
        assert server.requests_to("anthropic")[1].body["messages"][-1]["role"] == "user"

Endpoints: ``POST /v1/messages`` (``anthropic``) and ``POST /v1/chat/completions``
(``openai``; point the OpenAI SDK at :attr:`FakeLLMServer.openai_base_url`, which ends in
``/v1``). Each endpoint answers from its own FIFO queue of :class:`FakeResponse` objects or
callables ``(RecordedRequest) -> FakeResponse``; when the queue is empty it uses the
endpoint's default responder (see :meth:`FakeLLMServer.set_default`), else answers HTTP 418
with an error body saying nothing was scripted (418 is not retried, so tests fail fast).
Every request, answered or not, is recorded with its parsed JSON body and headers.
Other paths (a server's ``GET /props``, ``/v1/models``, its tokenize endpoints) answer what
:meth:`FakeLLMServer.serve` gives them (``fakes/server_shapes.py`` has real shapes), else 404.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = [
    "ANTHROPIC",
    "OPENAI",
    "Endpoint",
    "FakeLLMServer",
    "FakeResponse",
    "RecordedRequest",
    "RecordingSleep",
    "Responder",
    "anthropic_error",
    "anthropic_message",
    "anthropic_text",
    "anthropic_text_block",
    "anthropic_tool_use",
    "anthropic_tool_use_block",
    "openai_completion",
    "openai_error",
    "openai_text",
    "openai_tool_call",
    "openai_tool_use",
]

Endpoint = Literal["anthropic", "openai"]
ANTHROPIC: Endpoint = "anthropic"
OPENAI: Endpoint = "openai"


@dataclass(frozen=True)
class FakeResponse:
    """One scripted answer. ``body``: dict/list -> JSON, str -> text, bytes -> raw.
    ``delay_s`` sleeps before answering (to provoke client timeouts)."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. ``headers`` has lower-cased names; ``body`` is the parsed
    JSON (or the raw text when it is not JSON)."""

    endpoint: Endpoint | None
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Responder = FakeResponse | Callable[[RecordedRequest], FakeResponse]


class RecordingSleep:
    """An async ``sleep`` replacement that returns at once and records the delays asked."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


# ---------------------------------------------------------------------------------------------
# The server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are expected; stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    def do_GET(self) -> None:
        self.server.fake._handle(self)


def _route(path: str) -> Endpoint | None:
    path = path.split("?", 1)[0].rstrip("/")
    if path.endswith("/v1/messages"):
        return ANTHROPIC
    if path.endswith("/chat/completions"):
        return OPENAI
    return None


class FakeLLMServer:
    """See the module docstring. Start with :meth:`start` or ``with``; stop with
    :meth:`stop` (after which connections are refused)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._lock = threading.Lock()
        self._queues: dict[Endpoint, deque[Responder]] = {ANTHROPIC: deque(), OPENAI: deque()}
        self._defaults: dict[Endpoint, Responder | None] = {ANTHROPIC: None, OPENAI: None}
        self._requests: list[RecordedRequest] = []
        self._routes: dict[tuple[str, str], Responder] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        if self._server is not None:
            raise RuntimeError("FakeLLMServer already started")
        server = _Server((self._host, 0), _Handler)
        server.fake = self
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the Anthropic SDK's ``base_url``. Stays valid (and
        refused) after :meth:`stop`."""
        if self._port is None:
            raise RuntimeError("FakeLLMServer not started")
        return f"http://{self._host}:{self._port}"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def openai_base_url(self) -> str:
        """``<url>/v1``: the OpenAI SDK's ``base_url``."""
        return self.url + "/v1"

    # -- scripting ----------------------------------------------------------------------------

    def enqueue(self, endpoint: Endpoint, *responses: Responder) -> None:
        """Append answers to ``endpoint``'s queue (used in order, each once)."""
        if endpoint not in self._queues:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        with self._lock:
            self._queues[endpoint].extend(responses)

    def enqueue_anthropic(self, *responses: Responder) -> None:
        self.enqueue(ANTHROPIC, *responses)

    def enqueue_openai(self, *responses: Responder) -> None:
        self.enqueue(OPENAI, *responses)

    def set_default(self, endpoint: Endpoint, responder: Responder | None) -> None:
        """Answer with ``responder`` whenever ``endpoint``'s queue is empty (None: 418)."""
        with self._lock:
            self._defaults[endpoint] = responder

    def serve(self, method: str, path: str, responder: Responder | None) -> None:
        """Answer ``method path`` (e.g. ``GET /props``) with ``responder`` every time (None:
        404 again). The chat endpoints keep their queues."""
        with self._lock:
            if responder is None:
                self._routes.pop((method, path), None)
            else:
                self._routes[(method, path)] = responder

    def pending(self, endpoint: Endpoint) -> int:
        """Scripted answers not used yet."""
        with self._lock:
            return len(self._queues[endpoint])

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, endpoint: Endpoint) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def anthropic_tool_results(self) -> list[dict[str, Any]]:
        """Every tool result the model was shown over the Anthropic API, in order (each
        parsed from its JSON text, counted once though later requests repeat it)."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for request in self.requests_to("anthropic"):
            for message in request.body["messages"]:
                if message["role"] != "user" or isinstance(message["content"], str):
                    continue
                for block in message["content"]:
                    if block.get("type") == "tool_result" and block["tool_use_id"] not in seen:
                        seen.add(block["tool_use_id"])
                        out.append(json.loads(block["content"]))
        return out

    def clear(self) -> None:
        """Forget recorded requests and queued answers."""
        with self._lock:
            self._requests.clear()
            for queue in self._queues.values():
                queue.clear()

    # -- serving ------------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        text = raw.decode("utf-8", errors="replace")
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text
        endpoint = _route(handler.path) if handler.command == "POST" else None
        request = RecordedRequest(
            endpoint=endpoint,
            method=handler.command,
            path=handler.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self._requests.append(request)
            responder: Responder | None = None
            if endpoint is not None:
                queue = self._queues[endpoint]
                responder = queue.popleft() if queue else self._defaults[endpoint]
            else:
                responder = self._routes.get((handler.command, handler.path.split("?", 1)[0]))
        if endpoint is None and responder is None:
            response = _error_response(404, "not_found_error", f"no fake route {handler.path}")
        elif responder is None:
            response = _error_response(
                418,
                "fake_server_error",
                f"fake server: nothing scripted for {endpoint} ({handler.command} {handler.path})",
            )
        elif isinstance(responder, FakeResponse):
            response = responder
        else:
            response = responder(request)
        self._write(handler, response)

    @staticmethod
    def _write(handler: _Handler, response: FakeResponse) -> None:
        if response.delay_s > 0:
            time.sleep(response.delay_s)
        if isinstance(response.body, bytes):
            payload, content_type = response.body, "application/octet-stream"
        elif isinstance(response.body, str):
            payload, content_type = response.body.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(response.body).encode(), "application/json"
        try:
            handler.send_response(response.status)
            headers = {k.lower(): v for k, v in response.headers.items()}
            headers.setdefault("content-type", content_type)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("content-length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _error_response(status: int, error_type: str, message: str) -> FakeResponse:
    return FakeResponse(
        status=status,
        body={"type": "error", "error": {"type": error_type, "message": message}},
    )


# ---------------------------------------------------------------------------------------------
# Anthropic Messages API bodies

_ids = itertools.count(1)


def anthropic_text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def anthropic_tool_use_block(name: str, input: Any, id: str | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or f"toolu_{next(_ids):04d}", "name": name, "input": input}


def anthropic_message(
    *content: dict[str, Any],
    stop_reason: str | None = None,
    input_tokens: int = 11,
    output_tokens: int = 7,
    model: str = "fake-claude",
    headers: Mapping[str, str] | None = None,
) -> FakeResponse:
    """A 200 Messages API response. ``stop_reason`` defaults to ``tool_use`` when a
    ``tool_use`` block is present, else ``end_turn``."""
    if stop_reason is None:
        has_tool = any(block.get("type") == "tool_use" for block in content)
        stop_reason = "tool_use" if has_tool else "end_turn"
    return FakeResponse(
        body={
            "id": f"msg_{next(_ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": list(content),
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        },
        headers=dict(headers or {}),
    )


def anthropic_text(text: str, **kwargs: Any) -> FakeResponse:
    return anthropic_message(anthropic_text_block(text), **kwargs)


def anthropic_tool_use(
    name: str, input: Any, *, id: str | None = None, text: str = "", **kwargs: Any
) -> FakeResponse:
    """A turn with (optional) text then one ``tool_use`` block."""
    blocks = [anthropic_text_block(text)] if text else []
    blocks.append(anthropic_tool_use_block(name, input, id))
    return anthropic_message(*blocks, **kwargs)


def anthropic_error(
    status: int,
    error_type: str = "api_error",
    message: str = "fake error",
    headers: Mapping[str, str] | None = None,
) -> FakeResponse:
    """An error in the Messages API shape, e.g. ``anthropic_error(529, "overloaded_error")``."""
    return FakeResponse(
        status=status,
        body={"type": "error", "error": {"type": error_type, "message": message}},
        headers=dict(headers or {}),
    )


# ---------------------------------------------------------------------------------------------
# OpenAI Chat Completions bodies


def openai_tool_call(name: str, arguments: Any, id: str | None = None) -> dict[str, Any]:
    """A ``tool_calls`` entry; ``arguments`` that is not a str is JSON-encoded (pass a str
    to send invalid JSON)."""
    return {
        "id": id or f"call_{next(_ids):04d}",
        "type": "function",
        "function": {
            "name": name,
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        },
    }


def openai_completion(
    content: str | None = None,
    tool_calls: Iterable[dict[str, Any]] = (),
    *,
    finish_reason: str | None = None,
    usage: Mapping[str, Any] | None = None,
    with_usage: bool = True,
    model: str = "fake-gpt",
    headers: Mapping[str, str] | None = None,
) -> FakeResponse:
    """A 200 Chat Completions response with one choice. ``finish_reason`` defaults to
    ``tool_calls`` when there are tool calls, else ``stop``."""
    calls = list(tool_calls)
    if finish_reason is None:
        finish_reason = "tool_calls" if calls else "stop"
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    body: dict[str, Any] = {
        "id": f"chatcmpl-{next(_ids):04d}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if with_usage:
        u = dict(usage or {"prompt_tokens": 13, "completion_tokens": 5})
        u.setdefault("total_tokens", u.get("prompt_tokens", 0) + u.get("completion_tokens", 0))
        body["usage"] = u
    return FakeResponse(body=body, headers=dict(headers or {}))


def openai_text(text: str, **kwargs: Any) -> FakeResponse:
    return openai_completion(text, **kwargs)


def openai_tool_use(
    name: str, arguments: Any, *, id: str | None = None, text: str | None = None, **kwargs: Any
) -> FakeResponse:
    """A turn with (optional) text and one function tool call."""
    return openai_completion(text, [openai_tool_call(name, arguments, id)], **kwargs)


def openai_error(
    status: int,
    error_type: str = "server_error",
    message: str = "fake error",
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> FakeResponse:
    """An error in the OpenAI shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return FakeResponse(
        status=status,
        body={"error": {"message": message, "type": error_type, "param": None, "code": code}},
        headers=dict(headers or {}),
    )
