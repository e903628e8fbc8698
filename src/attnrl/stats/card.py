"""The preset card: a calibrated difficulty written down, and read back by ``--card``.

A card is JSON: the preset and difficulty knobs of the rung a calibration chose, with what
was measured there (model, date, pass rate with both intervals, runs, cost, the family
hash, GRPO's expected share of informative groups). ``attnrl run --card``, ``attnrl dataset
--card`` and ``load_task(card=...)`` read the preset and knobs from it; the rest is the
certificate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from attnrl.tasks.attention.spec import MaskSpec

__all__ = [
    "CARD_FORMAT",
    "CardError",
    "grpo_informative_share",
    "knobs_from_json",
    "knobs_to_json",
    "read_card",
]

CARD_FORMAT = "attnrl-preset-card/1"
GRPO_GROUP_SIZES = (4, 8, 16)


class CardError(ValueError):
    """A card file that cannot be used (the message names the file and the problem)."""


def grpo_informative_share(p: float, sizes: tuple[int, ...] = GRPO_GROUP_SIZES) -> dict[str, float]:
    """Share of GRPO groups of size G whose rewards are not all equal, 1 - p^G - (1-p)^G
    (a group with one reward value has zero advantage and teaches nothing)."""
    return {str(g): 1.0 - p**g - (1.0 - p) ** g for g in sizes}


def _mask_text(mask: MaskSpec) -> str:
    if mask.kind == "sliding_window":
        return f"window:{mask.window}"
    return mask.kind


def _mask_from_text(text: str) -> MaskSpec:
    kind, _, width = text.partition(":")
    if kind == "window":
        return MaskSpec("sliding_window", int(width))
    return MaskSpec(kind)  # type: ignore[arg-type]  # validated by MaskSpec


def knobs_to_json(knobs: dict[str, Any]) -> dict[str, Any]:
    """Knobs as JSON: ranges as ``[min, max]``, the mask as the CLI spells it."""
    out: dict[str, Any] = {}
    for key, value in knobs.items():
        if isinstance(value, MaskSpec):
            out[key] = _mask_text(value)
        elif isinstance(value, tuple):
            out[key] = list(value)
        else:
            out[key] = value
    return out


def knobs_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`knobs_to_json` (keyword arguments of ``load_task``)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "mask" and isinstance(value, str):
            out[key] = _mask_from_text(value)
        elif isinstance(value, list):
            out[key] = tuple(value)
        else:
            out[key] = value
    return out


def read_card(path: str | Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(preset, knobs, card)`` of a card file; CardError naming the problem otherwise."""
    path = Path(path)
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CardError(f"cannot read card {path}: {exc}") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise CardError(
            f'{path} is not an attnrl preset card (no "format": "{CARD_FORMAT}"); '
            "write one with `attnrl calibrate`"
        )
    if not isinstance(card.get("preset"), str) or not isinstance(card.get("knobs"), dict):
        raise CardError(f"card {path} needs a 'preset' string and a 'knobs' object")
    try:
        knobs = knobs_from_json(card["knobs"])
    except (ValueError, TypeError) as exc:
        raise CardError(f"card {path}: bad knobs ({exc})") from None
    return card["preset"], knobs, card
