"""Fixtures for the service tests: the real server (:mod:`fakes.sandbox_server`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from fakes.sandbox_server import Served, start, without_proxies


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """``serve(*flags, env=...)`` starts a server, stopped after the test."""
    started: list[Served] = []

    def factory(*flags: str, env: dict[str, str] | None = None) -> Served:
        served = start(*flags, env=env)
        started.append(served)
        return served

    yield factory
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    """One server shared by a module's tests (concurrency 4, output cap 200)."""
    served = start("--concurrency", "4", "--max-output-chars", "200")
    yield served
    served.stop()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    without_proxies(monkeypatch)
