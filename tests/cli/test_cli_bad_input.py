"""Bad input found by review, each through the real CLI: one error line (plus at most a
``hint:`` line) naming the problem and the fix, exit 2, no traceback, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli.test_cli_errors import assert_one_error

from attnrl.task.registry import get_plugin


def attnrl(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: int | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "attnrl", *args],
        capture_output=stdin is None,
        stdout=subprocess.PIPE if stdin is not None else None,
        stderr=subprocess.PIPE if stdin is not None else None,
        stdin=stdin,
        text=True,
        env=clean | (env or {}),
        cwd=cwd,
        timeout=300,
    )


ATTENTION_KNOBS = ", ".join(get_plugin("attention").knobs)


@pytest.mark.parametrize("knob", ["dim=8", "foo=1", "positions=[2,6]"])
@pytest.mark.parametrize(
    "command",
    [
        ["prompt"],
        ["reference"],
        ["run", "--model", "simulated", "--runs", "1", "--out", "D"],
        ["dataset", "--n", "1", "--out", "D.jsonl"],
        ["audit"],
    ],
)
def test_a_knob_the_task_does_not_have_lists_its_knobs(
    command: list[str], knob: str, tmp_path: Path
) -> None:
    proc = attnrl(*command, "--knob", knob, cwd=tmp_path)
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    name = knob.split("=")[0]
    assert f"task attention has no knob {name!r}; its knobs: {ATTENTION_KNOBS}" in error
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args",
    [["--knob", "heads=3"], ["--knob", "mask=window:3"], ["--task", "rope", "--knob", "dim=[4,8]"]],
)
def test_the_knob_examples_of_the_help_work(args: list[str], tmp_path: Path) -> None:
    proc = attnrl("prompt", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    help_text = attnrl("prompt", "--help", cwd=tmp_path).stdout
    assert "--knob heads=3" in " ".join(help_text.split())
    assert "--task rope --knob 'dim=[4,8]'" in " ".join(help_text.split())


def test_load_task_refuses_an_unknown_knob_up_front() -> None:
    from attnrl import load_task

    with pytest.raises(ValueError, match="unknown knob"):
        load_task("procedural", dim=8)
