"""The up-front context check against llama.cpp's own ``llama-server``, which reports its
runtime context (``GET /props``) and counts a chat request's tokens
(``POST /v1/chat/completions/input_tokens``): the line says so before the first request,
names the runs that will not fit, and the server's own refusals then agree with it.
(llama-cpp-python's server, which reports no length, is checked in test_real_model.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from test_real_model import COMMON, MODEL, OVERFLOW_KNOBS, records, show_figures

from conftest import LLAMA_N_CTX, Server, attnrl

HEAD = f"Context: the server reports {LLAMA_N_CTX:,} tokens (llama.cpp GET /props); "


def test_the_line_flags_the_runs_whose_prompt_exceeds_n_ctx(
    llama_server: Server, tmp_path: Path
) -> None:
    out = tmp_path / "over"
    done = attnrl(
        "run", "--model", MODEL, "--base-url", llama_server.base_url, "--preset", "procedural",
        *OVERFLOW_KNOBS, "--runs", "2", "--concurrency", "2", "--max-steps", "2", *COMMON,
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]  # counted, nothing to re-run
    line = done.stdout.splitlines()[0]
    print(f"\n[llama-server, over] {line}")  # noqa: T201 - the tier's figures
    assert line.startswith(HEAD + "2 of 2 runs' prompts exceed it (largest ")
    assert "counted by the server): still sent (runs 1, 2)" in line
    recs = records(out)
    assert [r["category"] for r in recs] == ["context_overflow"] * 2
    refused = []
    for r in recs:
        found = re.search(
            rf"request \((\d+) tokens\) exceeds the available context size \({LLAMA_N_CTX}",
            r["message"],
        )
        assert found, r["message"]
        refused.append(int(found.group(1)))
    context = json.loads((out / "run.json").read_text())["context"]
    assert context["over"] == [1, 2] and context["context_tokens"] == LLAMA_N_CTX
    assert context["largest_prompt"] == max(refused)  # the check counted what the server did
    summary = json.loads((out / "summary.json").read_text())
    assert summary["context_overflow"] == 2 and summary["infrastructure_errors"] == 0


def test_the_line_says_a_prompt_that_fits_fits(llama_server: Server, tmp_path: Path) -> None:
    out = tmp_path / "fits"
    done = attnrl(
        "run", "--model", MODEL, "--base-url", llama_server.base_url, "--preset", "seed-doc",
        "--runs", "1", "--max-steps", "1", *COMMON, "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = done.stdout.splitlines()[0]
    print(f"\n[llama-server, fits] {line}")  # noqa: T201 - the tier's figures
    found = re.fullmatch(
        re.escape(HEAD)
        + r"every run's prompt fits \(largest ([\d,]+) tokens; counted by the server\)",
        line,
    )
    assert found, line
    counted = int(found.group(1).replace(",", ""))
    first_turn = records(out)[0]["transcript"][1]["turn"]
    assert first_turn["input_tokens"] == counted  # what the server then billed for that prompt
    show_figures("llama-server seed-doc", out)
