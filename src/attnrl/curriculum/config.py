"""The controller's settings, checked once at start: a bad one is a one-line error, never a
silent fallback."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_BAND", "LEARNING_BAND", "ControllerConfig"]

DEFAULT_BAND = (0.10, 0.40)
"""The seed's band: 10-40% of runs pass (what calibration aims for)."""

LEARNING_BAND = (0.30, 0.70)
"""A band around 0.5, where GRPO's groups most often disagree: at group size G a group is
all-equal with probability p^G + (1 - p)^G, lowest at p = 0.5 (docs/curriculum.md)."""


@dataclass(frozen=True)
class ControllerConfig:
    """How the controller moves over the rungs of a ladder."""

    rungs: int
    """How many rungs the ladder has (rung 0 the easiest)."""
    band: tuple[float, float] = DEFAULT_BAND
    """The pass rates to keep the model in, ``(low, high)``."""
    start: int = 0
    """The rung to begin on (e.g. the one ``attnrl calibrate`` chose)."""
    group_size: int = 8
    """The trainer's rollouts per prompt (GRPO's G), for the zero-variance figures."""
    alpha: float = 0.05
    """Error of each rung's anytime-valid interval (its betting confidence sequence)."""
    explore: float = 0.1
    """Share of draws from the rungs next to the current one, so a move lands on a rung that
    already has evidence (split evenly; all of it to the one neighbour at the ladder's ends)."""
    window: int = 256
    """Runs after which a rung's estimate starts afresh, so it follows a policy that learns."""
    min_dwell: int = 1
    """Steps to stay on a rung after moving onto it before moving again (hysteresis)."""
    margin: float = 0.0
    """Move only once the interval clears the band by this much (hysteresis)."""
    pass_reward: float = 1.0
    """A run passes when its reward is at least this."""

    def __post_init__(self) -> None:
        low, high = self.band
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(
                f"band {low:g}-{high:g} is empty or outside 0-1; give low < high within [0, 1]"
            )
        if self.rungs < 1:
            raise ValueError(f"the ladder needs at least one rung, got {self.rungs}")
        if not 0 <= self.start < self.rungs:
            raise ValueError(
                f"start rung {self.start} does not exist; the ladder has rungs 0-{self.rungs - 1}"
            )
        if self.group_size < 1:
            raise ValueError(f"group size must be >= 1, got {self.group_size}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0.0 <= self.explore < 1.0:
            raise ValueError(f"explore must be in [0, 1), got {self.explore}")
        if self.window < 1 or self.min_dwell < 0:
            raise ValueError(
                f"window must be >= 1 and min_dwell >= 0, got {self.window}, {self.min_dwell}"
            )
        if not 0.0 <= self.margin < 1.0:
            raise ValueError(f"margin must be in [0, 1), got {self.margin}")
