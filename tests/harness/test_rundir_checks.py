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


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _summary(out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``attnrl report DIR --json``: the summary as the records say now."""
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_resume_counts_only_the_batchs_own_runs(
    batch: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Records appended by hand (run ids the batch never planned, another model or task, a
    string "passed", a second record of a failed run) are set aside and never counted."""
    honest = _records(batch)
    before = _summary(batch, capsys)
    failed = next(r for r in honest if not r["passed"])
    good = next(r for r in honest if r["passed"])
    crafted = [dict(good, run_id=i) for i in (RUNS + 1, 100, 0, -5)]
    crafted += [
        dict(good, run_id=failed["run_id"], passed="false"),  # truthy, and a repeat
        dict(good, run_id=failed["run_id"]),  # well typed, but the run is already recorded
        dict(good, run_id=RUNS + 2, model="anthropic/other-model"),
        dict(failed, model="anthropic/other-model"),
        dict(failed, task_hash="f" * 64),
    ]
    with (batch / "results.jsonl").open("a") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in crafted)
    (batch / "summary.json").unlink()
    assert _summary(batch, capsys) == before | {"written_at": _summary(batch, capsys)["written_at"]}
    assert f"skipped {len(crafted)} corrupt lines (not runs of this batch: line" in caplog.text
    caplog.clear()
    assert main(["run", "--out", str(batch), "--resume", "--no-progress"]) == 0
    summary = json.loads((batch / "summary.json").read_text())
    assert (
        (summary["runs"], summary["passed"])
        == (before["runs"], before["passed"])
        == (
            RUNS,
            sum(r["passed"] for r in honest),
        )
    )
    assert summary["complete"] and summary["wanted_runs"] == RUNS
    assert _records(batch) == honest  # nothing was run again: every run is recorded
    aside = [
        json.loads(line) for line in (batch / "results.corrupt.jsonl").read_text().splitlines()
    ]
    assert aside == crafted  # set aside, every byte kept
    line = len(honest) + 1
    assert f"set aside {len(crafted)} corrupt lines" in caplog.text
    assert f"line {line}: run_id {RUNS + 1} is not one of the batch's (1..{RUNS})" in caplog.text
    assert f"line {line + 2}: run_id 0 is not one of the batch's (1..{RUNS}); and 6 more)" in (
        caplog.text
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("usage", None),
        ("duration_s", "x"),
        ("cost_usd", "x"),
        ("steps", "x"),
        ("errors", "x"),
        ("passed", "false"),
        ("diagnosis", "x"),
        ("transcript", "x"),
    ],
)
def test_a_record_of_the_wrong_kind_is_set_aside_and_run_again(
    batch: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    key: str,
    value: Any,
) -> None:
    records = _records(batch)
    damaged = dict(records[0], **{key: value})
    lines = [json.dumps(damaged)] + [json.dumps(r) for r in records[1:]]
    (batch / "results.jsonl").write_text("\n".join(lines) + "\n")
    (batch / "summary.json").unlink()
    on_disk = (batch / "results.jsonl").read_bytes()
    why = f'line 1: "{key}" should be '
    assert _summary(batch, capsys)["runs"] == RUNS - 1  # not counted, no traceback
    assert main(["report", str(batch), "--html", str(batch / "page.html")]) == 0
    assert "Traceback" not in capsys.readouterr().err and why in caplog.text
    assert (batch / "results.jsonl").read_bytes() == on_disk  # a reader changes nothing
    caplog.clear()
    assert main(["run", "--out", str(batch), "--resume", "--no-progress"]) == 0
    assert "set aside 1 corrupt line (not runs of this batch: " + why in caplog.text
    assert json.loads((batch / "results.corrupt.jsonl").read_text()) == damaged  # kept
    now = _records(batch)
    assert sorted(r["run_id"] for r in now) == list(range(1, RUNS + 1))  # its run run again
    assert now[:-1] == records[1:] and now[-1]["run_id"] == damaged["run_id"]
    assert json.loads((batch / "summary.json").read_text())["runs"] == RUNS


def test_a_family_run_on_another_runs_instance_is_set_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Runs that each get their own instance: ``report`` checks a record's instance seed
    against the batch seed; resume, which has the family, checks its task hash too."""
    out = tmp_path / "family"
    argv = ["run", "--model", "simulated", "--preset", "procedural", "--runs", "3"]
    assert main([*argv, "--seed", "3", "--no-progress", "--out", str(out)]) == 0
    one, two, three = sorted(_records(out), key=lambda r: r["run_id"])
    crafted = [
        dict(two, instance_seed=one["instance_seed"]),
        dict(three, task_hash=one["task_hash"]),
    ]
    lines = [one, *crafted]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (out / "summary.json").unlink()
    assert _summary(out, capsys)["runs"] == 2  # run 2's seed is not its own
    assert f"line 2: instance_seed {one['instance_seed']} is not run 2's" in caplog.text
    caplog.clear()
    assert main(["run", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert "set aside 2 corrupt lines" in caplog.text and "line 3: task_hash " in caplog.text
    again = {r["run_id"]: r for r in _records(out)}
    assert again[2]["task_hash"] == two["task_hash"] and again[3]["task_hash"] == three["task_hash"]
