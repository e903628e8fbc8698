"""Resource limits of the model's ``python_expression`` tool.

They live apart from the sandbox so the prompt can state the same numbers the
sandbox enforces without importing the sandbox machinery.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SandboxLimits"]


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
    max_output_chars: int = 10_000
    """Characters of output returned to the model; the rest is cut with a visible marker."""

    def __post_init__(self) -> None:
        for name in ("timeout_s", "cpu_s", "memory_bytes", "max_processes", "max_file_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxLimits.{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_output_chars < 100:
            raise ValueError(
                f"SandboxLimits.max_output_chars must be >= 100, got {self.max_output_chars!r}"
            )
