"""Record real responses of a local OpenAI-compatible server (llama-cpp-python) as fixtures for
the fast suite (tests/fakes/recorded/*.json, replayed by tests/fakes/recorded.py).

    .venv/bin/python tools/real_model/record.py TOOL_URL TEXT_URL OUT_DIR
    .venv/bin/python tools/real_model/record.py --full-context TOOL_URL OUT_DIR

TOOL_URL serves the model with tool calling (``--chat_format chatml-function-calling``),
TEXT_URL the same model with its own chat template (no tool calling). Each scenario sends the
task's real prompt and tools and keeps the status and body exactly as the server sent them,
with what was asked. ``--full-context`` records only the empty turn of a full context
(:func:`full_context`). Only loopback servers are expected here.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx

from attnrl.models.base import Message
from attnrl.models.openai import to_openai_messages, to_openai_tools
from attnrl.task import load_task


def post(base_url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer EMPTY"},
    )
    try:
        with urllib.request.urlopen(request, timeout=900) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def ask(base_url: str, prompt: str, tools: list[Any], **sampling: Any) -> dict[str, Any]:
    body = {
        "model": "local",
        "messages": to_openai_messages([Message(role="user", text=prompt)]),
        **({"tools": tools} if tools else {}),
        **sampling,
    }
    status, answer = post(base_url, body)
    asked = {"prompt_chars": len(prompt), "tools": [t["function"]["name"] for t in tools]}
    return {"request": asked | sampling, "status": status, "body": answer}


class _Recording(httpx.AsyncHTTPTransport):
    """Keeps each chat completion's status and body exactly as the server sent them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        body = await response.aread()
        sent = json.loads(request.content)
        asked = {k: sent[k] for k in ("max_tokens", "temperature", "tool_choice") if k in sent}
        self.seen.append(
            {
                "request": asked | {"messages": len(sent["messages"])},
                "status": response.status_code,
                "body": json.loads(body),
            }
        )
        return httpx.Response(response.status_code, headers=response.headers, content=body)


async def _agent_turns(base_url: str, steps: int) -> list[dict[str, Any]]:
    """Every response of one real run of the agent loop (seed-doc, temperature 0)."""
    from openai import AsyncOpenAI

    from attnrl.harness.agent import run_agent
    from attnrl.models.openai import OpenAIModel
    from attnrl.sandbox import open_sandbox

    transport = _Recording()
    model = OpenAIModel("local", base_url=base_url, max_tokens=192, temperature=0)
    model._client = AsyncOpenAI(
        api_key="EMPTY", base_url=base_url, max_retries=0,
        http_client=httpx.AsyncClient(transport=transport, timeout=900),
    )  # fmt: skip
    async with open_sandbox() as sandbox:
        await run_agent(load_task("seed-doc"), model, sandbox, max_steps=steps)
    return transport.seen


def full_context(tool_url: str, n_ctx: int = 4096) -> dict[str, Any]:
    """The seed prompt padded (`` x`` a token) until the server's prompt is ``n_ctx - 2``
    tokens, by its own count in the refusal of a larger one. llama-cpp-python's
    ``chatml-function-calling`` then has no room to name a tool: its first completion stops
    after a token or two, no tool matches, and it answers 200, ``finish_reason: tool_calls``,
    no calls, usage 0/0 (a conversation reaches the same state by growing turn after turn)."""
    seed = load_task("seed-doc")
    tools = [dict(t) for t in to_openai_tools(seed.tools)]
    pad = 3000
    for _ in range(8):
        prompt = f"{seed.prompt}\n\nNotes:{' x' * pad}"
        got = ask(tool_url, prompt, tools, max_tokens=192, temperature=0, tool_choice="auto")
        if got["status"] != 400:
            return got | {"request": got["request"] | {"padding": f"' x' * {pad}"}}
        found = re.search(r"\((\d+) in the messages", str(got["body"]))
        if found is None:
            break
        pad -= int(found.group(1)) - (n_ctx - 2)
    raise RuntimeError(f"no full-context turn recorded: {got['body']}")


def _save(out: Path, scenarios: dict[str, dict[str, Any]]) -> None:
    meta = {"server": "llama-cpp-python[server] 0.3.36", "model": "gemma-3-270m Q4_K_M"}
    out.mkdir(parents=True, exist_ok=True)
    for name, scenario in scenarios.items():
        path = out / f"{name}.json"
        path.write_text(json.dumps({"name": name} | meta | scenario, indent=1) + "\n")
        print(f"{path}: HTTP {scenario['status']}")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--full-context":
        _save(Path(sys.argv[3]), {"full_context_empty_turn": full_context(sys.argv[2])})
        return 0
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    tool_url, text_url, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    seed = load_task("seed-doc")
    tools = [dict(t) for t in to_openai_tools(seed.tools)]
    scenarios: dict[str, dict[str, Any]] = {}
    for got in asyncio.run(_agent_turns(tool_url, 3)):
        message = got["body"]["choices"][0]["message"] if got["status"] == 200 else {}
        calls = message.get("tool_calls") or []
        bad = [c for c in calls if not _is_object(c["function"]["arguments"])]
        name = "malformed_arguments" if bad else "tool_call" if calls else "empty_turn"
        scenarios.setdefault(name, got)
    for seed_n in range(10):  # the first instance of the largest knobs over the context
        big = load_task("procedural", seed_n, tokens=12, d_model=11, heads=2)
        got = ask(tool_url, big.prompt, tools, max_tokens=192, temperature=0, tool_choice="auto")
        if got["status"] == 400:
            scenarios["context_overflow"] = got
            break
    scenarios["no_tool_choice"] = ask(tool_url, seed.prompt, tools, max_tokens=192, temperature=0)
    scenarios["text_only_chat_template"] = ask(
        text_url, seed.prompt, tools, max_tokens=192, temperature=0, tool_choice="auto"
    )
    long = "Write a long story about a dragon."
    scenarios["truncated_turn"] = ask(tool_url, long, [], max_tokens=6, temperature=1.0, seed=3)
    scenarios["full_context_empty_turn"] = full_context(tool_url)
    _save(out, scenarios)
    return 0


def _is_object(raw: str) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
