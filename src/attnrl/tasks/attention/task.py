"""The :class:`Task`: one spec with its prompt, tools, reference, grader and audit.

This is the object the CLI, the harness and every adapter use; it is built once per
spec and caches what is expensive (the reference, the grader, the bug answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from attnrl.models.base import ToolSpec
from attnrl.sandbox.limits import SandboxLimits
from attnrl.tasks.attention.bugs import Bug, applicable_bugs
from attnrl.tasks.attention.grading import Grade, Grader
from attnrl.tasks.attention.presets import DEFAULT_PRESET, DEFAULT_SEED, SEEDED_PRESETS, build_spec
from attnrl.tasks.attention.prompt import render_prompt, tool_specs
from attnrl.tasks.attention.reference import forward, submission
from attnrl.tasks.attention.spec import TaskSpec

__all__ = ["AuditEntry", "Task", "load_task"]


@dataclass(frozen=True)
class AuditEntry:
    """How the grading treats one catalogue entry (a bug or a cheap answer)."""

    name: str
    category: str
    description: str
    errors: dict[str, float | None]
    outcome: str
    detected: bool
    """True when the grading does not pass the entry's answer."""
    kind: str = "bug"
    """``bug`` or ``cheap`` (:data:`attnrl.tasks.attention.bugs.Kind`)."""
    reward: float = 0.0
    """What the grading pays the entry's answer (0 when detected)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "category": self.category,
            "description": self.description,
            "errors": self.errors,
            "outcome": self.outcome,
            "detected": self.detected,
            "reward": self.reward,
        }


class Task:
    """One task instance, derived entirely from its :class:`TaskSpec`."""

    def __init__(self, spec: TaskSpec, limits: SandboxLimits | None = None) -> None:
        self.spec = spec
        self.limits = limits or SandboxLimits()

    @property
    def name(self) -> str:
        return self.spec.preset

    @cached_property
    def prompt(self) -> str:
        """The exact user message the model receives."""
        return render_prompt(self.spec, self.limits)

    @cached_property
    def tools(self) -> tuple[ToolSpec, ToolSpec]:
        """``python_expression`` and ``submit_answer``, described from the spec."""
        return tool_specs(self.spec, self.limits)

    @cached_property
    def content_hash(self) -> str:
        return self.spec.content_hash()

    @cached_property
    def _grader(self) -> Grader:
        return Grader(self.spec)

    def reference(self) -> dict[str, Any]:
        """The expected submission (a fresh dict of plain lists)."""
        return submission(self.spec, forward(self.spec))

    def grade(self, answer: Any) -> Grade:
        """Grade a submission (dict or JSON string); never raises."""
        return self._grader.grade(answer)

    def bugs(self) -> tuple[Bug, ...]:
        return applicable_bugs(self.spec)

    def audit(self) -> list[AuditEntry]:
        """Each applicable catalogue entry (bugs, then cheap answers), its component errors, and
        whether grading rejects it."""
        entries = []
        for bug in self.bugs():
            grade = self.grade(bug.submission(self.spec))
            errors = grade.errors
            if grade.outcome == "invalid":
                errors = {k: None for k in errors}
            entries.append(
                AuditEntry(
                    bug.name,
                    bug.category,
                    bug.description,
                    errors,
                    grade.outcome,
                    not grade.passed,
                    bug.kind,
                    grade.reward,
                )
            )
        return entries

    def instance(self) -> dict[str, Any]:
        """The instance as data (``attnrl instance --json``)."""
        s = self.spec
        spec = s.to_dict()
        return {
            "preset": s.preset,
            "seed": s.seed,
            "inputs": {"Q": spec["q"], "K": spec["k"], "V": spec["v"], "pos_emb": spec["pos_emb"]},
            **{
                key: spec[key]
                for key in (
                    "heads",
                    "value_source",
                    "mask",
                    "position_encoding",
                    "residual",
                    "layer_norm",
                    "policy",
                    "tolerances",
                    "rewards",
                )
            },
            "answer_keys": list(s.answer_keys()),
            "expected": self.reference(),
            "content_hash": self.content_hash,
            "spec": spec,
        }


def load_task(
    name: str = DEFAULT_PRESET,
    seed: int | None = None,
    *,
    card: str | Path | None = None,
    **knobs: Any,
) -> Task:
    """The task of preset ``name`` (drawn from ``seed`` for seeded presets, seed
    :data:`~attnrl.tasks.attention.presets.DEFAULT_SEED` when None).

    ``knobs`` are the difficulty knobs of :data:`.presets.DIFFICULTY_KNOBS` (for
    ``procedural``: generation settings, every instance stays mutation-adequate) or other
    spec fields set as given (e.g. ``tolerances=Tolerances(...)``), validated again.
    ``card`` is a preset card written by ``attnrl calibrate``: its preset and knobs are used
    (``name`` is then ignored, and knobs may not be passed too).
    """
    if card is not None:
        from attnrl.stats.card import read_card  # the card format lives with the calibration

        if knobs:
            raise ValueError(f"load_task: pass card= or knobs, not both (got {sorted(knobs)})")
        name, knobs, _ = read_card(card)
    if seed is None and name in SEEDED_PRESETS:
        seed = DEFAULT_SEED
    return Task(build_spec(name, seed, **knobs))
