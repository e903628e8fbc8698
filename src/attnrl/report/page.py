"""The page: one HTML file with its styles, script, figures and data inline.

Run data travels as JSON in ``<script type="application/json">`` blocks; each run's transcript
is deflated and base64-encoded separately and only inflated (``DecompressionStream``) when a
reader opens that run, so a 10,000-run page parses its table quickly. The script builds every
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

__all__ = ["embed_json", "html_page", "kv_table", "run_payload", "submitted_answer"]


def embed_json(element_id: str, data: Any) -> str:
    """``data`` as a JSON script block that no string in it can close early."""
    text = json.dumps(json_safe(data), separators=(",", ":"), allow_nan=False)
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


def submitted_answer(record: dict[str, Any]) -> Any:
    """The answer of the run's last ``submit_answer`` call, as the harness took it."""
    answer: Any = None
    for message in record.get("transcript") or []:
        for call in message.get("tool_calls") or []:
            if call.get("name") == "submit_answer":
                args = call.get("arguments")
                answer = args.get("answer", args) if isinstance(args, dict) else args
    return answer


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


def _detail(record: dict[str, Any], row: RunRow, batch: Batch) -> str:
    task = task_for(record, batch)
    detail = {
        "message": record.get("message"),
        "stop": record.get("stop"),
        "errors": record.get("errors") or {},
        "tolerances": row.tolerances,
        "diagnosis": record.get("diagnosis"),
        "mask_flag": record.get("mask_flag"),
        "plan": record.get("plan"),
        "intended_category": record.get("intended_category"),
        "answer": submitted_answer(record),
        "expected_hash": task.content_hash if task else None,
        "transcript": record.get("transcript") or [],
    }
    raw = json.dumps(json_safe(detail), separators=(",", ":"), allow_nan=False).encode()
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def run_payload(batches: list[Batch]) -> tuple[list[dict[str, Any]], list[str], dict[str, Any]]:
    """Rows of the runs table, their compressed details (same order) and the expected
    answers by task hash."""
    rows: list[dict[str, Any]] = []
    details: list[str] = []
    expected: dict[str, Any] = {}
    for index, batch in enumerate(batches):
        for task_hash, task in batch.tasks.items():
            expected.setdefault(task_hash, task.reference())
        for record, row in zip(batch.records, batch.rows, strict=True):
            rows.append(_row_json(row, index))
            details.append(_detail(record, row, batch))
    return rows, details, expected


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
