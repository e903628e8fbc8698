"""Hand-damaged and crafted run directories, through the CLI: a bad ``run.json`` field is a
one-line error naming the file, the field and what it should be; a record that is not a run
of the batch is set aside (never counted, never lost) and its run is run again on resume."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attnrl.cli import main

RUNS = 4


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished simulated batch of RUNS runs on the seed document's instance."""
    out = tmp_path_factory.mktemp("made") / "batch"
    argv = ["run", "--model", "simulated", "--preset", "seed-doc", "--runs", str(RUNS)]
    assert main([*argv, "--seed", "1", "--no-progress", "--out", str(out)]) == 0
    return out


@pytest.fixture
def batch(made: Path, tmp_path: Path) -> Path:
    """A copy of the finished batch, to damage."""
    out = tmp_path / "batch"
    shutil.copytree(made, out, ignore=shutil.ignore_patterns("*.html", "*.log"))
    return out


def _edit_manifest(out: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((out / "run.json").read_text())
    change(manifest)
    (out / "run.json").write_text(json.dumps(manifest))


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        head, _, tail = key.partition(".")
        if tail:
            data[head][tail] = value
        else:
            data[head] = value

    return change


def _argv(command: str, out: Path) -> list[str]:
    return {
        "resume": ["run", "--out", str(out), "--resume", "--no-progress"],
        "report": ["report", str(out)],
        "html": ["report", str(out), "--html", str(out / "page.html")],
    }[command]


@pytest.mark.parametrize(
    ("command", "key", "value"),
    [
        ("resume", "model", 123),
        ("resume", "seed", "x"),
        ("resume", "max_steps", "a"),
        ("resume", "knobs", "x"),
        ("resume", "options.retries", "x"),
        ("resume", "band", "x"),
        ("resume", "runs", 0),
        ("resume", "batches", "x"),
        ("report", "runs", "x"),
        ("report", "knobs", "x"),
        ("report", "band", "x"),
        ("report", "band", [0.5, 0.1]),
        ("report", "batches", "x"),
        ("html", "band", "x"),
        ("html", "knobs", "x"),
    ],
)
def test_a_bad_manifest_field_is_one_line_naming_it(
    batch: Path, capsys: pytest.CaptureFixture[str], command: str, key: str, value: Any
) -> None:
    _edit_manifest(batch, _set(key, value))
    before = {p.name: p.read_bytes() for p in batch.iterdir()}
    assert main(_argv(command, batch)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f'{batch / "run.json"}: "{key}" should be ' in err, err
    assert f"not {json.dumps(value)}; correct that field or restore the file" in err, err
    assert {p.name: p.read_bytes() for p in batch.iterdir()} == before  # nothing lost
