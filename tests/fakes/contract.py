"""The reward contract's cases and their ``attnrl verify --json`` verdicts, shared by the
main suite's contract test (``tests/integrations/test_contract.py``) and the verifiers v1
one (``tests/verifiers_v1/test_v1_contract.py``, in its own environment)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from attnrl.task import Task
from attnrl.task.submission import MAX_SUBMISSION_BYTES, canonical_size

__all__ = [
    "BROKEN_JSON",
    "Case",
    "contract_cases",
    "size_cases",
    "submit_arguments",
    "verify_all",
]

BROKEN_JSON = '{"position_encoded_queries": [[1.1, 0.5, -0.3], [0.3, 0.0'


@dataclass(frozen=True)
class Case:
    name: str
    submission: Any = None
    raw: str | None = None
    """Text that is not JSON, used verbatim where the submission would go."""

    @property
    def text(self) -> str:
        return self.raw if self.raw is not None else json.dumps(self.submission)


def contract_cases(task: Task) -> list[Case]:
    ref = task.reference()
    missing = {k: v for k, v in ref.items() if k != "final_output"}
    nan_row = [[math.nan] * len(row) for row in ref["head1_output"]]
    return [
        Case("reference", ref),
        *(Case(f"bug:{bug.name}", bug.submission(task.spec)) for bug in task.bugs()),
        Case("missing_key", missing),
        Case("string_flag", ref | {"causal_mask_applied": "true"}),
        Case("nan", ref | {"head1_output": nan_row}),
        Case("bad_json", raw=BROKEN_JSON),
        *size_cases(task),
    ]


def size_cases(task: Task) -> list[Case]:
    """The answer size limit from both sides: the reference padded to exactly the limit (its
    JSON text, with json.dumps' spaces, is longer: the limit is on the canonical encoding),
    and with the issue's 2 MB extra field. Adapters get the object, ``verify`` the text."""
    ref = task.reference()
    base = canonical_size(ref | {"pad": ""})
    return [
        Case("at_size_limit", ref | {"pad": "x" * (MAX_SUBMISSION_BYTES - base)}),
        Case("over_size_limit", ref | {"pad": "x" * (2 * MAX_SUBMISSION_BYTES)}),
    ]


def submit_arguments(case: Case) -> Any:
    """What a tool-calling model sends: ``{"answer": ...}``, or unparseable arguments."""
    return case.raw if case.raw is not None else {"answer": case.submission}


_VERIFY_MANY = """
import contextlib, io, json, sys
from attnrl.cli import main
out = []
for text in json.load(sys.stdin):
    sys.stdin, buf = io.StringIO(text), io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["verify", "--preset", "seed-doc", "--json", "-"])
    out.append(json.loads(buf.getvalue()) | {"exit_code": code})
sys.__stdout__.write(json.dumps(out))
"""


def verify_all(cases: list[Case]) -> list[dict[str, Any]]:
    """``attnrl verify --preset seed-doc --json -`` of every case (the seed-doc instance: its
    policy pays 0.5 too, so the cases span every reward): the CLI's own entry point, in one
    child process for all cases (the CLI takes seconds to start)."""
    proc = subprocess.run(
        [sys.executable, "-c", _VERIFY_MANY],
        input=json.dumps([c.text for c in cases]),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    return results
