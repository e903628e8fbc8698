"""The HTML report: one self-contained page per run directory, collection or comparison.

``write_report([DIR])`` reports on one run directory or a directory of them (``--batches``
output, calibration rungs); ``write_report([DIR1, DIR2])`` compares two. The page works
offline and alone: styles, script, figures (inline SVG) and data are in the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from attnrl.harness.rundir import write_atomic
from attnrl.report.curriculum import curriculum_section
from attnrl.report.data import Batch, Collection, ReportError, load_input
from attnrl.report.page import html_page, run_payload
from attnrl.report.views import batch_sections, collection_sections, comparison_sections

__all__ = ["REPORT_FILE", "ReportError", "build_report", "default_output", "write_report"]

REPORT_FILE = "report.html"

RUNS_SECTION = """<section id="runs"><h2>Runs</h2>
<div class="filters">
<label id="f-batch-label">batch <select id="f-batch"></select></label>
<label>outcome <select id="f-outcome"></select></label>
<label>category <select id="f-category"></select></label>
<label>matched bug <select id="f-bug"></select></label>
<span id="runs-count"></span></div>
<table id="runs-table"><thead><tr><th>run</th><th class="col-batch">batch</th><th>outcome</th>
<th>category</th><th>matched bug</th><th>steps</th><th>tokens</th><th>duration</th><th>cost</th>
<th title="largest component error divided by its tolerance; below 1 is within">worst
error / tolerance</th></tr></thead><tbody></tbody></table>
<div class="pager"><button id="prev" type="button">previous</button><span id="page"></span>
<button id="next" type="button">next</button></div>
<p class="hint">Click a run to open its transcript.</p></section>
<div id="detail" hidden><button id="detail-close" type="button">close</button>
<div id="detail-body"></div></div>"""


def default_output(inputs: Sequence[Path]) -> Path:
    """``DIR/report.html``; for a comparison ``DIR1/compare-<DIR2 name>.html``."""
    if len(inputs) == 1:
        return inputs[0] / REPORT_FILE
    return inputs[0] / f"compare-{inputs[1].resolve().name}.html"


def _title(inputs: Sequence[Collection]) -> str:
    if len(inputs) == 2:
        return f"attnrl report: {inputs[0].path.name} vs {inputs[1].path.name}"
    return f"attnrl report: {inputs[0].path.name}"


def _label(collection: Collection, batch: Batch, comparing: bool) -> str:
    """How the runs table names a batch: by its directory, under its input's when compared."""
    if not comparing:
        return batch.label
    name = collection.path.name
    return f"{name}/{batch.label}" if collection.is_collection else name


def build_report(inputs: Sequence[Path], band: tuple[float, float] | None = None) -> str:
    """The page for one input or two compared (``band``: recompute verdicts with it)."""
    if not 1 <= len(inputs) <= 2:
        raise ReportError(f"a report takes one directory or two to compare, got {len(inputs)}")
    loaded = [load_input(Path(p), band) for p in inputs]
    if len(loaded) == 2:
        sections = comparison_sections(loaded)
    elif loaded[0].is_collection:
        sections = collection_sections(loaded[0])
    else:
        sections = batch_sections(loaded[0].batches[0])
    curriculum = curriculum_section(loaded[0].path) if len(loaded) == 1 else None
    sections += [curriculum] if curriculum else []
    batches = [b for c in loaded for b in c.batches]
    data, details = run_payload(batches)
    data["batches"] = [_label(c, b, comparing=len(loaded) == 2) for c in loaded for b in c.batches]
    data["page_size"] = 50
    return html_page(_title(loaded), "\n".join(sections) + RUNS_SECTION, data, details)


def write_report(
    inputs: Sequence[Path], out: Path | None = None, band: tuple[float, float] | None = None
) -> Path:
    """Write the page (atomically) and return its path."""
    page = build_report(inputs, band)
    target = out or default_output(inputs)
    try:
        write_atomic(target, page)
    except OSError as exc:
        raise ReportError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
