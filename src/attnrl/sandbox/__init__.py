"""Isolated execution of model-written Python (see :mod:`attnrl.sandbox.base`).

``async with open_sandbox() as sb: result = await sb.run(code)`` runs one
``python_expression`` call in a fork of a warm zygote jailed by bubblewrap (or, loudly,
in a plain process when bubblewrap is unavailable); see :class:`LocalSandbox`.
"""

from attnrl.sandbox.base import ExecResult, Sandbox
from attnrl.sandbox.local import (
    DEFAULT_MAX_CONCURRENCY,
    LocalSandbox,
    SandboxError,
    format_output,
    open_sandbox,
)

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "ExecResult",
    "LocalSandbox",
    "Sandbox",
    "SandboxError",
    "format_output",
    "open_sandbox",
]
