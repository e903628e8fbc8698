"""A task family: which instance each run of a batch gets.

For a seeded preset a pass rate over one instance measures that draw, not the family, so by
default every run gets its own instance, drawn deterministically from the batch seed and the
run id (so ``--resume`` re-runs a missing run on the same instance). A fixed preset, or
``fixed=True``, gives every run the same instance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from attnrl.task.base import Task

__all__ = ["FAMILY_PROBE_SEEDS", "TaskFamily", "instance_seed"]

FAMILY_PROBE_SEEDS = (0, 1, 2)
"""The family hash digests the instances of these seeds: same knobs, same hash."""


def instance_seed(batch_seed: int, run_id: int) -> int:
    """The instance seed of run ``run_id`` in a batch seeded ``batch_seed`` (31 bits of a
    SHA-256, so batches with nearby seeds do not share instances)."""
    digest = hashlib.sha256(f"attnrl-family:{batch_seed}:{run_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


class TaskFamily:
    """The instances of a batch: ``task(run_id)`` and ``seed_of(run_id)``."""

    def __init__(
        self,
        factory: Callable[[int | None], Task],
        seed: int | None,
        *,
        seeded: bool,
        fixed: bool = False,
    ) -> None:
        """``factory`` maps an instance seed to a task (:meth:`TaskPlugin.task_maker`);
        ``seeded``: the preset draws instances (otherwise it is fixed whatever ``fixed`` says)."""
        self.per_run = seeded and not fixed
        self.seed = seed
        self._factory = factory
        self._tasks: dict[int | None, Task] = {}
        self.base = self._task_for_seed(seed if seeded else None)
        """The instance of the batch seed itself (its prompt is shown by ``--estimate``)."""

    @classmethod
    def of(cls, task: Task) -> TaskFamily:
        """The family of one fixed task (every run gets ``task``)."""
        family = cls(lambda _seed: task, task.spec.seed, seeded=False)
        family.base = task
        family._tasks = {task.spec.seed: task}
        return family

    def _task_for_seed(self, seed: int | None) -> Task:
        if seed not in self._tasks:
            self._tasks[seed] = self._factory(seed)
        return self._tasks[seed]

    def seed_of(self, run_id: int) -> int | None:
        """The instance seed of ``run_id`` (the batch seed when instances are fixed)."""
        if not self.per_run:
            seed: int | None = self.base.spec.seed
            return seed
        return instance_seed(0 if self.seed is None else self.seed, run_id)

    def task(self, run_id: int) -> Task:
        """Run ``run_id``'s task (built once per instance)."""
        if not self.per_run:
            return self.base
        seed = self.seed_of(run_id)
        task = self._task_for_seed(seed)
        if len(self._tasks) > 4096:  # a long batch: keep the memory of the cache bounded
            self._tasks = {self.base.spec.seed: self.base, seed: task}
        return task

    @property
    def family_hash(self) -> str:
        """The instance's content hash when fixed; for a drawn family a digest of the
        instances at :data:`FAMILY_PROBE_SEEDS`, which changes with any knob."""
        if not self.per_run:
            return self.base.content_hash
        hashes = "|".join(self._task_for_seed(s).content_hash for s in FAMILY_PROBE_SEEDS)
        return hashlib.sha256(f"family|{hashes}".encode()).hexdigest()
