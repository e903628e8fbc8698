"""Every large install says what and why before it starts, a skip says what is lost, and the
sizes it quotes are the ones the docs list with their commands (read from ``make -n``, which
prints the recipes without running them)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIZE = re.compile(r"\b(\d+(?:\.\d+)?[MG])\b|grows by (\d+)|\((\d+ KiB)\)")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _recipe(target: str) -> list[str]:
    done = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def _first(lines: list[str], pattern: str) -> int:
    return next(i for i, line in enumerate(lines) if re.search(pattern, line))


@pytest.mark.parametrize(
    ("target", "installer"),
    [
        ("env-run", r"uv sync"),
        ("env", r"uv sync"),
        ("docs", r"uv sync"),
        (".venv-trainers/.installed", r"pip install"),
        (".venv-verifiers-v1/.installed", r"pip install"),
        (".venv-harbor/.installed", r"pip install"),
        (".venv-real-model/.installed", r"server_env.sh|pip install"),
        ("llama-server", r"llama_server\.sh >"),
        ("sandbox-deps", r"apt-get install -y"),
        ("browser-deps", r"apt-get install -y"),
    ],
)
def test_each_install_is_announced_before_it_starts(target: str, installer: str) -> None:
    lines = _recipe(target)
    announced = _first(lines, r"make: installing")
    assert announced < _first(lines, installer), lines


@pytest.mark.parametrize("target", ["sandbox-deps", "browser-deps"])
def test_a_skipped_install_says_what_is_lost(target: str) -> None:
    text = "\n".join(_recipe(target))
    lost = re.search(r'lost="([^"]+)"', text)
    assert lost and re.search(r"skipped|falls back", lost.group(1))
    assert text.count("$lost") >= 2  # the failed install and the not-root case both say it


def test_announced_sizes_are_the_documented_ones() -> None:
    """A size in an announcement is a figure of docs/getting-started.md's table, where the
    command that measured it stands beside it."""
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    announced = [
        line
        for target in ("env-run", "env", "docs", ".venv-trainers/.installed", "sandbox-deps")
        for line in _recipe(target)
        if "make: installing" in line
    ] + [
        line
        for target in (
            ".venv-verifiers-v1/.installed",
            ".venv-harbor/.installed",
            ".venv-scale/.installed",
            ".venv-real-model/.installed",
            "llama-server",
        )
        for line in _recipe(target)
        if "make: installing" in line
    ]
    sizes = [next(g for g in m.groups() if g) for line in announced for m in SIZE.finditer(line)]
    assert len(sizes) >= 6, announced
    for size in sizes:
        assert size in page, f"{size} is announced but not in the docs' table"
