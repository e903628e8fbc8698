"""Fixtures of the SkyRL tier: SkyRL's own agent code, from the installed skyrl 0.4.0 wheel,
and ``attnrl serve-sandbox`` (the main environment's command, ``ATTNRL_BIN``) on loopback."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import distribution
from pathlib import Path

import pytest

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


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[str]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env.pop("ATTNRL_SANDBOX_TOKEN", None)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def start(*flags: str) -> Served:
    """``attnrl serve-sandbox FLAGS``, its URL read from the line it prints."""
    proc = subprocess.Popen(
        [ATTNRL, "serve-sandbox", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"serve-sandbox did not start: {line!r} {err[-2000:]!r}")
    return Served(line.split("listening on ", 1)[1].split()[0], proc)


def stop(served: Served) -> None:
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGTERM)
    _, err = served.proc.communicate(timeout=60)
    assert served.proc.returncode == 0, err[-2000:]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if "PROXY" in key.upper():
            monkeypatch.delenv(key)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    """The default command on a free loopback port (four calls at a time)."""
    served = start("--port", "0", "--concurrency", "4")
    yield served
    stop(served)
