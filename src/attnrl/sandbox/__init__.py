"""Isolated execution of model-written Python (see :mod:`attnrl.sandbox.base`).

``async with open_sandbox() as sb: result = await sb.run(code)`` runs one
``python_expression`` call in a fork of a warm zygote jailed by bubblewrap (or, loudly,
in a plain process when bubblewrap is unavailable); see :class:`LocalSandbox`. With
``ATTNRL_SANDBOX=ray`` the same calls run in per-node pools on a Ray cluster
(:mod:`attnrl.sandbox.select`, :mod:`attnrl.sandbox.ray_pool`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attnrl.sandbox.base import ExecResult, Sandbox
    from attnrl.sandbox.local import (
        DEFAULT_MAX_CONCURRENCY,
        LocalSandbox,
        SandboxError,
        format_output,
    )
    from attnrl.sandbox.select import open_sandbox

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "ExecResult",
    "LocalSandbox",
    "Sandbox",
    "SandboxError",
    "format_output",
    "open_sandbox",
]

_LAZY = {
    "ExecResult": "attnrl.sandbox.base",
    "Sandbox": "attnrl.sandbox.base",
    "DEFAULT_MAX_CONCURRENCY": "attnrl.sandbox.local",
    "LocalSandbox": "attnrl.sandbox.local",
    "SandboxError": "attnrl.sandbox.local",
    "format_output": "attnrl.sandbox.local",
    "open_sandbox": "attnrl.sandbox.select",
}
"""Resolved on first use, so that a light module of the package (``limits``, which the
prompt renders from) does not import the zygote manager and asyncio."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
