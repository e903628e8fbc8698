"""The task registry: tasks are plug-ins found through the ``attnrl.tasks`` entry point group.

A package registers a task with one line of its ``pyproject.toml``::

    [project.entry-points."attnrl.tasks"]
    mytask = "mypackage:PLUGIN"

where ``PLUGIN`` is a :class:`TaskPlugin`. attnrl's own tasks (``attention``, ``rope``) are
registered the same way; when attnrl runs from a source tree without installed metadata they
are still found (:data:`BUILTIN`). Every command that takes ``--task NAME`` asks here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attnrl.task.base import Spec, Task

__all__ = [
    "BUILTIN",
    "DEFAULT_TASK",
    "ENTRY_POINT_GROUP",
    "TaskPlugin",
    "UnknownTask",
    "get_plugin",
    "load_task",
    "task_names",
]

ENTRY_POINT_GROUP = "attnrl.tasks"
DEFAULT_TASK = "attention"
BUILTIN = {"attention": "attnrl.tasks.attention:PLUGIN", "rope": "attnrl.tasks.rope:PLUGIN"}
"""attnrl's own tasks, as its ``pyproject.toml`` registers them (used when the installed
metadata does not list them, e.g. ``PYTHONPATH=src``)."""


class UnknownTask(ValueError):
    """No registered task has this name."""


def _resolve(ref: str) -> Any:
    """``package.module:attr.attr`` -> the object (imported on first use)."""
    module, _, attrs = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for attr in attrs.split(".") if attrs else ():
        obj = getattr(obj, attr)
    return obj


@dataclass(frozen=True)
class TaskPlugin:
    """A registered task: its presets and where its code lives.

    The references (``"module:attr"``) are imported on first use, so listing the tasks (for
    ``--help``) imports no numpy and no grader.
    """

    name: str
    """``--task NAME``: lowercase, no spaces."""
    description: str
    """One line for ``attnrl tasks`` and the CLI help."""
    task_class: str
    """The :class:`~attnrl.task.base.Task` subclass, ``module:Class``; it is built from a spec."""
    spec_factory: str
    """``module:function``: ``(preset, **knobs) -> (seed -> spec)``, raising ValueError that
    names a bad preset or knob up front."""
    spec_from_dict: str
    """``module:function``: ``spec.to_dict()`` output -> the spec (ValueError if it is not one)."""
    presets: tuple[str, ...]
    """The preset names; the first is the default."""
    seeded_presets: frozenset[str]
    """Presets that draw their instance from a seed (the others are fixed instances)."""
    ladder: str | None = None
    """``module:NAME``: the difficulty ladder, knob dicts of the default preset, easy to hard."""
    workload: str | None = None
    """``module:function``: specs of one rung -> a JSON dict of what a solver computes there
    (the calibration card's ``workload``); None: not measured."""
    default_seed: int = 0
    knobs: tuple[str, ...] = field(default=())
    """The difficulty knobs ``spec_factory`` takes (documentation and ``check-task``)."""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"task name {self.name!r}: use letters, digits, '-' or '_'")
        if not self.presets:
            raise ValueError(f"task {self.name!r} lists no presets")
        if not self.seeded_presets <= set(self.presets):
            raise ValueError(f"task {self.name!r}: seeded presets must be among its presets")

    @property
    def default_preset(self) -> str:
        return self.presets[0]

    def task_type(self) -> type[Task]:
        cls = _resolve(self.task_class)
        from attnrl.task.base import Task

        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TypeError(f"task {self.name!r}: {self.task_class} is not an attnrl Task class")
        return cls

    def spec_maker(self, preset: str | None = None, **knobs: Any) -> Callable[[int | None], Spec]:
        """Seed -> spec of ``preset`` with ``knobs`` (checked now)."""
        factory: Callable[..., Callable[[int | None], Spec]] = _resolve(self.spec_factory)
        return factory(preset or self.default_preset, **knobs)

    def task_maker(self, preset: str | None = None, **knobs: Any) -> Callable[[int | None], Task]:
        """Seed -> task of ``preset`` with ``knobs`` (checked now)."""
        specs, cls = self.spec_maker(preset, **knobs), self.task_type()
        return lambda seed: cls(specs(seed))

    def load(self, preset: str | None = None, seed: int | None = None, **knobs: Any) -> Task:
        """One instance; a seeded preset draws :attr:`default_seed` when ``seed`` is None."""
        preset = preset or self.default_preset
        if seed is None and preset in self.seeded_presets:
            seed = self.default_seed
        return self.task_maker(preset, **knobs)(seed)

    def from_dict(self, data: dict[str, Any]) -> Task:
        """The task of a ``spec.to_dict()`` (a dataset row's or a manifest's spec)."""
        return self.task_type()(_resolve(self.spec_from_dict)(data))

    def rungs(self) -> tuple[dict[str, Any], ...]:
        return tuple(_resolve(self.ladder)) if self.ladder else ()

    def measure(self, knobs: dict[str, Any], seeds: Iterable[int]) -> dict[str, Any] | None:
        """The :attr:`workload` of the default preset with ``knobs`` over ``seeds``."""
        if self.workload is None:
            return None
        specs = self.spec_maker(None, **knobs)
        result: dict[str, Any] = _resolve(self.workload)(specs(s) for s in seeds)
        return result


@cache
def _registered() -> dict[str, str]:
    """Name -> ``module:attr`` of every registered task: the built-ins, then the entry points
    of installed packages (a package may not redefine a built-in name)."""
    from importlib.metadata import entry_points

    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN and ep.value != BUILTIN[ep.name]:
            continue  # attnrl's own names are its own
        found.setdefault(ep.name, ep.value)
    return found


def task_names() -> list[str]:
    """Every registered task name (built-ins first)."""
    return list(_registered())


@cache
def get_plugin(name: str) -> TaskPlugin:
    """The registered task ``name``; :class:`UnknownTask` naming the choices otherwise."""
    registered = _registered()
    if name not in registered:
        raise UnknownTask(
            f"unknown task {name!r}; registered tasks: {', '.join(registered)} "
            f"(a package adds one through the {ENTRY_POINT_GROUP!r} entry point group)"
        )
    plugin = _resolve(registered[name])
    if not isinstance(plugin, TaskPlugin) or plugin.name != name:
        raise TypeError(
            f"entry point {name!r} ({registered[name]}) must be an attnrl TaskPlugin named {name!r}"
        )
    return plugin


def load_task(
    name: str | None = None,
    seed: int | None = None,
    *,
    task: str = DEFAULT_TASK,
    card: str | Path | None = None,
    **knobs: Any,
) -> Task:
    """The instance of task ``task`` (default ``attention``), preset ``name`` (the task's
    default when None), drawn from ``seed`` for seeded presets (the task's default seed when
    None), with difficulty ``knobs``.

    ``card`` is a preset card written by ``attnrl calibrate``: its task, preset and knobs are
    used (``name`` is then ignored, and knobs may not be passed too).
    """
    if card is not None:
        from attnrl.stats.card import read_card  # the card format lives with the calibration

        if knobs:
            raise ValueError(f"load_task: pass card= or knobs, not both (got {sorted(knobs)})")
        name, knobs, data = read_card(card)
        task = str(data.get("task", task))
    return get_plugin(task).load(name, seed, **knobs)
