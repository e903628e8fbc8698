"""Bad input found by review, each through the real CLI: one error line (plus at most a
``hint:`` line) naming the problem and the fix, exit 2, no traceback, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_errors import assert_one_error

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


@pytest.mark.parametrize("command", ["verify", "exec"])
def test_a_closed_stdin_is_one_line(command: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        f"{sys.executable} -m attnrl {command} - <&-",
        shell=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "cannot read stdin: it is closed" in error


SANDBOX_COMMANDS = [
    ["exec", "c.py"],
    ["run", "--model", "simulated", "--runs", "1", "--out", "D"],
    ["calibrate", "--model", "simulated", "--max-runs", "2", "--out", "D"],
    ["serve-sandbox", "--port", "0"],
]


@pytest.mark.parametrize("command", SANDBOX_COMMANDS)
@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("garbage", "ATTNRL_SANDBOX='garbage' is not a sandbox backend; use one of local, ray"),
        ("ray", "ATTNRL_SANDBOX=ray needs Ray, which is not installed here: pip install ray=="),
    ],
)
def test_a_sandbox_that_cannot_open_is_one_line_before_any_run(
    command: list[str], backend: str, expected: str, tmp_path: Path
) -> None:
    pytest.importorskip("attnrl.service.app") if command[0] == "serve-sandbox" else None
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("Ray is installed here")
    (tmp_path / "c.py").write_text("print(1)\n")
    (tmp_path / "ray").mkdir()  # Ray's own temp dir in the cwd must not pass for Ray
    proc = attnrl(*command, cwd=tmp_path, env={"ATTNRL_SANDBOX": backend})
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert expected in error
    assert not (tmp_path / "D").exists()


@pytest.mark.parametrize("command", ["audit", "presets"])
def test_seeds_has_a_documented_maximum(command: str, tmp_path: Path) -> None:
    proc = attnrl(command, "--seeds", "100000000000", cwd=tmp_path)
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "--seeds must be in 1..100,000, got 100,000,000,000" in error


def test_export_onto_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("keep me")
    proc = attnrl("export", "--format", "harbor", "--out", "f", cwd=tmp_path)
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "--out f is a file" in error
    assert (tmp_path / "f").read_text() == "keep me"


@pytest.mark.parametrize("skill", ["nan", "inf", "-inf", "1e9", "abc"])
def test_calibrate_refuses_a_skill_that_is_not_a_bounded_number(skill: str, tmp_path: Path) -> None:
    proc = attnrl(
        "calibrate",
        "--model",
        "simulated",
        f"--simulated-skill={skill}",
        "--out",
        "D",
        cwd=tmp_path,
    )
    error, _ = assert_one_error(proc.returncode, proc.stderr, prog="attnrl calibrate")
    assert "argument --simulated-skill: expected a number in -50..50" in error
    assert not (tmp_path / "D").exists()


@pytest.mark.parametrize("flag", [["--log-level", "DEBUG"], ["--log-level=DEBUG"]])
def test_a_global_flag_after_the_command_says_where_it_goes(
    flag: list[str], tmp_path: Path
) -> None:
    proc = attnrl("run", *flag, "--runs", "1", cwd=tmp_path)
    _, hint = assert_one_error(proc.returncode, proc.stderr)
    assert hint == (
        "hint: --log-level is a flag of attnrl itself: it goes before the command, e.g. "
        "attnrl --log-level DEBUG run ..."
    )


@pytest.fixture(scope="module")
def rope_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("card")
    proc = attnrl(
        "calibrate", "--model", "simulated", "--task", "rope", "--max-runs", "20",
        "--rung-runs", "10", "--out", "C", cwd=root,
    )  # fmt: skip
    assert proc.returncode in (0, 4), proc.stderr
    return root / "C"


def test_calibrate_into_an_earlier_calibration_gives_a_fix_that_exists(
    rope_card: Path,
) -> None:
    proc = attnrl(
        "calibrate", "--model", "simulated", "--task", "rope", "--max-runs", "20",
        "--out", str(rope_card), cwd=rope_card.parent,
    )  # fmt: skip
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "already holds a calibration (card.json, rung_" in error
    assert "choose another --out" in error and "--resume" not in error


@pytest.mark.parametrize("task", [[], ["--task", "rope"]])
def test_a_card_brings_its_task(task: list[str], rope_card: Path, tmp_path: Path) -> None:
    card = str(rope_card / "card.json")
    run = attnrl(
        "run", "--card", card, *task, "--model", "simulated", "--runs", "1", "--out", "X",
        "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Task: rope" in run.stdout
    rows = attnrl("dataset", "--card", card, *task, "--n", "1", "--out", "d.jsonl", cwd=tmp_path)
    assert rows.returncode == 0, rows.stderr
    row = json.loads((tmp_path / "d.jsonl").read_text())
    assert json.loads(row["info"])["attnrl_task"] == "rope"


def test_a_card_refuses_another_task_or_an_unknown_one(rope_card: Path, tmp_path: Path) -> None:
    card = rope_card / "card.json"
    proc = attnrl("dataset", "--card", str(card), "--task", "attention", "--n", "1",
                  "--out", "d.jsonl", cwd=tmp_path)  # fmt: skip
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "is for task 'rope', not --task attention" in error
    (tmp_path / "nope.json").write_text(card.read_text().replace('"rope"', '"nope"'))
    proc = attnrl("run", "--card", "nope.json", "--model", "simulated", "--out", "X", cwd=tmp_path)
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "card nope.json: unknown task 'nope'; registered tasks: attention, rope" in error
    assert not (tmp_path / "X").exists() and not (tmp_path / "d.jsonl").exists()


@pytest.mark.parametrize("command", ["run", "calibrate", "dataset", "export"])
def test_an_empty_out_is_refused(command: str, tmp_path: Path) -> None:
    extra = {"run": ["--model", "simulated"], "calibrate": ["--model", "simulated"],
             "dataset": ["--n", "1"], "export": ["--format", "harbor"]}[command]  # fmt: skip
    proc = attnrl(command, *extra, "--out", "", cwd=tmp_path)
    error, _ = assert_one_error(proc.returncode, proc.stderr, prog=f"attnrl {command}")
    assert "argument --out: expected a path, got '' (empty)" in error
    assert not list(tmp_path.iterdir())


def test_report_refuses_json_with_html(tmp_path: Path) -> None:
    made = attnrl("run", "--model", "simulated", "--runs", "2", "--out", "D", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    proc = attnrl("report", "D", "--json", "--html", "r.html", cwd=tmp_path)
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "give one of them" in error and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    ("flags", "named"),
    [(["--rung", "3"], "--rung"), (["--heads", "2"], "--heads"), (["--seed", "4"], "--seed")],
)
def test_audit_ladder_refuses_what_it_would_ignore(
    flags: list[str], named: str, tmp_path: Path
) -> None:
    proc = attnrl("audit", "--ladder", *flags, cwd=tmp_path)
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert f"drop {named}, or drop --ladder" in error
