"""Which sandbox backend a run uses, chosen by configuration only.

``ATTNRL_SANDBOX`` names it: ``local`` (the default: bubblewrap on this machine,
:class:`~attnrl.sandbox.local.LocalSandbox`) or ``ray`` (per-node pools on a Ray cluster,
:class:`~attnrl.sandbox.ray_pool.RaySandbox`, at ``ATTNRL_RAY_ADDRESS``, default ``auto``).
The harness, ``attnrl exec`` and the trainer adapters open their sandbox here, so switching
needs no code change.
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any

from attnrl.sandbox.limits import SandboxLimits

if TYPE_CHECKING:
    from attnrl.sandbox.local import LocalSandbox
    from attnrl.sandbox.ray_pool import RaySandbox

__all__ = ["BACKEND_ENV", "BACKENDS", "RAY_ADDRESS_ENV", "configured_backend", "open_sandbox"]

BACKEND_ENV = "ATTNRL_SANDBOX"
RAY_ADDRESS_ENV = "ATTNRL_RAY_ADDRESS"
BACKENDS = ("local", "ray")


RAY_INSTALL = (
    "pip install ray==2.60.0 (the version requirements/scale.txt pins; make test-scale builds "
    ".venv-scale with it)"
)


def configured_backend() -> str:
    """The backend ``ATTNRL_SANDBOX`` names, checked without starting anything: ValueError
    naming the variable for an unknown backend, or for ``ray`` when Ray is not installed
    (with how to install it)."""
    backend = os.environ.get(BACKEND_ENV, "local").strip().lower() or "local"
    if backend not in BACKENDS:
        raise ValueError(
            f"{BACKEND_ENV}={backend!r} is not a sandbox backend; use one of {', '.join(BACKENDS)}"
        )
    spec = importlib.util.find_spec("ray") if backend == "ray" else None
    if backend == "ray" and (spec is None or spec.origin is None):  # None: /tmp/ray, Ray's dir
        raise ValueError(
            f"{BACKEND_ENV}=ray needs Ray, which is not installed here: {RAY_INSTALL}; or unset "
            f"{BACKEND_ENV} for the local sandbox"
        )
    return backend


def open_sandbox(
    limits: SandboxLimits | None = None,
    *,
    max_concurrency: int | None = None,
    **kwargs: Any,
) -> LocalSandbox | RaySandbox:
    """The configured sandbox (not started); use it as ``async with open_sandbox() as sb``.
    ``max_concurrency``: calls at once (per node for ``ray``). Keyword arguments go to the
    :class:`~attnrl.sandbox.local.LocalSandbox` (on each node for ``ray``). Raises
    ValueError naming the variable for an unknown backend or a missing Ray
    (:func:`configured_backend`)."""
    backend = configured_backend()
    from attnrl.sandbox.local import DEFAULT_MAX_CONCURRENCY, LocalSandbox

    concurrency = max_concurrency or DEFAULT_MAX_CONCURRENCY
    if backend == "ray":
        from attnrl.sandbox.ray_pool import RaySandbox

        address = os.environ.get(RAY_ADDRESS_ENV, "auto") or "auto"
        return RaySandbox(
            limits, max_concurrency=concurrency, address=address, sandbox_kwargs=kwargs
        )
    return LocalSandbox(limits, max_concurrency=concurrency, **kwargs)
