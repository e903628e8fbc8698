"""The sandbox across a Ray cluster: one pool actor per node, behind one client.

Each node that has CPUs gets one actor (pinned to it, ``NodeAffinitySchedulingStrategy``,
no restarts) holding a :class:`~attnrl.sandbox.local.LocalSandbox`: the jail, its zygote and
its limits are the local ones, on that node. :class:`RaySandbox` implements the
:class:`~attnrl.sandbox.base.Sandbox` protocol (plus per-call limits, as the HTTP service
needs) and sends each call to the live pool with the fewest calls in flight.

Node loss: a call is a fresh fork with no state, so one whose node died (actor died,
node died, object lost) is run again on another node, at most ``retries`` times; past that,
or with no node left, ``run`` raises :class:`~attnrl.sandbox.local.SandboxError`, which the
harness records as ``infrastructure`` (excluded, re-run on resume): never a tool result the
model is graded on.

Ray is no dependency of attnrl: it is imported when a :class:`RaySandbox` starts (``make
test-scale`` builds an environment with it). Ray's ports have no authentication unless its
token mode is on: keep the cluster on a private network (docs/scale-out.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from attnrl.sandbox.base import ExecResult, StartedInContext
from attnrl.sandbox.limits import SandboxLimits
from attnrl.sandbox.local import DEFAULT_MAX_CONCURRENCY, SandboxError

__all__ = ["RaySandbox"]

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0
"""Seconds a node's pool may take to start (its zygote's self-test included)."""


class _PoolActor:
    """One node's pool (the body of the Ray actor): a local sandbox on that node."""

    def __init__(self, limits: SandboxLimits, max_concurrency: int, kwargs: dict[str, Any]):
        from attnrl.sandbox.local import LocalSandbox

        self._sandbox = LocalSandbox(limits, max_concurrency=max_concurrency, **kwargs)

    async def start(self) -> dict[str, Any]:
        import os

        import ray

        await self._sandbox.start()
        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "isolation": self._sandbox.isolation,
        }

    async def run(self, code: str, limits: SandboxLimits | None) -> ExecResult:
        return await self._sandbox.run(code, limits)

    async def close(self) -> None:
        await self._sandbox.aclose()


_ACTOR_CLASS: Any = None


def _actor_class() -> Any:
    """:class:`_PoolActor` as a Ray actor class (made once: Ray registers each)."""
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        import ray

        _ACTOR_CLASS = ray.remote(_PoolActor)
    return _ACTOR_CLASS


class _Pool:
    def __init__(self, node_id: str, actor: Any) -> None:
        self.node_id = node_id
        self.actor = actor
        self.in_flight = 0
        self.served = 0
        self.alive = True
        self.isolation = "not started"


def _lost_errors() -> tuple[type[BaseException], ...]:
    """Ray's errors that mean the node or the actor is gone (not the code's doing)."""
    from ray import exceptions as rx

    return (
        rx.RayActorError,  # ActorDiedError, ActorUnavailableError
        rx.NodeDiedError,
        rx.ObjectLostError,  # OwnerDiedError, ObjectFetchTimedOutError, ...
        rx.WorkerCrashedError,
        rx.LocalRayletDiedError,
        rx.ActorUnschedulableError,
    )


class RaySandbox(StartedInContext):
    """A :class:`~attnrl.sandbox.base.Sandbox` whose calls run in per-node pools on a Ray
    cluster. ``address``: what ``ray.init`` connects to (``"auto"``: the cluster this machine
    is part of; ignored when Ray is already initialised). ``max_concurrency``: calls at once
    per node. ``retries``: times a call lost with its node is run again elsewhere.
    ``sandbox_kwargs``: passed to each node's :class:`~attnrl.sandbox.local.LocalSandbox`."""

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        address: str | None = "auto",
        retries: int = 2,
        sandbox_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.limits = limits or SandboxLimits()
        self.per_node = max_concurrency
        self.address = address
        self.retries = retries
        self._kwargs = dict(sandbox_kwargs or {})
        self._pools: dict[str, _Pool] = {}
        self._refresh_lock = asyncio.Lock()
        self._closed = False
        self.retried = 0
        """Calls run again after their node was lost."""
        self.lost_nodes: set[str] = set()
        """Nodes whose pool died."""

    @property
    def max_concurrency(self) -> int:
        """Calls at once over the live pools (at least one node's worth before the start)."""
        return self.per_node * max(1, sum(p.alive for p in self._pools.values()))

    @property
    def isolation(self) -> str:
        live = [p for p in self._pools.values() if p.alive]
        if not live:
            return "ray pool (no live node)"
        kinds = sorted({p.isolation for p in live})
        return f"ray pool of {len(live)} node(s): {', '.join(kinds)}"

    @property
    def server_pid(self) -> int | None:
        """None: the pools' processes live on the cluster's nodes, not under this one."""
        return None

    @property
    def nodes(self) -> list[str]:
        """Ids of the nodes with a live pool."""
        return [n for n, p in self._pools.items() if p.alive]

    @property
    def served(self) -> dict[str, int]:
        """Calls each node's pool completed (lost nodes included)."""
        return {n: p.served for n, p in self._pools.items()}

    def in_flight(self, node_id: str) -> int:
        """Calls running on ``node_id`` now."""
        pool = self._pools.get(node_id)
        return pool.in_flight if pool is not None else 0

    async def start(self) -> None:
        """Connect to the cluster (unless already connected) and start a pool on every node
        with CPUs; raise :class:`SandboxError` if none starts."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False)
        await self.refresh()
        if not self.nodes:
            raise SandboxError("no node of the Ray cluster could start a sandbox pool")

    async def refresh(self) -> None:
        """Start a pool on each live node that has none (nodes that joined since)."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        async with self._refresh_lock:
            actor_class = _actor_class()
            wanted = [
                n["NodeID"]
                for n in ray.nodes()
                if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0
            ]
            fresh: list[_Pool] = []
            for node_id in wanted:
                if node_id in self._pools or node_id in self.lost_nodes:
                    continue
                actor = actor_class.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
                    num_cpus=0,
                    max_restarts=0,
                    max_concurrency=max(64, 4 * self.per_node),
                ).remote(self.limits, self.per_node, self._kwargs)
                fresh.append(_Pool(node_id, actor))
            for pool in fresh:
                try:
                    info = await asyncio.wait_for(pool.actor.start.remote(), START_TIMEOUT_S)
                except (TimeoutError, *_lost_errors(), ray.exceptions.RayTaskError) as exc:
                    log.warning("ray sandbox pool on node %s did not start: %s", pool.node_id, exc)
                    self.lost_nodes.add(pool.node_id)
                    continue
                pool.isolation = str(info.get("isolation"))
                self._pools[pool.node_id] = pool

    def _pick(self) -> _Pool | None:
        live = [p for p in self._pools.values() if p.alive]
        return min(live, key=lambda p: p.in_flight) if live else None

    async def run(self, code: str, limits: SandboxLimits | None = None) -> ExecResult:
        """Run one call on the least busy node; see the module docstring for node loss."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        import ray

        lost = _lost_errors()
        last = "no live node"
        for attempt in range(self.retries + 1):
            pool = self._pick()
            if pool is None:
                await self.refresh()
                pool = self._pick()
                if pool is None:
                    break
            pool.in_flight += 1
            try:
                result: ExecResult = await pool.actor.run.remote(code, limits)
                pool.served += 1
                return result
            except lost as exc:
                last = f"{type(exc).__name__} on node {pool.node_id[:12]}"
                if pool.alive:
                    pool.alive = False
                    self.lost_nodes.add(pool.node_id)
                    log.warning("ray sandbox: lost the pool on node %s (%s)", pool.node_id, exc)
                if attempt < self.retries:
                    self.retried += 1
            except ray.exceptions.RayTaskError as exc:  # the pool itself raised: infrastructure
                raise SandboxError(
                    f"the sandbox pool on node {pool.node_id[:12]} failed: {exc}"
                ) from exc
            finally:
                pool.in_flight -= 1
        raise SandboxError(
            f"infrastructure: the call was lost with its node {self.retries + 1} time(s) "
            f"or no node was left ({last})"
        )

    async def aclose(self) -> None:
        """Stop every node's pool (their zygotes and calls)."""
        if self._closed:
            return
        self._closed = True
        import ray

        pools = [p for p in self._pools.values() if p.alive]
        for pool in pools:
            try:
                await asyncio.wait_for(pool.actor.close.remote(), 30.0)
            except Exception as exc:  # a dying node: nothing left to close there
                log.info("ray sandbox: closing node %s: %s", pool.node_id, exc)
            ray.kill(pool.actor, no_restart=True)
        self._pools.clear()
