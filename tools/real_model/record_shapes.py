"""Record what a real local server answers about its context (tests/fakes/recorded/servers/),
for the fast suite's fake server (tests/fakes/server_shapes.py).

    .venv/bin/python tools/real_model/record_shapes.py llama_server BASE_URL OUT_DIR
    .venv/bin/python tools/real_model/record_shapes.py llama_cpp_python BASE_URL OUT_DIR

BASE_URL is the server's ``http://127.0.0.1:PORT/v1``. Each answer is kept with its status,
as the server sent it, except ``/props``'s ``model_path`` (a local path, cut to its file
name). Only loopback servers are expected here.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from attnrl.models.base import Message
from attnrl.models.context_window import server_root
from attnrl.models.openai import to_openai_messages, to_openai_tools
from attnrl.task import load_task


def call(url: str, body: Any = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=900) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        answer: Any = json.loads(raw)
    except ValueError:
        answer = raw.decode(errors="replace")
    return {"status": status, "body": answer}


def first_request(prompt: str, tools: list[Any], max_tokens: int) -> dict[str, Any]:
    """The first request of a run as attnrl sends it to a base URL."""
    return {
        "model": "local",
        "messages": to_openai_messages([Message(role="user", text=prompt)]),
        "tools": tools,
        "tool_choice": "auto",
        "max_tokens": max_tokens,
        "temperature": 0,
    }


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in ("llama_server", "llama_cpp_python"):
        print(__doc__, file=sys.stderr)
        return 2
    name, base_url, out = sys.argv[1], sys.argv[2].rstrip("/"), Path(sys.argv[3])
    root = server_root(base_url)
    seed = load_task("seed-doc")
    tools = [dict(t) for t in to_openai_tools(seed.tools)]
    small = first_request(seed.prompt, tools, 192)
    responses: dict[str, Any] = {"GET /props": call(f"{root}/props")}
    responses["GET /v1/models"] = call(f"{base_url}/models")
    props = responses["GET /props"]["body"]
    if isinstance(props, dict) and "model_path" in props:
        props["model_path"] = Path(str(props["model_path"])).name
    if name == "llama_server":
        responses["POST /v1/chat/completions/input_tokens"] = call(
            f"{base_url}/chat/completions/input_tokens", small
        ) | {"request": "the seed-doc preset's first request (prompt, tools, tool_choice auto)"}
        big = load_task("procedural", 0, tokens=12, d_model=11, heads=2)
        over = first_request(big.prompt, tools, 1)
        responses["POST /v1/chat/completions (over the context)"] = call(
            f"{base_url}/chat/completions", over
        ) | {"request": "procedural seed 0, --tokens 12 --d-model 11 --heads 2, max_tokens 1"}
        responses["POST /v1/chat/completions/input_tokens (over the context)"] = call(
            f"{base_url}/chat/completions/input_tokens", over
        )
    else:
        responses["POST /extras/tokenize/count"] = call(
            f"{root}/extras/tokenize/count", {"input": seed.prompt}
        ) | {"request": "the seed-doc preset's prompt text (no chat template, no tools)"}
    path = out / f"{name}.json"
    out.mkdir(parents=True, exist_ok=True)
    server = {
        "llama_server": "llama.cpp llama-server, from the llama-cpp-python 0.3.36 sdist's "
        "vendored llama.cpp (tools/real_model/llama_server.sh), -c 3072 -np 1 --jinja",
        "llama_cpp_python": "llama-cpp-python[server] 0.3.36, --n_ctx 4096 "
        "--chat_format chatml-function-calling",
    }[name]
    meta = {"server": server, "model": "gemma-3-270m Q4_K_M", "responses": responses}
    path.write_text(json.dumps(meta, indent=1) + "\n")
    for route, answer in responses.items():
        print(f"{path}: {route}: HTTP {answer['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
