"""What self-hosted servers answer about their context, for the fake server
(:meth:`FakeLLMServer.serve`): the up-front context check meets the real shapes.

Where each shape comes from:

* llama.cpp's ``llama-server`` (``recorded/servers/llama_server.json``) and llama-cpp-python's
  server (``recorded/servers/llama_cpp_python.json``): recorded from the real servers by
  ``tools/real_model/record_shapes.py`` (llama-server built from the llama.cpp vendored in the
  llama-cpp-python 0.3.36 sdist, ``tools/server/server-context.cpp``; llama-cpp-python 0.3.36
  ``llama_cpp/server/app.py``), both serving gemma-3-270m Q4_K_M (llama-server with a
  3,072-token slot, llama-cpp-python with 4,096).
* vLLM: not runnable here (no GPU build); written from its source, vllm-project/vllm
  ``vllm/entrypoints/openai/protocol.py`` at commit ec3b890c14b00f6670515d9df8d503b5270e95ca:
  ``ModelCard`` (``max_model_len``) in ``ModelList``, ``TokenizeChatRequest`` (``messages``,
  ``tools``, ``add_generation_prompt``) -> ``TokenizeResponse`` (``count``,
  ``max_model_len``, ``tokens``); FastAPI's 404 body for an unknown path.

The token counts are a fake tokenizer's (:func:`fake_count`), a function of the request's
messages and tools, so the counting endpoint and the chat endpoint agree, as on a real
server.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fakes.llm_server import FakeLLMServer, FakeResponse, RecordedRequest, openai_text

__all__ = [
    "fake_count",
    "llama_cpp_python_server",
    "llama_server",
    "llama_server_overflow",
    "recorded_shapes",
    "vllm_server",
]

SERVERS_DIR = Path(__file__).resolve().parent / "recorded" / "servers"

Counter = Callable[[Any], int]


def recorded_shapes(name: str) -> dict[str, Any]:
    """A recorded server's answers, by ``"METHOD /path"``."""
    data: dict[str, Any] = json.loads((SERVERS_DIR / f"{name}.json").read_text())
    return data


def fake_count(body: Any, low: int = 3000, spread: int = 2000) -> int:
    """A fake tokenizer: ``low`` plus a hash of the messages and tools, below ``low + spread``
    (instances of one preset then differ in size, deterministically)."""
    if not isinstance(body, dict):
        return 0
    key = json.dumps([body.get("messages"), body.get("tools")], sort_keys=True)
    return low + int(hashlib.sha256(key.encode()).hexdigest(), 16) % spread


def _answer(name: str, route: str) -> FakeResponse:
    shape = recorded_shapes(name)["responses"][route]
    return FakeResponse(status=int(shape["status"]), body=copy.deepcopy(shape["body"]))


def llama_server_overflow(prompt_tokens: int, n_ctx: int) -> FakeResponse:
    """llama-server's refusal of a prompt of ``prompt_tokens`` for a slot of ``n_ctx``."""
    answer = _answer("llama_server", "POST /v1/chat/completions (over the context)")
    error = answer.body["error"]
    error["message"] = (
        f"request ({prompt_tokens} tokens) exceeds the available context size ({n_ctx} tokens), "
        "try increasing it"
    )
    error |= {"n_prompt_tokens": prompt_tokens, "n_ctx": n_ctx}
    return answer


def llama_server(
    server: FakeLLMServer, n_ctx: int, count: Counter = fake_count, chat: bool = False
) -> None:
    """Serve llama-server's ``/props``, ``/v1/models`` and token counting with a slot context
    of ``n_ctx``; with ``chat``, the chat endpoint refuses a prompt of ``n_ctx`` tokens or
    more as llama-server does and answers the others with a text-only turn."""
    props = _answer("llama_server", "GET /props")
    props.body["default_generation_settings"]["n_ctx"] = n_ctx
    models = _answer("llama_server", "GET /v1/models")
    models.body["data"][0]["meta"]["n_ctx"] = n_ctx
    server.serve("GET", "/props", props)
    server.serve("GET", "/v1/models", models)

    def input_tokens(request: RecordedRequest) -> FakeResponse:
        return FakeResponse(
            body={"input_tokens": count(request.body), "object": "response.input_tokens"}
        )

    server.serve("POST", "/v1/chat/completions/input_tokens", input_tokens)
    if chat:

        def answer(request: RecordedRequest) -> FakeResponse:
            tokens = count(request.body)
            if tokens >= n_ctx:
                return llama_server_overflow(tokens, n_ctx)
            return openai_text("I cannot solve this.")

        server.set_default("openai", answer)


def llama_cpp_python_server(server: FakeLLMServer) -> None:
    """llama-cpp-python's server: no ``/props`` (404), a ``/v1/models`` without any length."""
    server.serve("GET", "/props", _answer("llama_cpp_python", "GET /props"))
    server.serve("GET", "/v1/models", _answer("llama_cpp_python", "GET /v1/models"))


def vllm_server(
    server: FakeLLMServer, max_model_len: int, model: str = "local", count: Counter = fake_count
) -> None:
    """vLLM's ``/v1/models`` (``max_model_len``) and ``/tokenize`` (chat form); ``/props``
    is FastAPI's 404."""
    server.serve("GET", "/props", FakeResponse(status=404, body={"detail": "Not Found"}))
    card = {
        "id": model,
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "vllm",
        "root": model,
        "parent": None,
        "max_model_len": max_model_len,
        "permission": [],
    }
    server.serve("GET", "/v1/models", FakeResponse(body={"object": "list", "data": [card]}))

    def tokenize(request: RecordedRequest) -> FakeResponse:
        n = count(request.body)
        return FakeResponse(
            body={"count": n, "max_model_len": max_model_len, "tokens": [1] * n, "token_strs": None}
        )

    server.serve("POST", "/tokenize", tokenize)
