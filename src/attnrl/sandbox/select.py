"""Which sandbox backend a run uses, chosen by configuration only.

``ATTNRL_SANDBOX`` names it: ``local`` (the default: bubblewrap on this machine,
:class:`~attnrl.sandbox.local.LocalSandbox`) or ``ray`` (per-node pools on a Ray cluster,
:class:`~attnrl.sandbox.ray_pool.RaySandbox`, at ``ATTNRL_RAY_ADDRESS``, default ``auto``).
The harness, ``attnrl exec`` and the trainer adapters open their sandbox here, so switching
needs no code change.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from attnrl.sandbox.limits import SandboxLimits

if TYPE_CHECKING:
    from attnrl.sandbox.local import LocalSandbox
    from attnrl.sandbox.ray_pool import RaySandbox

__all__ = ["BACKEND_ENV", "BACKENDS", "RAY_ADDRESS_ENV", "open_sandbox"]

BACKEND_ENV = "ATTNRL_SANDBOX"
RAY_ADDRESS_ENV = "ATTNRL_RAY_ADDRESS"
BACKENDS = ("local", "ray")


def open_sandbox(
    limits: SandboxLimits | None = None,
    *,
    max_concurrency: int | None = None,
    **kwargs: Any,
) -> LocalSandbox | RaySandbox:
    """The configured sandbox (not started); use it as ``async with open_sandbox() as sb``.
    ``max_concurrency``: calls at once (per node for ``ray``). Keyword arguments go to the
    :class:`~attnrl.sandbox.local.LocalSandbox` (on each node for ``ray``). Raises
    ValueError naming the variable for an unknown backend."""
    backend = os.environ.get(BACKEND_ENV, "local").strip().lower() or "local"
    if backend not in BACKENDS:
        raise ValueError(
            f"{BACKEND_ENV}={backend!r} is not a sandbox backend; use one of {', '.join(BACKENDS)}"
        )
    from attnrl.sandbox.local import DEFAULT_MAX_CONCURRENCY, LocalSandbox

    concurrency = max_concurrency or DEFAULT_MAX_CONCURRENCY
    if backend == "ray":
        from attnrl.sandbox.ray_pool import RaySandbox

        address = os.environ.get(RAY_ADDRESS_ENV, "auto") or "auto"
        return RaySandbox(
            limits, max_concurrency=concurrency, address=address, sandbox_kwargs=kwargs
        )
    return LocalSandbox(limits, max_concurrency=concurrency, **kwargs)
