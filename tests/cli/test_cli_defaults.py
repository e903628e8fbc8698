"""One default model, priced; one way to call the CLI that also works inside an activated
virtual environment (issue 21 item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnrl.models.deprecation import DEFAULT_MODEL
from attnrl.stats.cost import price_for

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_model_is_priced_and_says_how() -> None:
    price = price_for(DEFAULT_MODEL)
    assert price is not None and price.input > 0 and price.output > 0
    assert price.source.startswith("ASSUMED")  # not published in the table: said so


def test_a_default_run_can_be_estimated_and_capped(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", "run", "--estimate", "--max-cost", "5"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"Estimate for 15 runs of {DEFAULT_MODEL}" in proc.stdout
    assert "expected $" in proc.stdout and "cost unknown" not in proc.stdout
    assert "prices: ASSUMED" in proc.stdout


def test_help_names_the_one_default_model(capsys: pytest.CaptureFixture[str]) -> None:
    from attnrl.cli import main
    from attnrl.models.registry import _PROVIDERS

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert f"default {DEFAULT_MODEL}" in " ".join(capsys.readouterr().out.split())
    assert DEFAULT_MODEL in _PROVIDERS["anthropic"].usage


def _base_python_has_uv() -> bool:
    base = getattr(sys, "_base_executable", sys.executable)
    return subprocess.run([base, "-m", "uv", "--version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _base_python_has_uv(), reason="the base interpreter has no uv")
def test_tools_uv_works_inside_an_activated_venv() -> None:
    """``python3 -m uv`` fails inside an activated venv ("No module named uv"); ``./tools/uv``
    uses the interpreter the venv was made from, and installs nothing into the venv."""
    venv = Path(sys.prefix)
    env = os.environ | {
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",  # no uv on PATH: only the tools/uv logic
    }
    env.pop("PYTHON", None)
    bare = subprocess.run(["python3", "-m", "uv", "--version"], capture_output=True, env=env)
    assert bare.returncode != 0  # the failure the issue reports
    proc = subprocess.run(
        [str(ROOT / "tools" / "uv"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("uv "), proc.stderr
    assert "installing" not in proc.stderr
