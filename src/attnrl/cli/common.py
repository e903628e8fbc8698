"""Arguments and helpers shared by subcommands: choosing a task, reading input, failing clearly.

Every command that works on a task takes ``--task`` (a registered task, default
``attention``), ``--preset``/``--seed`` and the difficulty knobs (:func:`add_task_arguments`):
any task's knobs as ``--knob NAME=VALUE``, and the attention task's as flags. For the
attention task's generated preset ``procedural`` (the default) the knobs
are its :class:`~attnrl.tasks.attention.procedural.ProceduralConfig`;
for a fixed preset (``seed-doc``,
``seed-doc-text``)
only the knobs that keep its data are accepted: ``--policy``, ``--tolerance-scale``,
``--mask``, ``--[no-]position-encoding``, ``--[no-]residual``, ``--[no-]layer-norm`` and
``--heads 1`` (one head over every column, the seed's "single head" simplification);
``--tokens``, ``--d-model`` and other head counts are a clear usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnrl.task.registry import DEFAULT_TASK, TaskPlugin, UnknownTask, get_plugin, task_names
from attnrl.tasks.attention import presets
from attnrl.tasks.attention.presets import DEFAULT_PRESET, GAMEABLE, PROCEDURAL, preset_names
from attnrl.tasks.attention.spec import ADEQUACY_LEVELS, MaskSpec

if TYPE_CHECKING:
    from attnrl.task.base import Spec, Task

PRESET_NAME = PROCEDURAL

__all__ = [
    "KNOB_DESTS",
    "UsageError",
    "add_knob_flag",
    "add_task_arguments",
    "add_task_flag",
    "ladder_with_knobs",
    "plugin_from_args",
    "task_maker",
    "dump_json",
    "fail",
    "instance_seed",
    "out_path",
    "parse_mask",
    "print_notes",
    "check_sandbox",
    "check_seed",
    "read_bytes",
    "read_input",
    "spec_factory",
    "task_from_args",
]

EXIT_USAGE = 2

KNOB_DESTS = presets.DIFFICULTY_KNOBS
"""The ``argparse`` destinations of the knob flags; None means "the preset's default"."""


class UsageError(Exception):
    """An operator error (bad flag value, unreadable file): message to stderr, exit 2."""


def out_path(text: str) -> Path:
    """An argparse type for ``--out``: a path, never an empty one (``--out ""`` would be the
    current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r} (empty)")
    return Path(text)


def _int_range(text: str) -> tuple[int, int]:
    """``N`` or ``MIN-MAX`` (inclusive) as a pair of ints."""
    lo_text, sep, hi_text = text.partition("-")
    try:
        lo = int(lo_text)
        hi = int(hi_text) if sep else lo
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected N or MIN-MAX (non-negative integers), got {text!r}"
        ) from None
    if lo > hi:
        raise argparse.ArgumentTypeError(f"MIN-MAX needs MIN <= MAX, got {text!r}")
    return lo, hi


MIN_WINDOW = 2
"""The narrowest sliding window: with 1 each query sees only itself and scores never matter."""


def parse_mask(text: str) -> MaskSpec:
    """``causal``, ``none`` or ``window:W`` (an integer W >= 1; procedural needs >= 2)."""
    if text == "causal":
        return MaskSpec("causal")
    if text == "none":
        return MaskSpec("none")
    kind, sep, width = text.partition(":")
    if kind == "window" and sep and width.strip().isdigit() and int(width) >= 1:
        return MaskSpec("sliding_window", int(width))
    raise argparse.ArgumentTypeError(
        f"expected causal, none or window:W with an integer W >= 1 (procedural: W >= "
        f"{MIN_WINDOW}), got {text!r}"
    )


def check_seed(args: argparse.Namespace) -> None:
    """``--seed``: a non-negative integer, the same rule for every command."""
    seed = getattr(args, "seed", None)
    if seed is not None and seed < 0:
        raise UsageError(
            f"--seed must be >= 0, got {seed} (a seed must be an int >= 0 in every command)"
        )


def instance_seed(args: argparse.Namespace) -> int | None:
    """The instance seed of ``--preset``/``--seed``: a seeded preset draws seed 0 when none is
    given (as ``attnrl dataset`` does); a fixed preset takes none."""
    plugin = plugin_from_args(args)
    if args.preset in plugin.seeded_presets:
        return plugin.default_seed if args.seed is None else int(args.seed)
    return args.seed  # type: ignore[no-any-return]


def positive_number(what: str, positive: str) -> Callable[[str], float]:
    """An argparse type for a finite number > 0; ``what``/``positive`` name it in the two
    errors ("expected <what>", "expected <positive>")."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {positive}, got {text!r}")
        return value

    return parse


def percent_band(text: str) -> tuple[float, float]:
    """``LOW,HIGH`` in percent (``10,40``) as fractions; a band given as fractions is refused
    with the percent spelling it meant."""
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two percentages like 10,40, got {text!r}"
        ) from None
    if not 0 <= lo < hi <= 100:
        raise argparse.ArgumentTypeError(f"expected 0 <= low < high <= 100 (percent), got {text!r}")
    if hi <= 1:
        raise argparse.ArgumentTypeError(
            f"the band is in percent: did you mean {100 * lo:g},{100 * hi:g}? got {text!r}"
        )
    return lo / 100, hi / 100


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type for an integer >= ``minimum`` (``--runs``, ``--concurrency``...)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def nonnegative_number(what: str) -> Callable[[str], float]:
    """An argparse type for a finite number >= 0; ``what`` names it in the error."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 <= value < float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what} >= 0, got {text!r}")
        return value

    return parse


temperature = nonnegative_number("a number")
"""A sampling temperature."""
seconds = nonnegative_number("seconds")
"""A finite number of seconds."""


_scale = positive_number("a number", "a positive finite number")


class _Renamed(argparse.Action):
    """Stores the current name of a renamed value (``--preset seed``, ``--policy seed``) and
    keeps its deprecation note in ``namespace.notes`` for :func:`print_notes`."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,  # noqa: ARG002 - argparse's signature
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,  # noqa: ARG002
    ) -> None:
        rename = presets.canonical_preset if self.dest == "preset" else presets.canonical_policy
        value, note = rename(str(values))
        setattr(namespace, self.dest, value)
        if note is not None:
            namespace.notes = [*getattr(namespace, "notes", []), note]


def print_notes(args: argparse.Namespace) -> None:
    """Print (once) the deprecation notes of the flags given, and label a gameable preset."""
    notes = list(getattr(args, "notes", []))
    preset = getattr(args, "preset", None)
    if preset in GAMEABLE and not getattr(args, "gameable_noted", False):
        notes.append(
            f"preset {preset!r} is the seed document's instance and is gameable: "
            f"{GAMEABLE[preset]} (attnrl audit --preset {preset}); fine for reproducing the "
            f"document, not for training or a band verdict (--preset {PRESET_NAME})"
        )
        args.gameable_noted = True
    for note in notes:
        print(f"attnrl: note: {note}", file=sys.stderr)
    args.notes = []


def add_task_flag(parser: argparse.ArgumentParser) -> None:
    """``--task NAME``: which registered task (:mod:`attnrl.task.registry`)."""
    parser.add_argument(
        "--task",
        default=DEFAULT_TASK,
        metavar="NAME",
        help=f"a registered task: {', '.join(task_names())} (default {DEFAULT_TASK}; "
        "attnrl tasks lists them)",
    )


def _knob_pair(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``, the value read as JSON (a bare word as a string)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if isinstance(parsed, list):
        parsed = tuple(parsed)
    return name.strip().replace("-", "_"), parsed


def add_knob_flag(parser: argparse.ArgumentParser, help: str) -> None:
    """``--knob NAME=VALUE`` (repeatable), the value read as JSON."""
    parser.add_argument(
        "--knob", type=_knob_pair, action="append", default=None, metavar="NAME=VALUE", help=help
    )


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """``--task``, ``--preset``, ``--seed`` and the difficulty knobs: which task instance a
    command uses."""
    add_task_flag(parser)
    add_knob_flag(
        parser,
        "a difficulty knob of --task by name, the value as JSON (e.g. --knob heads=3, "
        "--task rope --knob 'dim=[4,8]'); repeatable; attnrl tasks --json lists each task's knobs",
    )
    parser.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        action=_Renamed,
        help=f"task preset: {', '.join(preset_names())} (default {DEFAULT_PRESET}; the "
        "seed-doc instances are gameable, see attnrl presets)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"seed, a non-negative integer: the instance of --preset {PRESET_NAME} (default 0)",
    )
    knobs = parser.add_argument_group(
        "difficulty knobs",
        f"unset knobs keep the preset's default; --tokens, --d-model and --heads other than 1 "
        f"need --preset {PRESET_NAME}, whose instances stay mutation-adequate under every knob",
    )
    for flag, what in (
        ("--heads", f"number of heads, 1-4 ({PRESET_NAME} default 2-4; 1 = single head)"),
        ("--tokens", f"number of tokens, 3-16 ({PRESET_NAME} default 4-12)"),
        ("--d-model", f"model width, 2-16 ({PRESET_NAME} default 3-12)"),
    ):
        knobs.add_argument(flag, type=_int_range, metavar="N|MIN-MAX", help=what)
    knobs.add_argument(
        "--mask",
        type=parse_mask,
        metavar="causal|none|window:W",
        help=f"attention mask: causal, none (no mask, no mask flag) or a sliding window of W "
        f"tokens, W >= 1 (procedural: W >= {MIN_WINDOW})",
    )
    for flag, what in (
        ("--position-encoding", "add pos_emb to Q, K and V (default on)"),
        ("--residual", "final_output = Q_pos + concatenated heads (default off)"),
        (
            "--layer-norm",
            "also grade layer_normalized_output = LayerNorm(final_output) (default off)",
        ),
    ):
        knobs.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=what)
    knobs.add_argument(
        "--policy",
        choices=("strict", "lenient", "seed-doc", *presets.DEPRECATED_POLICIES),
        metavar="{strict,lenient,seed-doc}",
        default=None,
        action=_Renamed,
        help=f"strict: every component; lenient: partial credit (0.5) for the outputs and one "
        f"head's weights; seed-doc: the seed document's grader, partial credit for one head's "
        f"weights alone (seed-doc presets only) (default: {PRESET_NAME} strict, seed-doc "
        f"presets seed-doc)",
    )
    knobs.add_argument(
        "--adequacy",
        choices=ADEQUACY_LEVELS,
        default=None,
        help=f"whole: every catalogued mistake misses the tolerances, made in the whole answer; "
        f"per_head: also each one made in a single head, the others right ({PRESET_NAME} "
        f"only; default whole, which the published seeds were drawn with)",
    )
    knobs.add_argument(
        "--tolerance-scale",
        type=_scale,
        metavar="X",
        help=f"multiply the tolerances (0.1, 0.15, 0.2) by X: < 1 harder, > 1 easier "
        f"({PRESET_NAME}: bounded; a value outside the bounds is refused naming them)",
    )


def _knobs(args: argparse.Namespace) -> dict[str, Any]:
    """The knob flags and ``--knob`` pairs that were given (robust to parsers without them)."""
    flags = {k: v for k in KNOB_DESTS if (v := getattr(args, k, None)) is not None}
    return flags | _pairs(getattr(args, "knob", None))


def _pairs(pairs: list[tuple[str, Any]] | None) -> dict[str, Any]:
    """``--knob`` pairs as knobs (``mask=window:3`` read as ``--mask`` spells it)."""
    given = dict(pairs or ())
    if isinstance(given.get("mask"), str):
        try:
            given["mask"] = parse_mask(given["mask"])
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"--knob mask: {exc}") from None
    return given


def ladder_with_knobs(task: str, pairs: list[tuple[str, Any]] | None) -> tuple[dict[str, Any], ...]:
    """The ladder of ``task`` with ``--knob`` pairs set on every rung (``calibrate``): knobs
    of the task that no rung sets, each rung built once up front so a bad value is a usage
    error before any run."""
    plugin = get_plugin(task)
    ladder = plugin.rungs()
    knobs = _pairs(pairs)
    if not knobs:
        return ladder
    _check_knob_names(plugin, list(knobs))
    set_by_rungs = sorted({name for rung in ladder for name in rung} & set(knobs))
    if set_by_rungs:
        raise UsageError(
            f"--knob {', '.join(set_by_rungs)}: the ladder's rungs set it, and calibrate walks "
            "the rungs; give only knobs no rung sets (e.g. --knob adequacy=per_head)"
        )
    ladder = tuple({**rung, **knobs} for rung in ladder)
    for index, rung in enumerate(ladder):
        try:
            plugin.spec_maker(None, **rung)
        except ValueError as exc:
            raise UsageError(f"--knob on rung {index}: {exc}") from None
    return ladder


def _check_knob_names(plugin: TaskPlugin, names: list[str]) -> None:
    """``--knob NAME=...`` names a knob of the task (:attr:`TaskPlugin.knobs`; a task that
    lists none is left to check its own)."""
    unknown = sorted(set(names) - set(plugin.knobs)) if plugin.knobs else []
    if unknown:
        raise UsageError(
            f"task {plugin.name} has no knob {', '.join(map(repr, unknown))}; its knobs: "
            f"{', '.join(plugin.knobs)} (--knob NAME=VALUE)"
        )


def plugin_from_args(args: argparse.Namespace) -> TaskPlugin:
    """The registered task of ``--task``; a :class:`UsageError` naming the choices otherwise."""
    try:
        return get_plugin(getattr(args, "task", DEFAULT_TASK))
    except UnknownTask as exc:
        raise UsageError(str(exc)) from None


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _flag_names(message: str) -> str:
    """A library message with config field names turned into the flags the operator typed."""
    for dest in KNOB_DESTS:
        message = message.replace(f"ProceduralConfig.{dest}", _flag(dest))
    return message


def spec_factory(args: argparse.Namespace) -> Callable[[int | None], Spec]:
    """Seed -> spec for the task, preset and knob flags of ``args``, validated once up front
    (the task's :attr:`~attnrl.task.registry.TaskPlugin.spec_factory`); every error is a
    :class:`UsageError` that names the flag, not the field."""
    check_seed(args)
    plugin = plugin_from_args(args)
    knobs = _knobs(args)
    _check_knob_names(plugin, [name for name, _ in getattr(args, "knob", None) or ()])
    try:
        factory = plugin.spec_maker(args.preset, **knobs)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"task {plugin.name}: {_flag_names(str(exc))}") from None

    def spec(seed: int | None) -> Spec:
        try:
            made = factory(seed)
        except ValueError as exc:
            raise UsageError(_flag_names(str(exc))) from None
        print_notes(args)  # after the flags proved valid: an error is never preceded by a note
        return made

    return spec


def task_maker(args: argparse.Namespace) -> Callable[[int | None], Task]:
    """Seed -> task of ``--task``/``--preset`` with the knob flags applied."""
    specs, cls = spec_factory(args), plugin_from_args(args).task_type()
    return lambda seed: cls(specs(seed))


def task_from_args(args: argparse.Namespace) -> Task:
    """The task of ``--task``/``--preset``/``--seed`` with the knob flags applied (a seeded
    preset draws seed 0 when no ``--seed`` is given)."""
    return task_maker(args)(instance_seed(args))


def read_input(path: str) -> str:
    """The text of ``path``, or of stdin for ``-`` (a UTF-8 byte order mark is dropped)."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        where = "stdin" if path == "-" else path
        raise UsageError(f"cannot read {where}: it is not UTF-8 text") from None


def read_bytes(path: str) -> bytes:
    """The bytes of ``path``, or of stdin for ``-``; a UsageError naming the path if unreadable."""
    if path == "-":
        if sys.stdin is None:  # started with stdin closed (`<&-`)
            raise UsageError("cannot read stdin: it is closed; pipe the input in, or give a FILE")
        stream = getattr(sys.stdin, "buffer", None)  # a text-only stdin (a StringIO) has none
        try:
            return stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read stdin: {exc.strerror or 'unreadable'}") from None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or 'unreadable'}") from None


def check_sandbox() -> None:
    """The sandbox ``ATTNRL_SANDBOX`` names can be opened (a known backend; Ray installed
    for ``ray``), checked before anything runs; a :class:`UsageError` otherwise."""
    from attnrl.sandbox.select import configured_backend

    try:
        configured_backend()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def dump_json(obj: Any, compact: bool) -> str:
    return json.dumps(obj, separators=(",", ":")) if compact else json.dumps(obj, indent=2)


def fail(message: str) -> int:
    print(f"attnrl: error: {message}", file=sys.stderr)
    return EXIT_USAGE
