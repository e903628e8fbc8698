"""The run directory: records survive torn writes; a corrupt line is an error that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnrl.harness.rundir import RunDirError, load_records


def test_torn_last_line_is_dropped_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"run_id": 1, "passed": true}\n{"run_id": 2, "pas')
    assert [r["run_id"] for r in load_records(path)] == [1]
    path.write_text('{"run_id": 1}\nnot json\n{"run_id": 2}\n')
    with pytest.raises(RunDirError, match="results.jsonl:2 is not a run record"):
        load_records(path)
