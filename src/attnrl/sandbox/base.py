"""The sandbox contract: what one ``python_expression`` call returns, and the backend protocol.

Backends (the local bubblewrap/process one today; a container or remote service later)
implement :class:`Sandbox`; the agent loop and ``attnrl exec`` only see this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

__all__ = ["ExecResult", "Sandbox", "safe_text"]

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters but tab and newline (terminal escapes, carriage returns, NUL),
C1 controls, and lone surrogates (not encodable as UTF-8)."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """``text`` as valid UTF-8 with control characters shown as ``\\xNN`` escapes: what
    the code printed or raised can neither break an encoder nor drive a terminal."""
    return _UNSAFE.sub(_escape, text)


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
    stdout: str | None = field(default=None, compare=False)
    """stdout alone, cut at the output limit, for clients that keep the two streams apart
    (the HTTP service); None when the backend does not tell them apart."""
    stderr: str | None = field(default=None, compare=False)
    """stderr alone, likewise (both are views of ``result``: equality ignores them)."""
    time_limit: str | None = field(default=None, compare=False)
    """Which of the sandbox's time limits ended the call, ``"wall_clock"`` or ``"cpu"``;
    None otherwise. Set from what the sandbox saw, never from the code's output: code that
    raises ``TimeoutError`` in a limit's words leaves it None (a view of ``error``, like
    ``stdout``, for clients that map limits to statuses, the HTTP service)."""

    def __post_init__(self) -> None:
        # One place for every backend: each string is made safe as the result is made.
        for name in ("result", "error", "stdout", "stderr"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, safe_text(value))

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


class StartedInContext:
    """``async with sandbox:`` for every sandbox that starts and closes (the local zygote
    manager, the Ray pool): ``start()`` on entry, ``aclose()`` on exit."""

    async def start(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
