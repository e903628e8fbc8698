"""Record real responses of a local OpenAI-compatible server (llama-cpp-python) as fixtures for
the fast suite (tests/fakes/recorded/*.json, replayed by tests/fakes/recorded.py).

    .venv/bin/python tools/real_model/record.py TOOL_URL TEXT_URL OUT_DIR

TOOL_URL serves the model with tool calling (``--chat_format chatml-function-calling``),
TEXT_URL the same model with its own chat template (no tool calling). Each scenario sends the
task's real prompt and tools and keeps the status and body exactly as the server sent them,
with what was asked. Only loopback servers are expected here.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

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
        "tools": tools,
        **sampling,
    }
    status, answer = post(base_url, body)
    asked = {"prompt_chars": len(prompt), "tools": [t["function"]["name"] for t in tools]}
    return {"request": asked | sampling, "status": status, "body": answer}


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    tool_url, text_url, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    seed = load_task("seed-doc")
    tools = [dict(t) for t in to_openai_tools(seed.tools)]
    big = load_task("procedural", 0, tokens=12, d_model=11, heads=2)
    scenarios: dict[str, dict[str, Any]] = {
        "context_overflow": ask(tool_url, big.prompt, tools, max_tokens=192, temperature=0),
        "first_turn_tool_format": ask(tool_url, seed.prompt, tools, max_tokens=192, temperature=0),
        "text_only_chat_template": ask(
            text_url, seed.prompt, tools, max_tokens=192, temperature=0
        ),
        "truncated_turn": ask(text_url, seed.prompt, tools, max_tokens=8, temperature=0),
    }
    for n in range(8):  # sampled tool turns: keep the first with calls and the first malformed
        got = ask(tool_url, seed.prompt, tools, max_tokens=192, temperature=1.0, seed=n)
        message = got["body"]["choices"][0]["message"] if got["status"] == 200 else {}
        calls = message.get("tool_calls") or []
        bad = [c for c in calls if not _is_object(c["function"]["arguments"])]
        if bad and "malformed_arguments" not in scenarios:
            scenarios["malformed_arguments"] = got
        elif calls and "tool_call" not in scenarios:
            scenarios["tool_call"] = got
        elif not calls and got["status"] == 200 and "empty_or_text_turn" not in scenarios:
            scenarios["empty_or_text_turn"] = got
    meta = {"server": "llama-cpp-python[server] 0.3.36", "model": "gemma-3-270m Q4_K_M"}
    for name, scenario in scenarios.items():
        path = out / f"{name}.json"
        path.write_text(json.dumps({"name": name} | meta | scenario, indent=1) + "\n")
        print(f"{path}: HTTP {scenario['status']}")
    return 0


def _is_object(raw: str) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
