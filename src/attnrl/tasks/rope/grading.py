"""Grading a RoPE submission: parse, check shapes and numbers, measure errors, decide.

Never raises on any input. Strict policy: every component within the tolerance (max absolute
error, strictly less than) earns reward 1, anything else 0. A failed submission is matched
against the catalogue (the entry whose answer it reproduces names the category).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from attnrl.task.grade import Category, Diagnosis, Grade
from attnrl.task.submission import InvalidSubmission as _Invalid
from attnrl.task.submission import json_kind, parse_submission
from attnrl.tasks.rope.catalogue import applicable
from attnrl.tasks.rope.reference import forward
from attnrl.tasks.rope.spec import RopeSpec, shapes

__all__ = ["RopeGrader"]


def _matrix(value: Any, key: str, shape: tuple[int, int]) -> np.ndarray[Any, Any]:
    rows, cols = shape
    if not isinstance(value, list) or len(value) != rows:
        got = f"{len(value)} rows" if isinstance(value, list) else json_kind(value)
        raise _Invalid(f"{key} must be a list of {rows} rows of {cols} numbers, got {got}")
    for row in value:
        if not isinstance(row, list) or len(row) != cols:
            raise _Invalid(f"{key} must have shape ({rows}, {cols}): a row is not {cols} numbers")
        for x in row:
            if isinstance(x, bool) or not isinstance(x, int | float):
                raise _Invalid(f"{key} must hold numbers only, got {json_kind(x)}")
    try:
        return np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise _Invalid(f"{key} holds an integer too large for a float") from None


class RopeGrader:
    """Built once per spec (the reference and the catalogue's answers computed once)."""

    def __init__(self, spec: RopeSpec) -> None:
        self.spec = spec
        self.shapes = shapes(spec)
        self.reference = forward(spec)
        self._entries = [(b, b.submission(spec)) for b in applicable(spec)]

    def grade(self, raw: Any) -> Grade:
        try:
            return self._grade(raw)
        except _Invalid as exc:
            errors: dict[str, float | None] = dict.fromkeys(self.shapes)
            return Grade(False, "invalid", f"INVALID: {exc}", "format", errors, 0.0)

    def _errors(self, answer: dict[str, Any]) -> dict[str, float | None]:
        errors: dict[str, float | None] = {}
        for key, shape in self.shapes.items():
            with np.errstate(all="ignore"):
                diff = np.abs(_matrix(answer[key], key, shape) - self.reference[key])
            worst = float(diff.max())
            errors[key] = worst if math.isfinite(worst) else None
        return errors

    def _grade(self, raw: Any) -> Grade:
        answer = parse_submission(raw)
        missing = [k for k in self.shapes if k not in answer]
        if missing:
            raise _Invalid(f"missing keys: {', '.join(missing)}")
        extra = sorted(set(answer) - set(self.shapes))
        if extra:
            raise _Invalid(f"unexpected keys: {', '.join(extra[:5])}")
        errors = self._errors(answer)
        tol = self.spec.tolerance
        wrong = [k for k, e in errors.items() if e is None or not e < tol]
        shown = ", ".join(f"{k}={'nan' if e is None else f'{e:.3g}'}" for k, e in errors.items())
        if not wrong:
            return Grade(True, "full_success", f"SUCCESS: RoPE. Errors: {shown}", None, errors, 1.0)
        diagnosis = self._diagnose(answer)
        return Grade(
            False,
            "failure",
            f"FAILURE: outside tolerance {tol:g}: {', '.join(wrong)}. Errors: {shown}",
            diagnosis.category,
            errors,
            0.0,
            diagnosis,
        )

    def _diagnose(self, answer: dict[str, Any]) -> Diagnosis:
        """The first catalogue entry whose answer the submission reproduces (catalogue order:
        deterministic), and per wrong component the first entry matching it."""
        tol = self.spec.tolerance
        subs = {k: np.asarray(answer[k], dtype=np.float64) for k in self.shapes}

        def close(key: str, value: Any) -> bool:
            with np.errstate(all="ignore"):
                return bool(np.all(np.abs(subs[key] - np.asarray(value)) < tol))

        closest: str | None = None
        category: Category = "numerical"
        per_component: dict[str, str] = {}
        for bug, bug_answer in self._entries:
            matches = [k for k in self.shapes if close(k, bug_answer[k])]
            if closest is None and len(matches) == len(self.shapes):
                closest, category = bug.name, bug.category
            for k in matches:
                if not close(k, self.reference[k]):
                    per_component.setdefault(k, bug.name)
        return Diagnosis(category, closest, per_component)
