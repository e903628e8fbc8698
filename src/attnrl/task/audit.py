"""The audit over many instances: how often each catalogue entry earns reward.

:meth:`attnrl.task.Task.audit` grades every applicable entry (bugs and cheap answers) on one
instance; :func:`audit_rates` does it over the instances of many seeds, so ``attnrl audit
--seeds N`` can state a rate ("uniform_weights paid on 0 of 200 instances") rather than one
anecdote, for any preset, knobs or ladder rung.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from attnrl.task.base import Task

__all__ = ["EntryRate", "audit_rates"]


@dataclass(frozen=True)
class EntryRate:
    """One catalogue entry over a set of instances."""

    name: str
    kind: str
    category: str
    instances: int
    """Instances where the entry applies."""
    paid: int
    """Instances where its answer earned reward > 0."""
    full: int
    """Instances where it earned full success."""

    @property
    def rate(self) -> float | None:
        return self.paid / self.instances if self.instances else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "category": self.category,
            "instances": self.instances,
            "paid": self.paid,
            "full_success": self.full,
            "rate": self.rate,
        }


def audit_rates(
    factory: Callable[[int | None], Task], seeds: Iterable[int | None]
) -> list[EntryRate]:
    """Every catalogue entry that applies somewhere (catalogue order, as first met) graded on
    the instance of each seed."""
    counts: dict[str, list[int]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for seed in seeds:
        for entry in factory(seed).audit():
            c = counts.setdefault(entry.name, [0, 0, 0])
            meta.setdefault(entry.name, (entry.kind, entry.category))
            c[0] += 1
            c[1] += entry.reward > 0
            c[2] += entry.outcome == "full_success"
    return [EntryRate(name, *meta[name], *c) for name, c in counts.items()]
