"""What a calibration found, said honestly: a rung in band, or a model below the band even at
the easiest rung tried (above it even at the hardest), or only the rung closest to the band.

A model that solved nothing on every rung used to get a card for the rung it happened to try
first, with nothing saying the task is too hard for it. Here the choice among rungs not in
band goes to the one closest to the band's centre, ties to the easier rung, and the card and
the exit code say which of the four results it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

__all__ = ["EXIT_OUT_OF_REACH", "Result", "choose_rung", "result_text"]

Result = Literal["in band", "below band", "above band", "closest"]

EXIT_OUT_OF_REACH = 4
"""``attnrl calibrate``'s exit code when the model is below the band at every rung tried (or
above it at every one): the card is written, but no rung of the ladder it tried fits."""


def _rate(rung: dict[str, Any]) -> float:
    return float(rung["pass_rate"] or 0.0)


def choose_rung(
    visited: Sequence[dict[str, Any]], band: tuple[float, float]
) -> tuple[dict[str, Any], Result]:
    """The rung the card is for, and which result it is.

    A rung whose sequence said ``in band`` wins. Else, when every rung tried has a pass rate
    below the band, the easiest of them (``below band``); above it, the hardest
    (``above band``); otherwise the rung closest to the band's centre, ties to the easier."""
    if not visited:
        raise ValueError("calibration made no runs: raise --max-runs or --max-cost")
    for rung in visited:
        if rung["verdict"] == "in band":
            return rung, "in band"
    if all(_rate(r) < band[0] for r in visited):
        return min(visited, key=lambda r: int(r["rung"])), "below band"
    if all(_rate(r) > band[1] for r in visited):
        return max(visited, key=lambda r: int(r["rung"])), "above band"
    centre = sum(band) / 2
    return min(visited, key=lambda r: (abs(_rate(r) - centre), int(r["rung"]))), "closest"


def result_text(result: Result, rung: dict[str, Any], band: tuple[float, float]) -> str:
    """One sentence for the card and the console."""
    band_text = f"{100 * band[0]:g}-{100 * band[1]:g}%"
    tally = f"{rung['passed']}/{rung['runs']}"
    decided = (
        "the confidence sequence agrees"
        if rung["verdict"] == "out of band"
        else "by the point estimate; the confidence sequence is undecided at this many runs"
    )
    if result == "in band":
        return f"in band ({band_text}) at rung {rung['rung']}: {tally}"
    if result == "below band":
        return (
            f"below the band ({band_text}) even at rung {rung['rung']}, the easiest rung "
            f"tried: {tally} ({decided}); the task is too hard for this model at every rung "
            "tried"
        )
    if result == "above band":
        return (
            f"above the band ({band_text}) even at rung {rung['rung']}, the hardest rung "
            f"tried: {tally} ({decided}); the task is too easy for this model at every rung "
            "tried"
        )
    return (
        f"no rung tried was decided in band ({band_text}); rung {rung['rung']} ({tally}) is "
        "the closest to the band's centre"
    )
