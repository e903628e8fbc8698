"""The band verdict: where an interval of the pass rate lies with respect to the target band.

One concept, used by the fixed-n analysis (:mod:`attnrl.stats.analysis`), the confidence
sequence (:mod:`attnrl.stats.sequential`) and the report; it imports neither of them.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["NarrowingInterval", "Verdict", "band_verdict"]

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


class NarrowingInterval:
    """What every confidence sequence of the pass rate shares (the mixture of
    :mod:`attnrl.stats.sequential`, the betting one of :mod:`attnrl.stats.betting`): the running
    intersection of its intervals, their history, and the band verdict read off them."""

    n: int
    successes: int
    lower: float
    upper: float
    history: list[tuple[float, float]]

    def _narrow(self, lo: float, hi: float) -> None:
        """Intersect the running interval with ``[lo, hi]`` and record it."""
        self.lower = max(self.lower, lo)
        self.upper = min(self.upper, hi)
        if self.lower > self.upper:  # possible only on an event of probability <= alpha
            self.lower = self.upper = self.successes / self.n
        self.history.append((self.lower, self.upper))

    def verdict(self, band: tuple[float, float]) -> Verdict:
        """``in band`` / ``out of band`` once the sequence lies inside / outside the band."""
        return band_verdict((self.lower, self.upper), band) if self.n else "inconclusive"

    def decided_at(self, band: tuple[float, float]) -> int | None:
        """The first look at which the verdict was decided (None: not yet)."""
        for n, interval in enumerate(self.history, start=1):
            if band_verdict(interval, band) != "inconclusive":
                return n
        return None
