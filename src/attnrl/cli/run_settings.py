"""What an ``attnrl run`` batch is made with, as recorded in ``run.json``, and ``--resume``.

A resumed directory is continued with exactly the settings it was made with: every setting
is restored from ``run.json``, so the user never repeats the original flags. A flag given
again with another value is refused, naming the flag and both values; a larger ``--runs``
extends the batch (``run.json`` never shrinks); ``--concurrency``, ``--verbose``,
``--no-progress`` and ``--simulated-delay`` are free (they change how, not what, is run).

``--base-url`` is recorded redacted (:func:`~attnrl.models.credentials.redact_url`: its user
information and query values are never written), and compared redacted: the same URL given
again matches whatever credentials it carries. A recorded URL that had credentials cannot be
restored from ``run.json``: resuming it needs ``--base-url`` again.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from attnrl.cli.common import KNOB_DESTS, UsageError
from attnrl.harness.rundir import RESULTS_FILE, RunDirError, read_manifest
from attnrl.models.credentials import REDACTED, redact_url
from attnrl.tasks.attention.spec import MaskSpec

__all__ = ["OPTION_DESTS", "knobs_json", "options_json", "restore_settings"]

OPTION_DESTS = (
    "base_url",
    "max_tokens",
    "temperature",
    "retries",
    "retry_delay",
    "no_cache_prompt",
    "fixed_instance",
    "stop_when_decided",
    "max_cost",
)
"""Provider options recorded under ``options`` in ``run.json`` (never a key)."""

_TOP_DESTS = {  # dest -> its key in run.json
    "model": "model",
    "preset": "preset",
    "seed": "seed",
    "runs": "runs",
    "max_steps": "max_steps",
    "target_band": "band",
    "batches": "batches",
}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def mask_text(mask: MaskSpec) -> str:
    """A mask as its ``--mask`` flag value."""
    return f"window:{mask.window}" if mask.kind == "sliding_window" else mask.kind


def _encode(value: Any) -> Any:
    """A flag's parsed value as it is written to ``run.json``."""
    if isinstance(value, MaskSpec):
        return mask_text(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _decode(dest: str, value: Any) -> Any:
    """A ``run.json`` value back into what the flag's parser would have produced."""
    from attnrl.cli.common import parse_mask

    if value is None:
        return None
    if dest == "mask":
        return parse_mask(str(value))
    if dest in ("heads", "tokens", "d_model", "target_band") and isinstance(value, list):
        return tuple(value)
    return value


def knobs_json(args: argparse.Namespace) -> dict[str, Any]:
    """The knob flags in force, as JSON (only the ones set: unset keeps the preset's)."""
    return {k: _encode(v) for k in KNOB_DESTS if (v := getattr(args, k, None)) is not None}


def _option(dest: str, value: Any) -> Any:
    """An option as ``run.json`` keeps it: a base URL redacted, the rest :func:`_encode`-d."""
    if dest == "base_url" and value:
        return redact_url(str(value))
    return _encode(value)


def options_json(args: argparse.Namespace) -> dict[str, Any]:
    return {k: _option(k, getattr(args, k)) for k in OPTION_DESTS}


def _stored(manifest: dict[str, Any]) -> dict[str, Any]:
    """dest -> encoded value of every setting ``run.json`` records."""
    out = {dest: manifest[key] for dest, key in _TOP_DESTS.items() if key in manifest}
    out.setdefault("batches", 1)
    knobs = manifest.get("knobs") or {}
    for dest in KNOB_DESTS:
        out[dest] = knobs.get(dest)
    for dest, value in (manifest.get("options") or {}).items():
        if dest in OPTION_DESTS:
            out[dest] = value
    return out


def _as_flag(dest: str, value: Any) -> str:
    """A setting as the flag that gives it: ``--heads 3``, ``--no-residual``, ``--target-band
    10,40``."""
    flag = _flag(dest)
    if value is None:
        return f"{flag} unset"
    if isinstance(value, bool):
        return flag if value else "--no-" + flag[2:]
    if dest == "target_band":
        return f"{flag} " + ",".join(f"{100 * float(v):g}" for v in value)
    if isinstance(value, list):
        return f"{flag} {value[0]}" if value[0] == value[-1] else f"{flag} {value[0]}-{value[-1]}"
    return f"{flag} {value}"


def restore_settings(args: argparse.Namespace, given: frozenset[str]) -> None:
    """Fill ``args`` from ``run.json`` of ``args.out`` (for ``--resume``), refusing a given
    flag whose value differs; a UsageError names the flag, both values and the way out."""
    out: Path | None = args.out
    if out is None:
        raise UsageError("--resume needs --out DIR: the run directory to continue")
    if not out.is_dir():
        what = "is not a directory" if out.exists() else "does not exist"
        raise UsageError(
            f"cannot resume {out}: it {what}; check the path, or drop --resume to start a batch"
        )
    try:
        manifest = read_manifest(out)
    except RunDirError as exc:
        raise UsageError(str(exc)) from None
    if not manifest:
        hint = (
            f" ({RESULTS_FILE} is there but run.json is missing: restore it)"
            if (out / RESULTS_FILE).exists()
            else ""
        )
        if not hint:
            hint = " (no batch was started there): drop --resume to start one, or check the path"
        raise UsageError(f"cannot resume {out}: it has no run.json{hint}")
    stored = _stored(manifest)
    for dest, value in stored.items():
        if dest in given:
            mine = _option(dest, getattr(args, dest))
            if dest == "target_band" and isinstance(value, list):
                value = [float(v) for v in value]
                mine = [float(v) for v in mine]
            if mine == value:
                continue
            if dest == "runs" and isinstance(value, int) and mine > value:
                continue  # a larger batch: the new runs are added
            keep = (
                f"pass the {_flag(dest)} they were made with"
                if dest == "base_url" and REDACTED in str(value)
                else f"drop {_flag(dest)} to keep that"
            )
            raise UsageError(
                f"cannot resume {out} with {_as_flag(dest, mine)}: its runs were made with "
                f"{_as_flag(dest, value)}; {keep}, or choose another --out to start afresh"
            )
        elif dest == "base_url" and value and REDACTED in str(value):
            raise UsageError(
                f"cannot resume {out}: its --base-url {value} had credentials, which run.json "
                "never keeps; pass --base-url again with them"
            )
        else:
            setattr(args, dest, _decode(dest, value))
