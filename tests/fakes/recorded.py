"""Real responses of a local server, recorded by ``tools/real_model/record.py`` (llama-cpp-python
0.3.36 serving gemma-3-270m Q4_K_M) and replayed by the fake server, so the fast suite meets
what real output looks like: malformed arguments, empty turns (one from a full context:
200, `tool_calls`, no calls, usage 0/0), an overflow error, text-only
turns from a chat format without tool calling, a turn cut at ``max_tokens``.

    server.enqueue_openai(recorded("context_overflow"))
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fakes.llm_server import FakeResponse

__all__ = ["RECORDED_DIR", "recorded", "recorded_names", "recording"]

RECORDED_DIR = Path(__file__).resolve().parent / "recorded"


def recording(name: str) -> dict[str, Any]:
    """The whole recorded file: what was asked (``request``), ``status`` and ``body``."""
    data: dict[str, Any] = json.loads((RECORDED_DIR / f"{name}.json").read_text())
    return data


def recorded(name: str) -> FakeResponse:
    """The recorded answer, status and body byte for byte as the server sent them."""
    data = recording(name)
    return FakeResponse(status=int(data["status"]), body=data["body"])


def recorded_names() -> list[str]:
    return sorted(p.stem for p in RECORDED_DIR.glob("*.json"))
