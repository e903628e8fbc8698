"""The run directory: torn and corrupt lines are set aside, never lost; one writer at a time;
I/O failures are one-line errors that name the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from attnrl.harness.rundir import (
    CORRUPT_FILE,
    ResultsWriter,
    RunDirError,
    load_records,
    lock_run_dir,
    prepare_run_dir,
    read_records,
    set_aside_corrupt,
    write_json_atomic,
)


def run(run_id: int, **fields: Any) -> bytes:
    """The line of a minimal run record (the fields every reader needs)."""
    record = {"run_id": run_id, "passed": True, "outcome": "full_success", "category": None}
    return json.dumps(record | {"steps": 2, "duration_s": 0.5} | fields).encode()


def test_torn_and_corrupt_lines_are_skipped_then_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(run(1) + b"\n" + run(2)[:20])
    assert [r["run_id"] for r in load_records(path)] == [1]
    garbage = b"\xff\xfe\x00binary\n"
    path.write_bytes(run(1) + b"\nnot json\n" + garbage + run(3) + b"\n" + run(4)[:-1])
    records, corrupt = read_records(path)
    assert [r["run_id"] for r in records] == [1, 3] and corrupt == [2, 3, 5]
    assert set_aside_corrupt(tmp_path) == 3
    assert path.read_bytes() == run(1) + b"\n" + run(3) + b"\n"
    side = (tmp_path / CORRUPT_FILE).read_bytes()
    assert side == b"not json\n" + garbage + run(4)[:-1] + b"\n"  # every byte kept
    assert set_aside_corrupt(tmp_path) == 0


def test_a_whole_record_missing_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(run(1) + b"\n" + run(2))
    assert set_aside_corrupt(tmp_path) == 0
    assert path.read_bytes() == run(1) + b"\n" + run(2) + b"\n"


def test_one_writer_per_directory_names_the_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from attnrl.harness.rundir import "
            "lock_run_dir; l = lock_run_dir(Path(sys.argv[1])); print('locked', flush=True); "
            "time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirError, match=f"another attnrl run \\(pid {holder.pid}\\)"):
            prepare_run_dir(tmp_path, {"runs": 3}, resume=True)
    finally:
        holder.kill()
        holder.communicate()
    with lock_run_dir(tmp_path):  # the kernel dropped the dead holder's lock
        pass


def test_manifest_never_shrinks(tmp_path: Path) -> None:
    prepare_run_dir(tmp_path, {"runs": 60, "model": "m"}, resume=False).release()
    prepare_run_dir(tmp_path, {"runs": 10, "model": "m"}, resume=True).release()
    assert json.loads((tmp_path / "run.json").read_text())["runs"] == 60


def test_out_naming_a_file_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("keep me")
    with pytest.raises(RunDirError, match="is a file, not a directory; choose another --out"):
        prepare_run_dir(target, {"runs": 1}, resume=False)
    assert target.read_text() == "keep me"


def _in_small_tmpfs(script: str, size: int) -> subprocess.CompletedProcess[str]:
    """``script`` (sh) with a ``size``-byte tmpfs at /mnt/small: a real disk that fills."""
    return subprocess.run(
        ["bwrap", "--dev-bind", "/", "/", "--size", str(size), "--tmpfs", "/mnt/small"]
        + ["sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(not Path("/usr/bin/bwrap").exists(), reason="needs bubblewrap")
def test_a_full_disk_is_an_error_not_a_lost_record(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; "
        "from attnrl.harness.rundir import ResultsWriter, RunDirError, write_json_atomic\n"
        "w = ResultsWriter(Path('/mnt/small/results.jsonl'), sync_every_s=0)\n"
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        n += 1; w.append({'run_id': n, 'passed': False, 'outcome': 'failure', "
        "'category': 'logic', 'steps': 1, 'duration_s': 0.1, 'pad': 'x' * 3000})\n"
        "except RunDirError as e: print('ERR', e)\n"
        "try: write_json_atomic(Path('/mnt/small/summary.json'), {'pad': 'y' * 100000})\n"
        "except RunDirError as e: print('ERR2', e)\n"
    )
    proc = _in_small_tmpfs(
        f'{sys.executable} -c "{code}"; ls -A /mnt/small; cp /mnt/small/results.jsonl {tmp_path}',
        size=64 * 1024,
    )
    assert "ERR cannot write /mnt/small/results.jsonl: No space left on device" in proc.stdout
    assert "ERR2 cannot write /mnt/small/summary.json: No space left on device" in proc.stdout
    assert ".tmp" not in proc.stdout  # no empty temporary file left behind
    records = load_records(tmp_path / "results.jsonl")
    assert len(records) >= 15
    assert [r["run_id"] for r in records] == list(range(1, len(records) + 1))


def test_writer_and_atomic_write_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="cannot write .*missing/results.jsonl"):
        ResultsWriter(tmp_path / "missing" / "results.jsonl")
    with pytest.raises(RunDirError, match="cannot write .*missing/summary.json"):
        write_json_atomic(tmp_path / "missing" / "summary.json", {})
    assert not os.listdir(tmp_path)


def test_a_batch_dir_holds_the_lock_until_it_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attnrl.harness import rundir

    out = tmp_path / "batch"
    held = rundir.open_batch_dir(out, {"runs": 1}, resume=False)
    with pytest.raises(rundir.RunDirError):
        rundir.lock_run_dir(out)  # a second batch cannot enter
    assert held.previous == []
    summary = held.finish((0.1, 0.4), None, failing=False)
    assert summary is not None and summary["runs"] == 0
    rundir.lock_run_dir(out).release()  # released by finish

    def broken(*_: object, **__: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(rundir, "ResultsWriter", broken)
    with pytest.raises(OSError, match="disk full"):
        rundir.open_batch_dir(tmp_path / "other", {"runs": 1}, resume=False)
    rundir.lock_run_dir(tmp_path / "other").release()  # released though opening failed


def test_atomic_writes_go_through_symlinks_and_into_pipes(tmp_path: Path) -> None:
    """A symlink is written through (its file replaced, the link kept); a destination that
    is not a regular file (a FIFO, /dev/null, /proc/self/fd/N) is written straight."""
    from attnrl.harness.rundir import write_atomic

    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_json_atomic(link, {"a": 1})
    assert link.is_symlink() and json.loads(real.read_text()) == {"a": 1}
    assert real.stat().st_mode & 0o777 == 0o640  # the replaced file keeps its permissions
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "not-yet.json")
    write_atomic(dangling, "new")
    assert dangling.is_symlink() and (tmp_path / "not-yet.json").read_text() == "new"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    fifo_link = tmp_path / "fifo-link"
    fifo_link.symlink_to(fifo)
    write_atomic(fifo_link, b"through the pipe\n")
    assert reader.communicate(timeout=10)[0] == b"through the pipe\n"
    assert fifo_link.is_symlink() and fifo.is_fifo()
    null = tmp_path / "null"
    null.symlink_to("/dev/null")
    write_atomic(null, "gone")
    assert null.is_symlink()
    read_end, write_end = os.pipe()
    try:
        write_atomic(Path(f"/proc/self/fd/{write_end}"), "via fd")
        assert os.read(read_end, 100) == b"via fd"
    finally:
        os.close(read_end)
        os.close(write_end)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dangling.json", "fifo", "fifo-link", "link.json", "not-yet.json", "null", "real.json",
    ]  # fmt: skip  # no temporary file left anywhere


def test_one_record_per_run_the_first_unless_it_was_infrastructure(tmp_path: Path) -> None:
    """A re-run of an infrastructure failure replaces it (that is how resume re-runs it);
    any other repeat of a run id is set aside: a line appended later cannot rewrite a run."""
    path = tmp_path / "results.jsonl"
    infra = run(1, passed=False, outcome="error", category="infrastructure")
    lines = [infra, run(1, passed=False, outcome="failure", category="logic"), run(1), run(2)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    records, corrupt = read_records(path)
    assert [(r["run_id"], r["passed"]) for r in records] == [(1, False), (2, True)]
    assert corrupt == [3]
