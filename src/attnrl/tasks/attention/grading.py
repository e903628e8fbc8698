"""Grading: parse a submission, check shapes, measure errors, decide the outcome.

The grader never raises on any input and never passes garbage. It is built once per
spec (the reference is computed once, flattened) and then checks a submission in a
single pass of plain Python, which is faster than converting small nested lists to
numpy. Diagnosis (which known bug, which category) runs only for failed submissions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import itemgetter
from operator import lt as _lt
from typing import Any, cast

import numpy as np

from attnrl.task.grade import Grade, Outcome
from attnrl.task.submission import (
    MAX_SUBMISSION_BYTES,
    check_size,
    json_kind,
    parse_submission,
)
from attnrl.task.submission import InvalidSubmission as _Invalid
from attnrl.tasks.attention.diagnosis import Diagnoser
from attnrl.tasks.attention.reference import forward, submission
from attnrl.tasks.attention.spec import ANSWER_MASK_FLAG, Component, TaskSpec

__all__ = [
    "Grade",
    "Grader",
    "Outcome",
    "PassRule",
    "pass_rules",
]

_FLOAT_TEXT = 24
"""The longest ``repr`` of a float (``-1.2345678901234567e-308``); NaN/Infinity are shorter."""

_INF = math.inf
_max_per_slice = np.maximum.reduceat
_SHORT_NAMES = {"position": "position_encoding"}


@dataclass(frozen=True)
class PassRule:
    """One passing outcome of a spec's policy, as :meth:`Grader._decide` applies it and the
    prompt states it (``tests/tasks/attention/test_prompt_rules.py`` checks one against the
    other)."""

    outcome: Outcome
    reward: float
    all_of: tuple[str, ...]
    """Components that must all be within tolerance."""
    any_of: tuple[tuple[str, ...], ...]
    """Groups of components of which at least one group must be all within tolerance
    (empty: none needed)."""
    mask_flag: bool
    """Whether ``causal_mask_applied`` must be true."""

    def met(self, ok: dict[str, bool], flag: bool) -> bool:
        """Whether components within tolerance (``ok``) and the flag meet this rule."""
        return (
            (flag or not self.mask_flag)
            and all(ok[k] for k in self.all_of)
            and (not self.any_of or any(all(ok[k] for k in g) for g in self.any_of))
        )


def pass_rules(spec: TaskSpec) -> tuple[PassRule, ...]:
    """The passing outcomes of ``spec.policy``, best first; anything else earns 0.

    ``strict``: every component. ``lenient``: full success as strict; partial success the
    position encoding, the final (and layer-normalized) output, the mask flag and one head's
    weights *and* output, so partial credit needs the outputs computed. ``seed-doc`` (the seed
    document's grader): full success needs the position encoding, every head's weights, the mask
    flag, *at least one* head's output and the final (and layer-normalized) output; partial
    success only the position encoding, the mask flag and at least one head's weights (no
    output at all: which is why it is for the seed-doc presets only).
    """
    comps = spec.components()
    pos = tuple(c.key for c in comps if c.kind == "position")
    weights = tuple(c.key for c in comps if c.kind == "weights")
    head_outputs = tuple(c.key for c in comps if c.kind == "output" and c.head is not None)
    tails = tuple(c.key for c in comps if c.kind == "output" and c.head is None)
    rewards, flag = spec.rewards, spec.masked
    every = PassRule("full_success", rewards.full_success, tuple(c.key for c in comps), (), flag)
    if spec.policy == "strict":
        return (every,)
    if spec.policy == "lenient":
        heads = tuple(zip(weights, head_outputs, strict=True))
        partial = PassRule("partial_success", rewards.partial_success, (*pos, *tails), heads, flag)
        return (every, partial) if len(heads) > 1 else (every,)
    return (
        PassRule(
            "full_success",
            rewards.full_success,
            (*pos, *weights, *tails),
            tuple((k,) for k in head_outputs),
            flag,
        ),
        PassRule(
            "partial_success", rewards.partial_success, pos, tuple((k,) for k in weights), flag
        ),
    )


def _describe_shape(value: Any) -> tuple[int, ...] | str:
    """Best-effort shape of a malformed value, for the error message."""
    if isinstance(value, np.ndarray):
        return tuple(value.shape)
    if not isinstance(value, list | tuple):
        return json_kind(value)
    if not value or not all(isinstance(r, list | tuple) for r in value):
        return (len(value),)
    widths = {len(r) for r in value}
    return (len(value), widths.pop()) if len(widths) == 1 else "ragged"


def _number(x: Any, where: str) -> float:
    """A float from a JSON number; bool, str, None and containers are :class:`_Invalid`."""
    t = type(x)
    if t is float:
        return float(x)
    if t is int:
        try:
            return float(x)
        except OverflowError:
            return _INF
    if isinstance(x, np.floating | np.integer) and not isinstance(x, np.bool_):
        return float(x)
    raise _Invalid(f"{where} is {json_kind(x)}, expected a number")


def _bad_shape(component: Component, value: Any) -> _Invalid:
    found = _describe_shape(value)
    what = f"has shape {found}" if isinstance(found, tuple) or found == "ragged" else f"is {found}"
    return _Invalid(
        f"{component.key} {what}, expected {component.shape}",
        "dimension",
        component.key,
        found,
    )


def _max_error(component: Component, value: Any, expected: tuple[tuple[float, ...], ...]) -> float:
    """Max |submitted - expected| over one matrix; inf/NaN → ``nan``; bad shape → _Invalid.

    The hot path of grading: plain floats take one type check and one subtraction each.
    """
    rows, cols = component.shape
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if (type(value) is not list and type(value) is not tuple) or len(value) != rows:
        raise _bad_shape(component, value)
    worst = 0.0
    finite = True
    for i, (row, expected_row) in enumerate(zip(value, expected, strict=True)):
        if (type(row) is not list and type(row) is not tuple) or len(row) != cols:
            raise _bad_shape(component, value)
        for j, (x, e) in enumerate(zip(row, expected_row, strict=True)):
            d = (x if type(x) is float else _number(x, f"{component.key}[{i}][{j}]")) - e
            if d < 0.0:
                d = -d
            if d > worst:
                worst = d
            elif d != d:  # NaN
                finite = False
    return worst if finite and worst < _INF else math.nan


class Grader:
    """Grades submissions against one spec; build once, call many times."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.components = spec.components()
        ref = submission(spec, forward(spec))
        self._expected = {
            c.key: tuple(tuple(float(x) for x in row) for row in ref[c.key])
            for c in self.components
        }
        self._tol = {c.key: spec.tolerance(c) for c in self.components}
        self._answer_keys = spec.answer_keys()
        self._known_keys = frozenset(self._answer_keys)
        # canonical size of any answer the fast path takes: the answer keys only, booleans
        # and matrices of floats of the stated shapes (a float is at most 24 characters);
        # below the limit, such an answer needs no encoding to be measured
        fast_bound = (
            2
            + sum(len(k) * 6 + 9 for k in self._answer_keys)
            + sum(2 + c.shape[0] * (3 + c.shape[1] * (_FLOAT_TEXT + 1)) for c in self.components)
        )
        self._fast_unsized = fast_bound > MAX_SUBMISSION_BYTES
        comps = self.components
        self._layout = [(c.key, c.shape[0], c.shape[1]) for c in comps]
        named = [("pos", "position_encoded_queries")] if spec.position_encoding else []
        named += [(f"w{c.head}", c.key) for c in comps if c.kind == "weights"]
        named.append(("final", "final_output"))
        if spec.layer_norm:
            named.append(("ln", "layer_normalized_output"))
        self._full_keys = [key for _, key in named]
        # a tuple: every spec names at least one head's weights and the final output
        self._full_values = itemgetter(*self._full_keys)
        # %-formatting: a third faster than str.format for these five floats
        self._full_template = "SUCCESS: Complete multi-head attention. Errors: " + ", ".join(
            (["pos=n/a"] if not spec.position_encoding else [])
            + [f"{label}=%.3f" for label, _ in named]
        )
        self._tol_values = [self._tol[c.key] for c in comps]
        self._expected_flat = tuple(x for c in comps for row in self._expected[c.key] for x in row)
        self._expected_array = np.array(self._expected_flat, dtype=np.float64)
        self._flat_size = len(self._expected_flat)
        self._all_floats = [float] * self._flat_size
        self._slice_keys = tuple(c.key for c in comps)
        sizes = [c.shape[0] * c.shape[1] for c in comps]
        self._slice_starts = np.cumsum([0, *sizes[:-1]], dtype=np.intp)
        self._diagnoser = Diagnoser(spec)
        self._rules = pass_rules(spec)

    def grade(self, raw: Any) -> Grade:
        """The verdict; never raises."""
        try:
            return self._grade(raw)
        except _Invalid as bad:
            return self._invalid(bad)
        except Exception as exc:  # noqa: BLE001 - the grader must never crash a run
            return self._invalid(_Invalid(f"submission could not be graded: {type(exc).__name__}"))

    def _invalid(self, bad: _Invalid) -> Grade:
        diagnosis = self._diagnoser.diagnose_invalid(bad.category, bad.key, bad.found_shape)
        return Grade(
            passed=False,
            outcome="invalid",
            message=f"INVALID: {bad.message}",
            category=bad.category,
            errors={c.key: None for c in self.components},
            reward=0.0,
            diagnosis=diagnosis,
        )

    def _grade(self, raw: Any) -> Grade:
        spec = self.spec
        answer = parse_submission(raw, sized=False)
        extra_keys = not answer.keys() <= self._known_keys
        if extra_keys:
            check_size(answer)
        # keys within the known ones and as many: all there (the common case, no scan)
        missing = (
            [k for k in self._answer_keys if k not in answer]
            if extra_keys or len(answer) != len(self._answer_keys)
            else None
        )
        if missing:
            raise _Invalid(f"missing key{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        flag = True
        if spec.masked:
            flag_value = answer[ANSWER_MASK_FLAG]
            if flag_value is not True and not isinstance(flag_value, bool | np.bool_):
                raise _Invalid(
                    f"{ANSWER_MASK_FLAG} must be a JSON boolean (true/false), "
                    f"got {json_kind(flag_value)}"
                )
            flag = bool(flag_value)
        fast = self._fast_errors(answer)
        if not extra_keys and (fast is None or self._fast_unsized):
            check_size(answer)
        errors: dict[str, float | None]
        if fast is not None and flag and all(map(_lt, fast.values(), self._tol_values)):
            # every component within tolerance: full success under every policy
            # ``fast`` is a fresh dict each call: the Grade keeps it (no copy)
            errors = cast(dict[str, float | None], fast)
            message = self._full_success_message(errors)
            return Grade.passing("full_success", message, errors, spec.rewards.full_success)
        if fast is not None:
            errors = dict(fast)
            ok = {k: e < self._tol[k] for k, e in fast.items()}
        else:
            checked = {
                c.key: _max_error(c, answer[c.key], self._expected[c.key]) for c in self.components
            }
            errors = {k: (None if math.isnan(e) else e) for k, e in checked.items()}
            ok = {k: e is not None and e < self._tol[k] for k, e in errors.items()}
        outcome, message = self._decide(errors, ok, flag)
        passed = outcome in ("full_success", "partial_success")
        if passed:
            reward = (
                spec.rewards.full_success
                if outcome == "full_success"
                else spec.rewards.partial_success
            )
            return Grade.passing(outcome, message, errors, reward)
        diagnosis = self._diagnoser.diagnose(answer, errors, ok, flag)
        return Grade(False, outcome, message, diagnosis.category, errors, 0.0, diagnosis)

    def _fast_errors(self, answer: dict[str, Any]) -> dict[str, float] | None:
        """Per-key max errors when every matrix is a well-shaped list of finite floats.

        None sends the answer down the checked path, which finds and names the problem.
        A few numpy calls over one flat list (numpy's per-call cost paid once, not per
        matrix) are what make the common case cheap.
        """
        flat: list[Any] = []
        extend = flat.extend
        for key, rows, cols in self._layout:
            value = answer[key]
            if type(value) is not list or len(value) != rows:
                return None
            for row in value:
                if type(row) is not list or len(row) != cols:
                    return None
                extend(row)
        if list(map(type, flat)) != self._all_floats:  # a third faster than a set of types
            return None
        # The same IEEE subtraction and abs as the checked path, in a few numpy calls: a
        # matrix's max (NaN propagates through np.maximum) is that of its slice.
        errs = np.fromiter(flat, np.float64, self._flat_size)
        np.subtract(errs, self._expected_array, errs)
        np.absolute(errs, errs)
        worst: list[float] = _max_per_slice(errs, self._slice_starts).tolist()
        total = sum(worst)
        if total != total or total == _INF:
            return None
        return dict(zip(self._slice_keys, worst, strict=False))  # equal lengths by construction

    def _full_success_message(self, errors: dict[str, float | None]) -> str:
        """The seed's success line: ``pos``, each head's weights, ``final`` (and ``ln``)."""
        line: str = self._full_template % self._full_values(errors)
        return line

    def _partial_message(
        self, rule: PassRule, errors: dict[str, float | None], ok: dict[str, bool], pos_text: str
    ) -> str:
        """The seed's partial-success line, naming the best head that meets ``rule``."""
        met = [g for g in rule.any_of if all(ok[k] for k in g)]
        better = min(e for g in met if (e := errors[g[0]]) is not None)
        what = "one head working" if self.spec.policy == "seed-doc" else "outputs and one head"
        return (
            f"SUCCESS: Core concepts correct, {what}. Errors: pos={pos_text}, "
            f"better_head={better:.3f}"
        )

    def _decide(
        self, errors: dict[str, float | None], ok: dict[str, bool], flag: bool
    ) -> tuple[Outcome, str]:
        comps = self.components
        nonfinite = [k for k, e in errors.items() if e is None]
        if nonfinite:
            return "failure", f"FAILURE: non-finite values (NaN or inf) in {', '.join(nonfinite)}"
        pos_key = "position_encoded_queries"
        pos_ok = ok.get(pos_key, True)
        pos_text = f"{errors[pos_key]:.3f}" if pos_key in errors else "n/a"
        for rule in self._rules:
            if rule.met(ok, flag):
                if rule.outcome == "full_success":
                    return "full_success", self._full_success_message(errors)
                return "partial_success", self._partial_message(rule, errors, ok, pos_text)
        if pos_ok and not flag:
            return (
                "partial",
                f"PARTIAL: Good position encoding but missing causal mask. Pos_err: {pos_text}",
            )
        wrong = []
        for c in comps:
            if not ok[c.key]:
                name = _SHORT_NAMES.get(c.kind) or (
                    f"head{c.head}_weights" if c.kind == "weights" else c.key
                )
                wrong.append(f"{name} (err: {errors[c.key]:.3f})")
        if not flag:
            wrong.append("causal_mask_missing")
        return "failure", "FAILURE: Incorrect " + ", ".join(wrong)
