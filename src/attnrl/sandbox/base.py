"""The sandbox contract: what one ``python_expression`` call returns, and the backend protocol.

Backends (the local bubblewrap/process one today; a container or remote service later)
implement :class:`Sandbox`; the agent loop and ``attnrl exec`` only see this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["ExecResult", "Sandbox"]


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one call, as the model will see it."""

    result: str
    """What the code printed (stdout, then stderr), possibly truncated."""
    error: str | None
    """``"<Type>: <message>"`` plus the traceback tail, or a limit message; None on success."""
    truncated: bool = False
    """True when output was cut at the output limit."""
    duration_s: float = 0.0
    """Wall-clock seconds the call took (not shown to the model)."""

    def to_tool_json(self) -> dict[str, Any]:
        """The JSON object returned to the model as the tool result."""
        out: dict[str, Any] = {"result": self.result, "error": self.error}
        if self.truncated:
            out["truncated"] = True
        return out


@runtime_checkable
class Sandbox(Protocol):
    """Runs model-written Python, isolated from the harness, one stateless call at a time."""

    @property
    def isolation(self) -> str:
        """Short name of the isolation in force, e.g. ``"bwrap"`` or ``"process"``."""
        ...

    async def run(self, code: str) -> ExecResult:
        """Run ``code`` in a fresh interpreter state with numpy as ``np``; never raises for
        anything the code does."""
        ...

    async def aclose(self) -> None:
        """Stop every process the sandbox started."""
        ...
