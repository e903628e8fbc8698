"""Diagnosis of a failed submission: which catalogue entry it matches, and its category.

Deterministic: the same submission gives the same diagnosis in every process (every
tie is broken by catalogue or component order, never by set or hash order). A bug
*matches* when the submission would pass every component's tolerance had that bug's output
been the reference. Among matches, one whose mask flag agrees wins, then
the smallest total error in tolerance units. Each wrong component also gets its own
closest bug, so combined mistakes are still named. The submission's own consistency
(final vs its head outputs, weight rows summing to 1, weight on masked keys) is
reported but never changes the pass rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from attnrl.task.grade import Category, Diagnosis
from attnrl.tasks.attention.bugs import Bug, applicable_bugs
from attnrl.tasks.attention.reference import layer_norm
from attnrl.tasks.attention.spec import Component, TaskSpec

__all__ = ["Diagnoser", "Diagnosis"]

Array = npt.NDArray[np.float64]
_ROW_SUM_SLACK = 1e-3


def _safe_float(x: Any) -> float:
    try:
        return float(x)
    except OverflowError:
        return float("inf") if x > 0 else float("-inf")


def _to_array(value: Any) -> Array:
    """A validated matrix as float64; ints too large for a float become +-inf."""
    try:
        return np.asarray(value, dtype=np.float64)
    except OverflowError:
        return np.array([[_safe_float(x) for x in row] for row in value], dtype=np.float64)


@dataclass(frozen=True)
class _BugValues:
    bug: Bug
    arrays: dict[str, Array] | None
    """None when the bug's answer has a different layout (reshape bugs)."""
    shapes: dict[str, tuple[int, ...] | str]


class Diagnoser:
    """Holds each applicable bug's answer for one spec; computed lazily, once."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.components: tuple[Component, ...] = spec.components()
        self._tol = {c.key: spec.tolerance(c) for c in self.components}
        self._bugs: list[_BugValues] | None = None
        self._stacked: tuple[list[Bug], dict[str, Array]] | None = None

    def _bug_values(self) -> list[_BugValues]:
        if self._bugs is None:
            values = []
            for bug in applicable_bugs(self.spec):
                answer = bug.submission(self.spec)
                shapes = {c.key: np.shape(answer[c.key]) for c in self.components}
                same = all(shapes[c.key] == c.shape for c in self.components)
                arrays = (
                    {c.key: np.asarray(answer[c.key], dtype=np.float64) for c in self.components}
                    if same
                    else None
                )
                values.append(_BugValues(bug, arrays, shapes))
            self._bugs = values
        return self._bugs

    # -- invalid answers ---------------------------------------------------------------
    def diagnose_invalid(
        self, category: Category, key: str | None, found: tuple[int, ...] | str | None
    ) -> Diagnosis:
        """A malformed answer: name the layout bug whose shape it has, if any."""
        if key is None or found is None:
            return Diagnosis(category)
        for bv in self._bug_values():
            if bv.arrays is None and bv.shapes.get(key) == found:
                return Diagnosis(category, closest_bug=bv.bug.name)
        return Diagnosis(category)

    # -- well-formed failures ----------------------------------------------------------
    def diagnose(
        self,
        answer: dict[str, Any],
        errors: dict[str, float | None],
        ok: dict[str, bool],
        flag: bool,
    ) -> Diagnosis:
        """Category, closest bug and inconsistencies of a well-formed, failed answer."""
        # a submission may hold values near the float limit: overflow to inf is expected
        with np.errstate(over="ignore", invalid="ignore"):
            return self._diagnose_arrays(
                {c.key: _to_array(answer[c.key]) for c in self.components}, errors, ok, flag
            )

    def _diagnose_arrays(
        self,
        arrays: dict[str, Array],
        errors: dict[str, float | None],
        ok: dict[str, bool],
        flag: bool,
    ) -> Diagnosis:
        finite = all(e is not None for e in errors.values())
        if finite:
            closest, per_component = self._match(arrays, ok, flag)
        else:
            closest, per_component = self._match_non_finite(arrays), {}
        notes = self._inconsistencies(arrays)
        if closest is not None:
            category = closest.category
        elif not finite:
            category = "numerical"
        elif not flag:
            category = "causal_mask"
        else:
            category = self._fallback_category(ok, notes, per_component)
        return Diagnosis(
            category,
            closest_bug=closest.name if closest else None,
            component_bugs=per_component,
            inconsistencies=tuple(notes),
        )

    def _stacks(self) -> tuple[list[Bug], dict[str, Array]]:
        """The same-layout bugs, and per key their answers stacked: ``(n_bugs, rows, cols)``."""
        if self._stacked is None:
            numeric = [bv for bv in self._bug_values() if bv.arrays is not None]
            stacks = (
                {
                    c.key: np.stack([bv.arrays[c.key] for bv in numeric if bv.arrays is not None])
                    for c in self.components
                }
                if numeric
                else {}
            )
            self._stacked = ([bv.bug for bv in numeric], stacks)
        return self._stacked

    def _match(
        self, arrays: dict[str, Array], ok: dict[str, bool], flag: bool
    ) -> tuple[Bug | None, dict[str, str]]:
        """Vectorised over bugs: one numpy expression per component, not per bug."""
        bugs, stacks = self._stacks()
        if not bugs:
            return None, {}
        keys = list(arrays)
        # norm[b, c]: bug b's max error on component c, in units of that component's tolerance
        norm = np.stack(
            [
                np.abs(stacks[k] - arrays[k]).reshape(len(bugs), -1).max(axis=1) / self._tol[k]
                for k in keys
            ],
            axis=1,
        )
        norm[np.isnan(norm)] = np.inf  # a bug whose answer is NaN matches nothing finite
        per_component: dict[str, str] = {}
        for c, key in enumerate(keys):
            if not ok[key] and norm[:, c].min() < 1.0:
                per_component[key] = bugs[int(norm[:, c].argmin())].name
        matching = np.flatnonzero((norm < 1.0).all(axis=1))
        if matching.size == 0:
            return None, per_component
        best = min(
            matching, key=lambda b: (bugs[b].mask_flag != flag, float(norm[b].sum()), int(b))
        )
        return bugs[int(best)], per_component

    def _match_non_finite(self, arrays: dict[str, Array]) -> Bug | None:
        """The bug whose answer has NaN/inf in exactly the same places."""
        holes = {k: ~np.isfinite(a) for k, a in arrays.items()}
        for bv in self._bug_values():
            if bv.arrays is not None and all(
                np.array_equal(holes[k], ~np.isfinite(bv.arrays[k])) for k in arrays
            ):
                return bv.bug
        return None

    def _fallback_category(
        self, ok: dict[str, bool], notes: list[str], per_component: dict[str, str]
    ) -> Category:
        by_name = {bv.bug.name: bv.bug for bv in self._bug_values()}
        categories = [by_name[name].category for name in per_component.values()]
        if categories:
            # the most frequent; a tie goes to the first in component order (never set order,
            # which changes with PYTHONHASHSEED)
            return max(categories, key=lambda c: (categories.count(c), -categories.index(c)))
        if any("sums to" in n for n in notes):
            return "numerical"
        wrong = [c for c in self.components if not ok[c.key]]
        if wrong and all(c.key in ("final_output", "layer_normalized_output") for c in wrong):
            return "dimension"
        return "logic"

    def _inconsistencies(self, arrays: dict[str, Array]) -> list[str]:
        spec = self.spec
        notes: list[str] = []
        visible = spec.mask.visible(spec.n_tokens)
        for h in range(1, len(spec.heads) + 1):
            w = arrays[f"head{h}_attention_weights"]
            sums = w.sum(axis=1)
            for i, s in enumerate(sums):
                if np.isfinite(s) and abs(s - 1.0) > _ROW_SUM_SLACK:
                    notes.append(f"head{h}_attention_weights row {i} sums to {s:.3f}, not 1")
                    break
            leaked = np.abs(np.where(visible, 0.0, w))
            if spec.masked and np.nanmax(leaked, initial=0.0) > _ROW_SUM_SLACK:
                notes.append(
                    f"head{h}_attention_weights puts weight where {spec.mask.masked_condition}"
                )
        concat = np.concatenate(
            [arrays[f"head{h}_output"] for h in range(1, len(spec.heads) + 1)], axis=1
        )
        if spec.residual and "position_encoded_queries" in arrays:
            concat = arrays["position_encoded_queries"] + concat
        gap = float(np.max(np.abs(arrays["final_output"] - concat)))
        if np.isfinite(gap) and not gap < self._tol["final_output"]:
            notes.append(
                f"final_output differs from the submitted head outputs' concatenation by {gap:.3f}"
            )
        if spec.layer_norm:
            ln_gap = float(
                np.max(
                    np.abs(arrays["layer_normalized_output"] - layer_norm(arrays["final_output"]))
                )
            )
            if np.isfinite(ln_gap) and not ln_gap < self._tol["layer_normalized_output"]:
                notes.append(
                    f"layer_normalized_output is not the layer norm of final_output ({ln_gap:.3f})"
                )
        return notes
