"""The band verdict: where an interval of the pass rate lies with respect to the target band.

One concept, used by the fixed-n analysis (:mod:`attnrl.stats.analysis`), the confidence
sequence (:mod:`attnrl.stats.sequential`) and the report; it imports neither of them.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Verdict", "band_verdict"]

Verdict = Literal["in band", "out of band", "inconclusive"]


def band_verdict(ci: tuple[float, float], band: tuple[float, float]) -> Verdict:
    """``in band`` if the whole interval is inside the band, ``out of band`` if it is
    wholly outside, else ``inconclusive``."""
    lo, hi = ci
    if band[0] <= lo and hi <= band[1]:
        return "in band"
    if hi < band[0] or lo > band[1]:
        return "out of band"
    return "inconclusive"
