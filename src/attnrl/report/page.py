"""The page: one HTML file with its styles, script, figures and data inline.

Run data travels as JSON in ``<script type="application/json">`` blocks; the runs' details
(transcripts) are deflated and base64-encoded in blocks of :data:`CHUNK` runs and a block is
only inflated (``DecompressionStream``) when a reader opens one of its runs, so a 10,000-run
page parses its table quickly. The script builds every
element from data with ``textContent``: model output is never parsed as HTML.
"""

from __future__ import annotations

import base64
import html
import json
import zlib
from importlib import resources
from typing import Any

from attnrl.harness.rundir import json_safe
from attnrl.report.data import Batch, RunRow, task_for

__all__ = ["CHUNK", "embed_json", "html_page", "kv_table", "run_payload"]

CHUNK = 32
"""Runs per compressed block of details; opening a run inflates its block (~100 KB)."""


def _dumps(data: Any) -> str:
    """Compact JSON that a browser parses: non-finite floats spelled as strings (records
    already are; the walk is only paid for data that needs it)."""
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(json_safe(data), separators=(",", ":"), allow_nan=False)


def embed_json(element_id: str, data: Any) -> str:
    """``data`` as a JSON script block that no string in it can close early."""
    text = _dumps(data)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def kv_table(pairs: list[tuple[str, Any]], css: str = "kv") -> str:
    """A two-column table of labelled values (escaped); a value may carry a data-key."""
    rows = []
    for label, value in pairs:
        key = ""
        if isinstance(value, tuple):  # (data-key, value)
            key, value = value
        attr = f' data-key="{html.escape(key)}"' if key else ""
        rows.append(
            f"<tr><th>{html.escape(label)}</th><td{attr}>{html.escape(str(value))}</td></tr>"
        )
    return f'<table class="{css}">{"".join(rows)}</table>'


def _row_json(row: RunRow, batch_index: int) -> dict[str, Any]:
    ratios = [
        v / row.tolerances[k]
        for k, v in row.errors.items()
        if v is not None and row.tolerances.get(k)
    ]
    return {
        "b": batch_index,
        "id": row.run_id,
        "o": row.outcome,
        "c": row.category or "",
        "p": row.passed,
        "bug": row.bug or "",
        "s": row.steps,
        "t": row.tokens_in + row.tokens_out,
        "d": row.duration_s,
        "usd": row.cost_usd,
        "r": max(ratios) if ratios else None,
    }


def _detail(record: dict[str, Any], row: RunRow, batch: Batch, prompts: dict[str, str]) -> Any:
    """What the viewer shows of one run; a prompt equal to its task's is sent once per task."""
    task = task_for(record, batch)
    transcript = record.get("transcript") or []
    first = transcript[0] if transcript and isinstance(transcript[0], dict) else {}
    if task and first == {"role": "user", "text": task.prompt}:
        prompts.setdefault(task.content_hash, task.prompt)
        transcript = [{"role": "user", "prompt_of": task.content_hash}, *transcript[1:]]
    return {
        "message": record.get("message"),
        "stop": record.get("stop"),
        "errors": record.get("errors") or {},
        "tolerances": row.tolerances,
        "diagnosis": record.get("diagnosis"),
        "mask_flag": record.get("mask_flag"),
        "repeats": record.get("repeats"),
        "plan": record.get("plan"),
        "intended_category": record.get("intended_category"),
        "expected_hash": task.content_hash if task else None,
        "transcript": transcript,
    }


def _pack(details: list[Any]) -> list[str]:
    """Deflated, base64-encoded chunks of :data:`CHUNK` runs: neighbouring runs share most
    of their text, which one deflate stream finds and 10,000 separate ones would not."""
    return [
        base64.b64encode(zlib.compress(_dumps(details[i : i + CHUNK]).encode(), 6)).decode()
        for i in range(0, len(details), CHUNK)
    ]


def run_payload(batches: list[Batch]) -> tuple[dict[str, Any], list[str]]:
    """The runs table's data (rows, expected answers and prompts by task hash) and the
    compressed details, :data:`CHUNK` runs a chunk in row order."""
    rows: list[dict[str, Any]] = []
    details: list[Any] = []
    expected: dict[str, Any] = {}
    prompts: dict[str, str] = {}
    for index, batch in enumerate(batches):
        for task_hash, task in batch.tasks.items():
            expected.setdefault(task_hash, task.reference())
        for record, row in zip(batch.records, batch.rows, strict=True):
            rows.append(_row_json(row, index))
            details.append(_detail(record, row, batch, prompts))
    data = {"rows": rows, "expected": expected, "prompts": prompts, "chunk": CHUNK}
    return data, _pack(details)


def _asset(name: str) -> str:
    return (resources.files("attnrl.report") / "static" / name).read_text(encoding="utf-8")


def html_page(title: str, body: str, data: dict[str, Any], details: list[str]) -> str:
    """The whole document; ``data`` and ``details`` feed the runs table and its viewer."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{_asset('report.css')}</style></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n"
        f"{embed_json('report-data', data)}\n"
        f"{embed_json('report-transcripts', details)}\n"
        f"<script>{_asset('report.js')}</script>\n</body></html>\n"
    )
