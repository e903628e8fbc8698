"""The online difficulty controller: keep a learning model's pass rate in its band.

Rewards come in as the trainer produces them, each with its rung and its group. Each rung
keeps an anytime-valid interval of its pass rate (:class:`attnrl.stats.betting.BettingSequence`),
started afresh every ``window`` runs so it follows a policy that learns (the last window's
interval stands until the new one has half a window of runs); it takes in a step's
rewards at once, and looking after every step is what an anytime-valid interval allows. At
each step the controller moves the sampling distribution over rungs:

- up one rung when the current rung's interval lies above the band, down one when below;
- not back onto a neighbour whose own interval says it is out of band the other way: the band
  then lies between two rungs, and the controller mixes them (``share`` of the harder one, set
  from their point estimates so the mix aims at the band's centre);
- never again within ``min_dwell`` steps of a move, and only once the interval clears the band
  by ``margin`` (hysteresis).

A rung with few runs has a wide interval and simply keeps being drawn until it decides; the
``explore`` share draws the neighbours, so the rung moved onto already has evidence. Its
per-step metrics are the rung mix, the pass rate with its interval, and the share of groups
whose rewards were all equal (GRPO learns nothing from them) against p^G + (1 - p)^G.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from attnrl.curriculum.config import ControllerConfig
from attnrl.stats.betting import BET_FRACTIONS, BettingSequence

__all__ = ["STATE_FORMAT", "DifficultyController", "StepReport"]

STATE_FORMAT = "attnrl-curriculum/1"

FRACTIONS = (15 / 16, 3 / 4, *BET_FRACTIONS)
"""The verdict's bets plus two bold ones: a rung far too hard gives nothing but failures, and
only a bold bet on failures says so within a window (about 60 runs for "below 10%")."""


@dataclass(frozen=True)
class StepReport:
    """What one step saw and decided."""

    step: int
    rung: int
    """The current rung after the step's decision."""
    share: float
    """Share of the next harder rung in the mix (0 unless the band lies between them)."""
    mix: dict[int, float]
    """Probability of drawing each rung next."""
    runs: int
    """Rewards observed this step."""
    pass_rate: float | None
    """Pass rate of this step's runs (None: no runs)."""
    rung_interval: tuple[float, float]
    """The current rung's anytime-valid interval (before the step's move)."""
    zero_variance: float | None
    """Share of this step's groups (two or more rewards) whose rewards were all equal."""
    zero_variance_expected: float | None
    """p^G + (1 - p)^G at this step's pass rate and the configured group size."""
    moved: int
    """-1, 0 or +1: the move this step made."""

    def metrics(self, prefix: str = "curriculum/") -> dict[str, float]:
        """Flat numbers for a trainer's logs."""
        out = {
            f"{prefix}rung": float(self.rung) + self.share,
            f"{prefix}rung_lower": self.rung_interval[0],
            f"{prefix}rung_upper": self.rung_interval[1],
            f"{prefix}moved": float(self.moved),
        }
        out |= {f"{prefix}mix/{rung}": weight for rung, weight in sorted(self.mix.items())}
        for name, value in (
            ("pass_rate", self.pass_rate),
            ("zero_variance", self.zero_variance),
            ("zero_variance_expected", self.zero_variance_expected),
        ):
            if value is not None:
                out[prefix + name] = value
        return out


class DifficultyController:
    """Rewards in, a distribution over rungs out (see the module docstring)."""

    def __init__(self, config: ControllerConfig, seed: int = 0) -> None:
        self.config = config
        self.rung = config.start
        self.share = 0.0
        self.steps = 0
        self.moves = 0
        self.draws = 0
        """Instances drawn so far (the next draw's number)."""
        self._since_move = config.min_dwell  # the start rung may be left at once
        self._rng = random.Random(f"curriculum:{seed}")
        self._seqs = [self._fresh() for _ in range(config.rungs)]
        self._previous: list[tuple[float, float] | None] = [None] * config.rungs
        """Each rung's interval when its last window closed: it stands until the new window
        has half a window of runs, so a fresh start does not forget what was decided."""
        self._step_rewards: list[float] = []
        self._groups: dict[Hashable, list[float]] = {}
        self._pending: dict[int, tuple[int, int]] = {}
        """Passes and runs per rung since the last step, added to the sequences at a step."""

    def _fresh(self) -> BettingSequence:
        return BettingSequence(alpha=self.config.alpha, fractions=FRACTIONS)

    # -- drawing ---------------------------------------------------------------------------

    def mix(self) -> dict[int, float]:
        """Probability of each rung for the next draw."""
        last = self.config.rungs - 1
        upper = min(self.rung + 1, last)
        core = {self.rung: 1.0 - self.share}
        if self.share > 0.0:
            core[upper] = core.get(upper, 0.0) + self.share
        edges = [r for r in (self.rung - 1, max(core) + 1) if 0 <= r <= last and r not in core]
        explore = self.config.explore if edges else 0.0
        weights = {r: w * (1.0 - explore) for r, w in core.items()}
        for r in edges:
            weights[r] = explore / len(edges)
        return {r: w for r, w in sorted(weights.items()) if w > 0.0}

    def draw(self) -> int:
        """The rung of the next instance, drawn from :meth:`mix` (seeded)."""
        mix = self.mix()
        self.draws += 1
        return self._rng.choices(list(mix), weights=list(mix.values()))[0]

    # -- feedback --------------------------------------------------------------------------

    def observe(self, rung: int, reward: float, group: Hashable | None = None) -> None:
        """One rollout's reward on ``rung``; ``group`` ties the rollouts of one prompt."""
        if not 0 <= rung < self.config.rungs:
            raise ValueError(
                f"rung {rung} does not exist; the ladder has rungs 0-{self.config.rungs - 1}"
            )
        passes, runs = self._pending.get(rung, (0, 0))
        self._pending[rung] = (passes + (reward >= self.config.pass_reward), runs + 1)
        self._step_rewards.append(float(reward))
        if group is not None:
            self._groups.setdefault(group, []).append(float(reward))

    def interval(self, rung: int) -> tuple[float, float]:
        """``rung``'s anytime-valid interval of its pass rate at the latest step (not the
        running intersection, which would hold on to the rate of an earlier policy)."""
        seq, previous = self._seqs[rung], self._previous[rung]
        if previous is not None and 2 * seq.n < self.config.window:
            return previous
        return seq.latest

    def estimate(self, rung: int) -> float | None:
        seq = self._seqs[rung]
        return seq.successes / seq.n if seq.n else None

    def _side(self, rung: int) -> int:
        """+1 above the band (too easy), -1 below (too hard), 0 undecided or in band."""
        lo, hi = self.interval(rung)
        low, high = self.config.band
        if lo > high + self.config.margin:
            return +1
        if hi < low - self.config.margin:
            return -1
        return 0

    def _straddle_share(self, easy: int) -> float:
        """Share of rung ``easy + 1`` that puts the mix's expected rate at the band's centre."""
        p_easy, p_hard = self.estimate(easy), self.estimate(easy + 1)
        if p_easy is None or p_hard is None or p_easy <= p_hard:
            return 0.5
        centre = sum(self.config.band) / 2
        return min(max((p_easy - centre) / (p_easy - p_hard), 0.05), 0.95)

    def step(self) -> StepReport:
        """Decide the next mix from the evidence so far; report this step."""
        for rung, (passes, runs) in sorted(self._pending.items()):
            if self._seqs[rung].n + runs > self.config.window:
                self._previous[rung] = self._seqs[rung].latest
                self._seqs[rung] = self._fresh()
            self._seqs[rung].extend(passes, runs)
        self._pending = {}
        interval = self.interval(self.rung)
        moved = self._decide()
        rewards, groups = self._step_rewards, [g for g in self._groups.values() if len(g) > 1]
        rate = (
            sum(r >= self.config.pass_reward for r in rewards) / len(rewards) if rewards else None
        )
        g = self.config.group_size
        report = StepReport(
            step=self.steps,
            rung=self.rung,
            share=self.share,
            mix=self.mix(),
            runs=len(rewards),
            pass_rate=rate,
            rung_interval=interval,
            zero_variance=(sum(max(x) == min(x) for x in groups) / len(groups) if groups else None),
            zero_variance_expected=None if rate is None else rate**g + (1 - rate) ** g,
            moved=moved,
        )
        self.steps += 1
        self._step_rewards, self._groups = [], {}
        return report

    def _decide(self) -> int:
        self._since_move += 1
        last = self.config.rungs - 1
        side = self._side(self.rung)
        straddling = self.share > 0.0
        if straddling:
            hard_side = self._side(self.rung + 1)
            if side == +1 and hard_side == -1:
                self.share = self._straddle_share(self.rung)
                return 0
            if side == +1 and hard_side != -1:  # the harder rung now suits: move onto it
                return self._move(+1)
            if side == -1 or hard_side == -1 or side == 0:
                self.share = 0.0  # one rung is enough again
            return 0
        if side == 0 or self._since_move < self.config.min_dwell:
            return 0
        target = self.rung + side
        if not 0 <= target <= last:
            return 0  # the ladder ends here: nothing easier or harder to offer
        if self._side(target) == -side:  # the band lies between the two rungs
            easy = min(self.rung, target)
            self.rung, self.share = easy, self._straddle_share(easy)
            return 0
        return self._move(side)

    def _move(self, direction: int) -> int:
        self.rung += direction
        self.share = 0.0
        self.moves += 1
        self._since_move = 0
        return direction

    # -- checkpoints -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (JSON-serialisable)."""
        version, internal, gauss = self._rng.getstate()
        return {
            "format": STATE_FORMAT,
            "rungs": self.config.rungs,
            "rung": self.rung,
            "share": self.share,
            "steps": self.steps,
            "moves": self.moves,
            "draws": self.draws,
            "since_move": self._since_move,
            "rng": [version, list(internal), gauss],
            "sequences": [s.state_dict() for s in self._seqs],
            "previous": [None if p is None else list(p) for p in self._previous],
            "pending": {str(r): list(counts) for r, counts in self._pending.items()},
            "step_rewards": list(self._step_rewards),
            "step_groups": [list(g) for g in self._groups.values()],  # keys: not JSON
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; a state of another ladder is an error."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a curriculum state (format {state.get('format')!r})")
        if state["rungs"] != self.config.rungs:
            raise ValueError(
                f"the saved curriculum has {state['rungs']} rungs, this ladder "
                f"{self.config.rungs}; resume with the same ladder"
            )
        self.rung, self.share = int(state["rung"]), float(state["share"])
        self.steps, self.moves = int(state["steps"]), int(state["moves"])
        self.draws = int(state["draws"])
        self._since_move = int(state["since_move"])
        version, internal, gauss = state["rng"]
        self._rng.setstate((version, tuple(internal), gauss))
        for seq, saved in zip(self._seqs, state["sequences"], strict=True):
            seq.load_state_dict(saved)
        self._previous = [None if p is None else (p[0], p[1]) for p in state["previous"]]
        self._step_rewards = [float(r) for r in state["step_rewards"]]
        self._groups = {("restored", i): list(g) for i, g in enumerate(state["step_groups"])}
        self._pending = {int(r): (int(p), int(n)) for r, (p, n) in state["pending"].items()}
