"""Each kind of report opened in headless chromium: the counts the page shows equal
summary.json, a transcript opens, filters and paging work, no console error, no request
beyond the file itself. A screenshot of each is taken (and kept with ATTNRL_SCREENSHOTS=DIR)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from report_dirs import RUNGS, RunDirs, attnrl, summary_of

from attnrl.harness.rundir import load_records


@dataclass
class Opened:
    page: Any
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def key(self, name: str) -> str:
        return str(self.page.locator(f'[data-key="{name}"]').first.text_content()).strip()

    def check_clean(self, path: Path) -> None:
        assert self.console == [], self.console
        assert self.requests == [path.resolve().as_uri()], self.requests


@pytest.fixture
def opener(browser: Any) -> Iterator[Any]:
    pages: list[Any] = []

    def open_report(path: Path) -> Opened:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        pages.append(page)
        opened = Opened(page)
        page.on(
            "console", lambda m: m.type in ("error", "warning") and opened.console.append(m.text)
        )
        page.on("pageerror", lambda e: opened.console.append(f"pageerror: {e}"))
        page.on("request", lambda r: opened.requests.append(r.url))
        page.on("dialog", lambda d: opened.console.append(f"dialog: {d.message}"))
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("#runs-table tbody tr")
        return opened

    yield open_report
    for page in pages:
        page.close()


def screenshot(opened: Opened, tmp_path: Path, name: str) -> None:
    """The top of the page and the open transcript; ATTNRL_SCREENSHOTS=DIR keeps them (the
    README's images come from ``ATTNRL_SCREENSHOTS=docs/img pytest tests/report``)."""
    page, shots = opened.page, []
    shots.append(tmp_path / f"{name}.png")
    page.screenshot(path=str(shots[-1]), clip={"x": 0, "y": 0, "width": 1280, "height": 1500},
                    full_page=True)  # fmt: skip
    box = page.locator("#detail").bounding_box()  # viewport coordinates
    assert box is not None and box["height"] > 200  # the transcript is open and rendered
    top = box["y"] + page.evaluate("window.scrollY")
    shots.append(tmp_path / f"{name}-transcript.png")
    clip = {"x": box["x"], "y": top, "width": box["width"], "height": min(box["height"], 1400)}
    page.screenshot(path=str(shots[-1]), full_page=True, clip=clip)
    keep = os.environ.get("ATTNRL_SCREENSHOTS")
    for shot in shots:
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / shot.name)


def assert_counts(opened: Opened, summary: dict[str, Any], prefix: str = "") -> None:
    for key in ("runs", "passed", "failed", "full_success", "partial_success",
                "infrastructure_errors"):  # fmt: skip
        assert opened.key(prefix + key) == str(summary[key]), key
    assert opened.key(prefix + "pass_rate") == f"{100 * summary['pass_rate']:.1f}%"
    assert opened.key(prefix + "verdict") == summary["verdict"]
    for name, count in summary["categories"].items():
        assert opened.key(f"{prefix}category:{name}") == str(count), name


def open_a_failed_transcript(opened: Opened, category: str = "dimension") -> None:
    page = opened.page
    rows = page.locator("#runs-table tbody tr.fail").filter(has_text=category)
    if category == "causal_mask":  # a graded failure (not mask_flag_false's partial)
        rows = rows.filter(has=page.locator("td.o-failure"))
    row = rows.first
    run_id = row.get_attribute("data-run-id")
    row.click()
    page.wait_for_selector("#detail table.answer")
    detail = page.locator("#detail")
    assert detail.get_attribute("data-run-id") == run_id
    assert "np." in "".join(page.locator("#detail pre.code").all_text_contents())
    assert page.locator("#detail .msg.role-tool").count() >= 1
    text = str(detail.text_content())
    assert "submitted vs expected" in text and "matched bug: " in text
    assert "not recorded" not in str(page.locator("#detail table.answer").text_content())
    assert page.locator("#detail table.answer td table.matrix").count() >= 2
    if category == "causal_mask":  # graded, with values off by more than a tolerance
        assert page.locator("#detail table.answer tr.bad td.bad").count() >= 1


def test_single_batch_report(run_dirs: RunDirs, opener: Any, tmp_path: Path) -> None:
    path = run_dirs.single / "report.html"
    assert f"Report: {path}" in run_dirs.single_stdout  # written by `attnrl run --html`
    summary = summary_of(run_dirs.single)
    opened = opener(path)
    assert_counts(opened, summary)
    assert "SIMULATED" in opened.key("model")
    assert opened.page.locator("figure.plot svg").count() >= 4
    assert str(opened.page.locator("#runs-count").text_content()) == (
        f"{summary['runs']} of {summary['runs']} runs"
    )
    open_a_failed_transcript(opened, "causal_mask")
    screenshot(opened, tmp_path, "report-single")
    opened.check_clean(path)


def test_filters_select_the_runs_summary_counts(run_dirs: RunDirs, opener: Any) -> None:
    summary = summary_of(run_dirs.single)
    opened = opener(run_dirs.single / "report.html")
    page = opened.page
    page.select_option("#f-outcome", "full_success")
    assert str(page.locator("#runs-count").text_content()).startswith(
        f"{summary['full_success']} of"
    )
    outcomes = page.locator("#runs-table tbody td.outcome").all_text_contents()
    assert outcomes and set(outcomes) == {"full_success"}
    page.select_option("#f-outcome", "")
    records = load_records(run_dirs.single / "results.jsonl")
    bug = next(
        r["diagnosis"]["closest_bug"]
        for r in records
        if (r.get("diagnosis") or {}).get("closest_bug")
    )
    page.select_option("#f-bug", bug)
    wanted = sum(
        1
        for r in records
        if (r.get("diagnosis") or {}).get("closest_bug") == bug and not r["passed"]
    )
    assert str(page.locator("#runs-count").text_content()).startswith(f"{wanted} of")
    opened.check_clean(run_dirs.single / "report.html")


def test_family_report_shows_pass_rate_by_size(
    run_dirs: RunDirs, opener: Any, tmp_path: Path
) -> None:
    path = tmp_path / "family.html"
    assert attnrl("report", str(run_dirs.family), "--html", str(path)).strip() == f"Report: {path}"
    opened = opener(path)
    members = sorted(p for p in run_dirs.family.iterdir() if p.is_dir())
    for i, member in enumerate(members):
        s = summary_of(member)
        assert opened.key(f"batch:{i}:runs") == str(s["runs"])
        assert opened.key(f"batch:{i}:passed") == str(s["passed"])
    assert opened.key("pooled:runs") == str(sum(summary_of(m)["runs"] for m in members))
    assert opened.page.locator('svg[aria-label="pass rate by instance size"]').count() == 1
    open_a_failed_transcript(opened)
    screenshot(opened, tmp_path, "report-family")
    opened.check_clean(path)


def test_calibration_report_per_rung(run_dirs: RunDirs, opener: Any, tmp_path: Path) -> None:
    path = tmp_path / "calibration.html"
    attnrl("report", str(run_dirs.calibration), "--html", str(path))
    opened = opener(path)
    assert opened.page.locator("#calibration-card").count() == 1
    assert opened.page.locator("#pass-rate-per-rung svg").count() == 1
    for i, scale in enumerate(RUNGS):
        s = summary_of(run_dirs.calibration / f"rung_{scale}")
        assert opened.key(f"batch:{i}:label") == f"rung_{scale}"
        assert opened.key(f"batch:{i}:runs") == str(s["runs"])
        assert opened.key(f"batch:{i}:pass_rate") == f"{100 * s['pass_rate']:.1f}%"
        lo, hi = s["pass_rate_ci95"]
        assert opened.key(f"batch:{i}:ci95") == f"{100 * lo:.1f}% - {100 * hi:.1f}%"
    # the knob that differs between rungs is a column of the rung table
    assert "position 0.05, weights 0.075, outputs 0.1" in str(
        opened.page.locator("table.batches").text_content()
    )
    open_a_failed_transcript(opened)
    screenshot(opened, tmp_path, "report-calibration")
    opened.check_clean(path)


def test_comparison_report(run_dirs: RunDirs, opener: Any, tmp_path: Path) -> None:
    out = attnrl("report", str(run_dirs.single), str(run_dirs.other), "--html")
    path = run_dirs.single / "compare-other.html"
    assert out.strip() == f"Report: {path}"
    opened = opener(path)
    a, b = summary_of(run_dirs.single), summary_of(run_dirs.other)
    assert opened.key("side:0:pass_rate").endswith(f"({a['passed']}/{a['runs']})")
    assert opened.key("side:1:pass_rate").endswith(f"({b['passed']}/{b['runs']})")
    assert re.fullmatch(r"p = [0-9.e-]+", opened.key("p_value"))
    assert_counts(opened, a, prefix="side:0:sim:")
    assert_counts(opened, b, prefix="side:1:other:")
    page = opened.page
    total = a["runs"] + b["runs"]
    assert str(page.locator("#runs-count").text_content()) == f"{total} of {total} runs"
    assert page.locator("#runs-table tbody tr").count() == 50  # paged
    page.click("#next")
    assert page.locator("#runs-table tbody tr").count() == total - 50
    page.select_option("#f-batch", "1")
    assert str(page.locator("#runs-count").text_content()) == f"{b['runs']} of {total} runs"
    open_a_failed_transcript(opened)
    screenshot(opened, tmp_path, "report-comparison")
    opened.check_clean(path)


def test_model_output_is_shown_as_text_never_run(
    run_dirs: RunDirs, opener: Any, tmp_path: Path
) -> None:
    hostile = tmp_path / "hostile"
    shutil.copytree(run_dirs.other, hostile, ignore=shutil.ignore_patterns("*.html"))
    records = load_records(hostile / "results.jsonl")
    payload = "</script><img src=x onerror=alert(1)><script>alert(2)</script>"
    records[0]["transcript"][1]["text"] = payload
    records[0]["diagnosis"] = {"closest_bug": payload, "inconsistencies": [payload]}
    records[0]["passed"] = False
    (hostile / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    path = tmp_path / "hostile.html"
    attnrl("report", str(hostile), "--html", str(path))
    opened = opener(path)
    page = opened.page
    page.locator(f'#runs-table tbody tr[data-run-id="{records[0]["run_id"]}"]').click()
    page.wait_for_selector("#detail table.answer")
    assert payload in str(page.locator("#detail pre.text").first.text_content())
    assert page.locator("#detail img").count() == 0
    opened.check_clean(path)  # no alert dialog, no request for "x"
