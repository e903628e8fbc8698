"""Fixtures of the SkyRL tier: SkyRL's own agent code, from the installed skyrl 0.4.0 wheel,
and ``attnrl serve-sandbox`` (the main environment's command, ``ATTNRL_BIN``) on loopback,
started by the service tests' own helper (:mod:`fakes.sandbox_server`)."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from importlib.metadata import distribution
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared fakes

from fakes.sandbox_server import (
    Served,  # noqa: E402
    without_proxies,  # noqa: E402
)
from fakes.sandbox_server import start as start_service  # noqa: E402

ATTNRL = os.environ.get("ATTNRL_BIN", "attnrl")
SKYRL_VERSION = "0.4.0"


def skyrl_agent_root() -> Path:
    """Where the skyrl wheel put SkyRL's agent package (``<site-packages>/skyrl-agent``)."""
    dist = distribution("skyrl")
    init = next(f for f in dist.files or () if str(f) == "skyrl-agent/skyrl_agent/__init__.py")
    return Path(str(dist.locate_file(init))).parent


def _register_skyrl_agent() -> None:
    """Make ``skyrl_agent`` importable as the package it is, without running its top-level
    ``__init__``: that imports the agent runner (omegaconf, litellm, OpenHands...), which the
    SandboxFusion clients never use. Every submodule imported below is SkyRL's file, unchanged."""
    if "skyrl_agent" in sys.modules:
        return
    root = skyrl_agent_root()
    spec = importlib.util.spec_from_file_location(
        "skyrl_agent", root / "__init__.py", submodule_search_locations=[str(root)]
    )
    assert spec is not None
    sys.modules["skyrl_agent"] = importlib.util.module_from_spec(spec)


_register_skyrl_agent()


def start(*flags: str) -> Served:
    """``attnrl serve-sandbox FLAGS`` of the main environment, on a free loopback port."""
    return start_service(*flags, attnrl=[ATTNRL])


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    without_proxies(monkeypatch)


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    """The default command (four calls at a time)."""
    served = start("--concurrency", "4")
    yield served
    served.stop()
