"""The two tools every task offers, owned by the task: their names, their schemas, and the
prompt lines that describe them.

A task describes its own answer (the ``submit_answer`` schema); the python tool is the same
for every task. Models and the harness import :class:`ToolSpec` from here (downwards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attnrl.sandbox.limits import SandboxLimits

__all__ = [
    "PYTHON_TOOL",
    "RESPONSE_SHARE",
    "RESPONSE_TOKENS",
    "SUBMIT_TOOL",
    "ToolSpec",
    "python_tool",
    "submit_tool",
    "tool_lines",
]

PYTHON_TOOL = "python_expression"
SUBMIT_TOOL = "submit_answer"
RESPONSE_TOKENS = 4096
"""The default response budget (``attnrl run --max-tokens``)."""
RESPONSE_SHARE = 0.75
"""The answer may take at most this share of the response and of the tool output cut: it
travels out of ``python_expression`` and into ``submit_answer``."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model; ``parameters`` is a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


def python_tool(limits: SandboxLimits | None = None) -> ToolSpec:
    """``python_expression``, described from the sandbox limits."""
    lim = limits or SandboxLimits()
    return ToolSpec(
        name=PYTHON_TOOL,
        description=(
            "Run Python code in a fresh, isolated interpreter and return what it prints "
            "(stdout, then stderr) and any error. numpy is already imported as np. Each call "
            "is stateless: variables, imports and files do not persist between calls, so "
            "define everything you need in the same call and print() what you want to see. "
            f"Limits: {lim.timeout_s:g} s wall clock, output cut at {lim.max_output_chars:,} "
            "characters, no network."
        ),
        parameters={
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "Python code to run."}},
            "required": ["expression"],
        },
    )


def submit_tool(answer_keys: Sequence[str], answer_schema: dict[str, Any]) -> ToolSpec:
    """``submit_answer``: its ``answer`` parameter is the task's answer schema."""
    return ToolSpec(
        name=SUBMIT_TOOL,
        description=(
            "Submit the final answer: a JSON object with the keys "
            + ", ".join(answer_keys)
            + ". Matrices are lists of rows of numbers. Call once; this ends the task."
        ),
        parameters={
            "type": "object",
            "properties": {"answer": answer_schema},
            "required": ["answer"],
        },
    )


def tool_lines(limits: SandboxLimits | None = None) -> list[str]:
    """The prompt's ``## Tools`` section (the same words for every task)."""
    lim = limits or SandboxLimits()
    return [
        "## Tools",
        f"- {PYTHON_TOOL}: runs Python code in a fresh, isolated interpreter with numpy "
        "imported as np and returns what it prints. Nothing persists between calls, so "
        f"define every variable you need in each call. Limit: {lim.timeout_s:g} s, output cut "
        f"at {lim.max_output_chars:,} characters.",
        f"- {SUBMIT_TOOL}: submits your final answer; call it exactly once, at the end.",
    ]
