"""What the scripted policy of the multi-turn (tool) trainer tests needs; the tokenizer and
the tiny model are :mod:`tiny_models`'."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from attnrl.models.simulated import solution_code
from attnrl.task import Task

ROOT = Path(__file__).resolve().parents[2]


def python_call(task: Task) -> dict[str, Any]:
    """The ``python_expression`` call of a correct agent: numpy code that prints the answer."""
    return {"name": "python_expression", "arguments": {"expression": solution_code(task.spec)}}


def answer_from_tool_text(text: str) -> dict[str, Any]:
    """The answer a python call printed, read back from the tool message in ``text`` (what
    the policy saw): the last ``{"result": ..., "error": ...}`` object in it."""
    starts = [m.start() for m in re.finditer(r'\{"result": ', text)]
    decoder = json.JSONDecoder()
    for start in reversed(starts):
        try:
            payload, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if not isinstance(payload, dict) or payload.get("error") is not None:
            continue
        try:
            answer = json.loads(payload.get("result", ""))
        except (TypeError, ValueError):
            continue
        if isinstance(answer, dict):
            return answer
    raise AssertionError(f"no successful python result in the context: {text[-500:]!r}")
