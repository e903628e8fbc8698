"""The sandbox the multi-turn adapters bind the ``python_expression`` tool to.

Adapters take a ``sandbox_factory``: a zero-argument callable returning an async context
manager that yields a :class:`~attnrl.sandbox.base.Sandbox`. The default is attnrl's own
sandbox (``attnrl.sandbox.open_sandbox``), the one the harness and ``attnrl exec`` use, so
model code never runs inside the trainer or evaluator process.

Opening a sandbox starts a warm interpreter (about half a second), so episodes that run
concurrently share one through :class:`SharedSandbox`: opened by the first episode that
needs it, closed when the last one of its event loop is done.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, cast

from attnrl.sandbox.base import ExecResult, Sandbox
from attnrl.sandbox.limits import SandboxLimits

__all__ = [
    "SandboxFactory",
    "SandboxLease",
    "SharedSandbox",
    "default_sandbox_factory",
]

logger = logging.getLogger(__name__)

SandboxFactory = Callable[[], AbstractAsyncContextManager[Sandbox]]


def default_sandbox_factory(
    limits: SandboxLimits | None = None, max_concurrency: int | None = None
) -> SandboxFactory:
    """A factory opening attnrl's sandbox with ``limits`` (the task's, by default)."""
    module = importlib.import_module("attnrl.sandbox")
    open_sandbox = getattr(module, "open_sandbox", None)
    if open_sandbox is None:
        raise RuntimeError(
            "attnrl.sandbox.open_sandbox is not available in this attnrl version; pass "
            "sandbox_factory= explicitly"
        )
    kwargs: dict[str, Any] = {}
    if max_concurrency is not None:
        kwargs["max_concurrency"] = max_concurrency

    def factory() -> AbstractAsyncContextManager[Sandbox]:
        return cast(AbstractAsyncContextManager[Sandbox], open_sandbox(limits, **kwargs))

    return factory


class _Slot:
    """The shared sandbox of one event loop."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        self.stack: AsyncExitStack | None = None
        self.sandbox: Sandbox | None = None


class SharedSandbox:
    """One sandbox per event loop, leased by the episodes running in that loop.

    :meth:`acquire` opens it for the first lease and :meth:`release` closes it when the
    last lease of the loop is released, so nothing outlives the episodes using it and no
    sandbox is ever used from a loop other than the one that opened it.
    """

    def __init__(self, factory: SandboxFactory | None = None) -> None:
        self._factory = factory
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slot] = (
            weakref.WeakKeyDictionary()
        )

    def _slot(self) -> _Slot:
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None:
            slot = self._slots[loop] = _Slot()
        return slot

    async def acquire(self) -> Sandbox:
        """The loop's sandbox, opened if no episode holds it; pair with :meth:`release`."""
        slot = self._slot()
        async with slot.lock:
            if slot.sandbox is None:
                stack = AsyncExitStack()
                try:
                    factory = self._factory or default_sandbox_factory()
                    slot.sandbox = await stack.enter_async_context(factory())
                except BaseException:
                    await stack.aclose()
                    raise
                slot.stack = stack
            slot.users += 1
            return slot.sandbox

    async def release(self) -> None:
        """Give back one lease; the last one closes the sandbox (errors are logged)."""
        slot = self._slot()
        async with slot.lock:
            if slot.users <= 0:
                return
            slot.users -= 1
            if slot.users > 0 or slot.stack is None:
                return
            stack, slot.stack, slot.sandbox = slot.stack, None, None
            try:
                await stack.aclose()
            except Exception:  # a failed close must not fail the episode that ended
                logger.exception("closing the attnrl sandbox failed")

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Sandbox]:
        """``async with shared.lease() as sandbox:`` for one episode."""
        sandbox = await self.acquire()
        try:
            yield sandbox
        finally:
            await self.release()


class SandboxLease:
    """One episode's handle on a :class:`SharedSandbox`, itself a :class:`Sandbox`: it
    acquires the shared sandbox on the first :meth:`run` (episodes that never run code
    never start one) and releases it on :meth:`aclose`."""

    def __init__(self, shared: SharedSandbox) -> None:
        self._shared = shared
        self._sandbox: Sandbox | None = None
        self._lock = asyncio.Lock()

    @property
    def isolation(self) -> str:
        return self._sandbox.isolation if self._sandbox is not None else "not started"

    async def run(self, code: str) -> ExecResult:
        async with self._lock:
            if self._sandbox is None:
                self._sandbox = await self._shared.acquire()
        return await self._sandbox.run(code)

    async def aclose(self) -> None:
        async with self._lock:
            if self._sandbox is not None:
                self._sandbox = None
                await self._shared.release()
