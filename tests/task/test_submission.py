"""One answer, one grade, whichever way it arrives: a dict, JSON text, bytes, a file or stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attnrl

BOM = "\ufeff"


def test_a_byte_order_mark_never_changes_the_grade(tmp_path: Path) -> None:
    """Editors write a BOM before UTF-8 text; ``attnrl verify FILE`` always dropped it, and
    the other paths graded the same bytes invalid ("Unexpected UTF-8 BOM")."""
    task = attnrl.load_task()
    text = json.dumps(task.reference())
    grades = [
        task.grade(value)
        for value in (text, BOM + text, (BOM + text).encode("utf-8"), text.encode("utf-8"))
    ]
    assert {(g.outcome, g.reward) for g in grades} == {("full_success", 1.0)}
    path = tmp_path / "answer.json"
    path.write_bytes((BOM + text).encode("utf-8"))
    for argv, stdin in ((["verify", str(path)], None), (["verify", "-"], path.read_bytes())):
        done = subprocess.run(
            [sys.executable, "-m", "attnrl", *argv], input=stdin, capture_output=True, timeout=120
        )
        assert done.returncode == 0 and done.stdout.startswith(b"SUCCESS"), done
    assert task.grade(BOM + BOM + text).reward == 0.0  # one mark only: a second is not JSON
