"""HTML report at scale: time to write the page of a 10,000-run directory, its size, and how
the page behaves in headless chromium (time to a rendered runs table, to an open transcript,
to a filtered table).

The directory is made for real: ``attnrl run --model simulated --runs N`` (offline agents,
real sandbox, every run graded and recorded). The report is written by the command a user
types, ``python -m attnrl report DIR --html`` (interpreter start and imports included).
Targets (issue 15): written in seconds; the page opens without stalling.

Run: python benchmarks/bench_report.py [--runs 10000] [--dir DIR (reused if it has the runs)]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attnrl.cli import main
from attnrl.harness.rundir import RESULTS_FILE, load_records

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def make_runs(out: Path, runs: int) -> None:
    if len(load_records(out / RESULTS_FILE)) >= runs:
        print(f"reusing {out} ({runs} runs)")
        return
    start = time.perf_counter()
    argv = ["run", "--model", "simulated", "--runs", str(runs), "--seed", "0"]
    argv += ["--concurrency", "64", "--out", str(out), "--no-progress"]
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(argv + (["--resume"] if (out / RESULTS_FILE).exists() else []))
    if code != 0:
        sys.exit(f"attnrl run exited {code}")
    print(f"made {runs} simulated runs in {time.perf_counter() - start:.1f} s")


def write(out: Path) -> Path:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "attnrl", "report", str(out), "--html"],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(time.perf_counter() - start)
    page = Path(proc.stdout.strip().removeprefix("Report: "))
    load = os.getloadavg()[0]
    results = (out / RESULTS_FILE).stat().st_size
    print(
        f"attnrl report --html: {min(times):.2f} s best, {max(times):.2f} s worst of 3 "
        f"(results.jsonl {results / 2**20:.1f} MiB -> page {page.stat().st_size / 2**20:.1f} MiB; "
        f"load average {load:.1f} on {os.cpu_count()} CPUs)"
    )
    return page


def browse(page_path: Path) -> None:
    chromium = shutil.which("chromium")
    if not chromium:
        print("chromium not installed (make browser-deps): page timings skipped")
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for attempt in range(3):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            start = time.perf_counter()
            page.goto(page_path.resolve().as_uri())
            page.wait_for_selector("#runs-table tbody tr")
            ready = time.perf_counter() - start
            nav = page.evaluate("performance.now()")
            start = time.perf_counter()
            page.locator("#runs-table tbody tr").nth(3).click()
            page.wait_for_selector("#detail table.answer")
            opened = time.perf_counter() - start
            before = page.locator("#runs-count").text_content()
            start = time.perf_counter()
            page.select_option("#f-outcome", "invalid")
            page.wait_for_function(
                "t => document.querySelector('#runs-count').textContent !== t", arg=before
            )
            filtered = time.perf_counter() - start
            heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0")
            print(
                f"chromium {browser.version}, load {attempt + 1}: runs table in {ready:.2f} s "
                f"({nav / 1000:.2f} s since navigation), transcript opened in {opened:.2f} s, "
                f"filter applied in {filtered:.2f} s, JS heap {heap / 2**20:.0f} MiB"
                + (f", page errors: {errors}" if errors else "")
            )
            page.close()
        browser.close()


def main_() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.dir or Path(tmp) / "runs"
        make_runs(out, args.runs)
        browse(write(out))


if __name__ == "__main__":
    main_()
