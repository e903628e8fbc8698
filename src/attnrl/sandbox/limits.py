"""Resource limits of the model's ``python_expression`` tool.

They live apart from the sandbox so the prompt can state the same numbers the
sandbox enforces without importing the sandbox machinery. Each limit is checked here,
where it enters (:data:`RANGES` is the one table of what is allowed; the CLI's flags use it
too), so a bad value is a clear ``ValueError`` and never reaches the zygote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["RANGES", "SandboxLimits", "check_limit"]

MiB = 1 << 20
GiB = 1 << 30

RANGES: dict[str, tuple[float, float]] = {
    "timeout_s": (0.0, 3600.0),
    "cpu_s": (1, 3600),
    "memory_bytes": (64 * MiB, 1 << 40),
    "max_processes": (1, 4096),
    "max_file_bytes": (1, 1 << 40),
    "disk_bytes": (1 * MiB, 64 * GiB),
    "max_output_chars": (100, 10_000_000),
}
"""Allowed values per limit: ``timeout_s`` in (lo, hi] (any positive finite float up to an
hour); every other limit is an integer in [lo, hi]."""


def check_limit(name: str, value: object) -> str:
    """'' if ``value`` is allowed for limit ``name``, else the reason (for an error)."""
    lo, hi = RANGES[name]
    if name == "timeout_s":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number of seconds, got {value!r}"
        if not (math.isfinite(value) and lo < value <= hi):
            return f"must be a number of seconds in ({lo:g}, {hi:g}], got {value!r}"
        return ""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer, got {value!r}"
    if not lo <= value <= hi:
        return f"must be in {int(lo)}..{int(hi)}, got {value!r}"
    return ""


@dataclass(frozen=True)
class SandboxLimits:
    """Per-call limits; a limit hit is an error result for the model, never a harness crash."""

    timeout_s: float = 10.0
    """Wall-clock seconds before the call is killed."""
    cpu_s: int = 10
    """CPU seconds (RLIMIT_CPU), across all threads of the call."""
    memory_bytes: int = 1 << 30
    """Address-space cap (RLIMIT_AS)."""
    max_processes: int = 64
    """Processes/threads the call may hold at once (RLIMIT_NPROC where enforceable)."""
    max_file_bytes: int = 16 << 20
    """Largest file the call may write (RLIMIT_FSIZE)."""
    disk_bytes: int = 64 << 20
    """The call's own working space (a tmpfs of this size, discarded whole when it ends)."""
    max_output_chars: int = 10_000
    """Characters of output returned to the model; the rest is cut with a visible marker."""

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = check_limit(f.name, getattr(self, f.name))
            if problem:
                raise ValueError(f"SandboxLimits.{f.name} {problem}")
