"""The plug-in contract: what every task gives, as one abstract class, :class:`Task`.

A task is a spec (pure data: the instance, its knobs, its tolerances) and a :class:`Task`
built on it that renders the prompt and the tools, computes the reference, grades an answer
(never raising) and lists its catalogue of known bugs and cheap answers. The harness, the
statistics, the adapters and ``attnrl check-task`` use only what is declared here, so a task
registered through the ``attnrl.tasks`` entry point group (:mod:`attnrl.task.registry`)
needs no edit to attnrl.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Protocol

from attnrl.sandbox.limits import SandboxLimits
from attnrl.task.grade import Grade
from attnrl.task.tools import ToolSpec

__all__ = ["AuditEntry", "CatalogueEntry", "Spec", "Task"]


class Spec(Protocol):
    """What the harness reads of any task's spec (a frozen dataclass, in practice)."""

    @property
    def preset(self) -> str: ...
    @property
    def seed(self) -> int | None: ...

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data from which the task's ``spec_from_dict`` rebuilds the spec."""
        ...

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict`: same instance, same hash."""
        ...

    def answer_keys(self) -> tuple[str, ...]:
        """The keys of the answer object, in prompt order."""
        ...


class CatalogueEntry(Protocol):
    """One known wrong answer: an honest bug (``kind == "bug"``) or a cheap answer."""

    @property
    def name(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def kind(self) -> str: ...


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
    """``bug`` or ``cheap`` (:data:`attnrl.task.grade.Kind`)."""
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


class Task(ABC):
    """One task instance, derived entirely from its spec. Subclass it for a new task."""

    task_name: ClassVar[str]
    """The registered name (``attention``, ``rope``): how ``--task`` and manifests name it."""
    title: ClassVar[str]
    """A human title for headings (``TASK ANALYSIS - <title>``)."""
    flag_keys: ClassVar[dict[str, str]] = {}
    """Record field -> answer key of the fields :meth:`answer_flags` reads (for the run log)."""

    def __init__(self, spec: Any, limits: SandboxLimits | None = None) -> None:
        self.spec = spec
        self.limits = limits or SandboxLimits()

    @property
    def name(self) -> str:
        """The preset this instance was drawn from."""
        return str(self.spec.preset)

    @cached_property
    def content_hash(self) -> str:
        return str(self.spec.content_hash())

    def answer_keys(self) -> tuple[str, ...]:
        return self._answer_keys

    @cached_property
    def _answer_keys(self) -> tuple[str, ...]:
        """Asked on every tool call of an episode; the spec is frozen, so computed once."""
        return tuple(self.spec.answer_keys())

    @property
    @abstractmethod
    def prompt(self) -> str:
        """The exact user message the model receives."""

    @property
    @abstractmethod
    def tools(self) -> tuple[ToolSpec, ...]:
        """``python_expression`` and ``submit_answer`` (:mod:`attnrl.task.tools`)."""

    @abstractmethod
    def reference(self) -> dict[str, Any]:
        """The expected submission (a fresh dict of plain lists)."""

    @abstractmethod
    def grade(self, answer: Any) -> Grade:
        """Grade a submission (dict or JSON string); never raises."""

    @abstractmethod
    def tolerances(self) -> dict[str, float]:
        """Each graded numeric component's tolerance (max absolute error, strictly less than),
        as the prompt states it."""

    def tolerance_summary(self) -> str:
        """The tolerances in words, for headings (``attnrl audit``): each distinct value with
        the components it applies to."""
        by_value: dict[float, list[str]] = {}
        for key, tol in self.tolerances().items():
            by_value.setdefault(tol, []).append(key)
        return "; ".join(f"{', '.join(keys)} {tol:g}" for tol, keys in by_value.items())

    def answer_text(self) -> str:
        """The reference as the prompt asks the solver to print it (compact JSON; override to
        round as the prompt says): ``check-task`` holds it to the tool output and a response."""
        return json.dumps(self.reference(), separators=(",", ":"))

    @abstractmethod
    def bugs(self) -> Sequence[CatalogueEntry]:
        """The catalogue entries that apply to this instance (bugs, then cheap answers)."""

    @abstractmethod
    def entry_answer(self, entry: CatalogueEntry) -> dict[str, Any]:
        """What a solver making exactly this mistake (or taking this shortcut) submits."""

    @abstractmethod
    def solution_code(self, bug: str | None = None) -> str:
        """Python (numpy as np) that computes the answer from the prompt's data and prints it
        as JSON: the reference, or with catalogued bug ``bug``. The oracle of an export and
        the code the offline simulated agents run."""

    def instance_size(self) -> tuple[int, int, int] | None:
        """``(tokens, width, heads)`` for the report's size plots; None when not meaningful."""
        return None

    def answer_flags(self, answer: dict[str, Any]) -> dict[str, Any]:
        """Record fields read from a submitted answer (``mask_flag`` for attention): the
        runner adds them to the run's record. None by default."""
        del answer
        return {}

    def instance(self) -> dict[str, Any]:
        """The instance as data (``attnrl instance --json``)."""
        return {
            "task": self.task_name,
            "preset": self.spec.preset,
            "seed": self.spec.seed,
            "answer_keys": list(self.answer_keys()),
            "expected": self.reference(),
            "content_hash": self.content_hash,
            "spec": self.spec.to_dict(),
        }

    def audit(self) -> list[AuditEntry]:
        """Each applicable catalogue entry, its component errors, and whether grading
        rejects it."""
        entries = []
        for bug in self.bugs():
            grade = self.grade(self.entry_answer(bug))
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
