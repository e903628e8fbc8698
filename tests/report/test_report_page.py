"""The page as a file: self-contained, its data equal to the directory's, bad input refused
with one line and exit 2."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_dirs import RunDirs, simulated, summary_of

from attnrl.cli import main
from attnrl.harness.rundir import load_records
from attnrl.report import ReportError, build_report, write_report
from attnrl.report.page import embed_json
from attnrl.task import load_task


class _Scan(HTMLParser):
    """data-key cells, script blocks and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, str] = {}
        self.scripts: dict[str, str] = {}
        self.urls: list[str] = []
        self._key: str | None = None
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._key = a.get("data-key")
        if tag == "script":
            self._script = a.get("id") or "inline"
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action")]

    def handle_data(self, data: str) -> None:
        if self._key and self._key not in self.keys:
            self.keys[self._key] = data.strip()
        if self._script:
            self.scripts[self._script] = self.scripts.get(self._script, "") + data

    def handle_endtag(self, tag: str) -> None:
        self._key = None
        if tag == "script":
            self._script = None


def scan(page: str) -> _Scan:
    s = _Scan()
    s.feed(page)
    return s


def test_page_is_self_contained(run_dirs: RunDirs) -> None:
    for page in (build_report([run_dirs.single]), build_report([run_dirs.calibration]),
                 build_report([run_dirs.single, run_dirs.other])):  # fmt: skip
        assert not re.search(r"(?i)(https?:|ftp:)?//[a-z0-9.-]+\.[a-z]", page)
        assert "@import" not in page
        assert set(re.findall(r"url\((.)", page)) <= {"#"}  # local references only
        s = scan(page)
        assert all(u == "#" or u.startswith(("data:", "#")) for u in s.urls), s.urls
        assert "inline" in s.scripts  # the viewer's script is in the file


def test_counts_and_runs_equal_the_directory(run_dirs: RunDirs) -> None:
    s = scan(build_report([run_dirs.single]))
    summary = summary_of(run_dirs.single)
    for key in ("runs", "passed", "failed", "full_success", "partial_success"):
        assert s.keys[key] == str(summary[key])
    lo, hi = summary["pass_rate_cs95"]  # the anytime-valid sequence, shown and drawn
    assert s.keys["cs95"] == f"{100 * lo:.1f}% - {100 * hi:.1f}%"
    assert s.keys["sequence_verdict"] == summary["sequence_verdict"]
    data = json.loads(s.scripts["report-data"])
    blocks = json.loads(s.scripts["report-transcripts"])
    details = [d for b in blocks for d in json.loads(zlib.decompress(base64.b64decode(b)))]
    assert len(blocks) == -(-len(details) // data["chunk"])
    records = load_records(run_dirs.single / "results.jsonl")
    assert [r["id"] for r in data["rows"]] == [r["run_id"] for r in records]
    assert [r["o"] for r in data["rows"]] == [r["outcome"] for r in records]
    for record, detail in zip(records, details, strict=True):
        first = detail["transcript"][0]
        assert first == {"role": "user", "prompt_of": summary["task_hash"]}  # sent once
        prompt = {"role": "user", "text": data["prompts"][first["prompt_of"]]}
        assert [prompt, *detail["transcript"][1:]] == record["transcript"]
    expected = load_task("seed-doc").reference()
    assert data["expected"] == {summary["task_hash"]: expected}


def test_a_directory_without_the_spec_in_its_manifest(run_dirs: RunDirs, tmp_path: Path) -> None:
    """Written before run.json carried the spec: the preset's task is rebuilt when its hash
    matches; with a knob changed, the expected answer is said to be unknown."""
    old = tmp_path / "old"
    shutil.copytree(run_dirs.single, old, ignore=shutil.ignore_patterns("*.html"))
    manifest = json.loads((old / "run.json").read_text())
    manifest.pop("spec")
    (old / "run.json").write_text(json.dumps(manifest))
    data = json.loads(scan(build_report([old])).scripts["report-data"])
    assert list(data["expected"]) == [manifest["task_hash"]]
    manifest["task_hash"] = "0" * 64  # as if made with a knob the manifest does not name
    (old / "run.json").write_text(json.dumps(manifest))
    page = build_report([old])
    assert json.loads(scan(page).scripts["report-data"])["expected"] == {}
    assert "knobs" in page and "not recorded" in page


def test_embedded_json_cannot_close_its_script() -> None:
    block = embed_json("x", {"t": "</script><script>alert(1)</script>", "n": float("nan")})
    assert block.count("</script>") == 1 and block.endswith("</script>")
    inner = block[block.index(">") + 1 : -len("</script>")]
    assert json.loads(inner) == {"t": "</script><script>alert(1)</script>", "n": "NaN"}


def test_bad_input_is_one_line_and_exit_2(
    run_dirs: RunDirs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["report", str(tmp_path / "missing"), "--html"], "is not a directory"),
        (["report", str(empty), "--html"], "no results.jsonl and no run directories"),
        (["report", str(run_dirs.single), str(run_dirs.other)], "add --html"),
        (["report", str(run_dirs.single), "--html", str(tmp_path / "no" / "such" / "r.html")],
         "cannot write"),
    ]  # fmt: skip
    for argv, needle in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err
    before = (run_dirs.single / "report.html").read_bytes()
    assert main(["report", str(run_dirs.single), "--html", str(tmp_path / "no" / "r.html")]) == 2
    assert (run_dirs.single / "report.html").read_bytes() == before  # nothing lost


def test_report_command_writes_the_default_file(run_dirs: RunDirs, tmp_path: Path) -> None:
    """The installed command, as a user types it."""
    copy = tmp_path / "copy"
    shutil.copytree(run_dirs.other, copy, ignore=shutil.ignore_patterns("*.html"))
    proc = subprocess.run([sys.executable, "-m", "attnrl", "report", str(copy), "--html"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"Report: {copy / 'report.html'}"
    assert (copy / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_html_through_a_symlink_or_into_a_fifo(run_dirs: RunDirs, tmp_path: Path) -> None:
    """``--html LINK`` writes the file LINK points to and keeps the link; ``--html FIFO``
    writes into the pipe (no temporary file, nothing renamed over it)."""
    page = tmp_path / "kept" / "page.html"
    page.parent.mkdir()
    link = tmp_path / "link.html"
    link.symlink_to(page)
    assert main(["report", str(run_dirs.other), "--html", str(link)]) == 0
    assert link.is_symlink() and page.read_text().startswith("<!DOCTYPE html>")
    fifo = tmp_path / "fifo.html"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    assert main(["report", str(run_dirs.other), "--html", str(fifo)]) == 0
    assert reader.communicate(timeout=60)[0].startswith(b"<!DOCTYPE html>")
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == [
        "fifo.html",
        "kept",
        "link.html",
    ]


def test_write_report_refuses_three_inputs(run_dirs: RunDirs) -> None:
    with pytest.raises(ReportError, match="one directory or two"):
        write_report([run_dirs.single, run_dirs.other, run_dirs.family])


def test_keys_of_newer_run_directories_are_shown(tmp_path: Path) -> None:
    """Per-run cost and instances (issue 13's keys) are read when present: a batch whose runs
    each get their own instance (its spec in the record), priced."""
    new = tmp_path / "new"
    simulated(new, "--preset", "procedural", "--tokens", "4-8", runs=6, seed=3)
    records = load_records(new / "results.jsonl")
    for r in records:
        r["cost_usd"] = 0.25
    (new / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = summary_of(new)
    summary["cost_usd"]["total"] = 0.25 * len(records)  # as a priced model's summary has it
    (new / "summary.json").write_text(json.dumps(summary))
    page = build_report([new])
    s = scan(page)
    assert s.keys["cost"] == f"${0.25 * len(records):,.4f}"
    assert 'aria-label="pass rate by instance size"' in page
    data = json.loads(s.scripts["report-data"])
    hashes = {r["task_hash"] for r in records}
    assert len(hashes) > 1 and hashes <= set(data["expected"])  # and the batch seed's own
    assert {r["usd"] for r in data["rows"]} == {0.25}


def test_turns_section_and_axes_seen_on_real_runs() -> None:
    """A batch with recorded turns gets a Turns section; the run axis is whole numbers, the
    cost axis has a few short labels, and an empty bar chart has no made-up axis."""
    from attnrl.report import plots
    from attnrl.report.data import RunRow
    from attnrl.report.turns import turns_section_parts

    turn = {"latency_s": 2.5, "input_tokens": 1300, "output_tokens": 44,
            "finish_reason": "tool_calls", "retries": 0}  # fmt: skip
    empty = turn | {"output_tokens": 0, "issue": "empty", "cause": "no token"}
    records = [
        {"run_id": 1, "repeats": 1, "category": "no_submission",
         "transcript": [{"role": "assistant", "turn": turn}, {"role": "assistant", "turn": empty}]},
        {"run_id": 2, "repeats": 0, "category": "context_overflow", "transcript": []},
    ]  # fmt: skip
    parts = turns_section_parts(records)
    assert parts is not None
    assert 'data-key="turns">2<' in parts[0] and 'data-key="turns:empty">1<' in parts[0]
    assert 'data-key="repeats">1<' in parts[0] and 'data-key="context_overflow">1<' in parts[0]
    assert turns_section_parts([{"run_id": 1, "transcript": []}]) is None

    def row(i: int, cost: float) -> RunRow:
        return RunRow(i, "failure", "no_submission", False, None, 2, 1.0, 10, 5, cost, {}, {},
                      None, None)  # fmt: skip

    rows = [row(i, 0.000123 * i) for i in range(1, 4)]
    fig = plots.resources_figure(rows)
    fig.draw_without_rendering()
    cost_axis = fig.axes[3]
    labels = [t.get_text() for t in cost_axis.get_xticklabels() if t.get_text()]
    assert 1 < len(labels) <= 5 and all(len(label) <= 8 for label in labels), labels
    pass_svg = plots.pass_rate_svg(rows, {"target_band": [0.1, 0.4]})
    ticks = re.findall(r">(\d+(?:\.\d+)?)</text>", pass_svg)
    assert "1.5" not in ticks and "2.5" not in ticks  # no fractional run numbers
    outcomes = plots.outcomes_svg(rows)  # no bug matched: that chart is empty
    assert "0.04" not in outcomes and "none" in outcomes
