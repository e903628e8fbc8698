"""The difficulty controller: its settings, its moves (up, down, hysteresis, the ladder's
ends, a band between rungs), its metrics and its checkpoint state."""

from __future__ import annotations

import json
import random

import pytest

from attnrl.curriculum import ControllerConfig, DifficultyController, StepReport
from attnrl.models.simulated import PracticeLearner
from attnrl.tasks.attention.ladder import LADDER


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"band": (0.4, 0.1)}, "band 0.4-0.1 is empty or outside 0-1"),
        ({"band": (0.3, 0.3)}, "band 0.3-0.3 is empty"),
        ({"band": (-0.1, 0.4)}, "outside 0-1"),
        ({"band": (0.5, 1.5)}, "outside 0-1"),
        ({"start": 10}, "start rung 10 does not exist; the ladder has rungs 0-9"),
        ({"start": -1}, "start rung -1 does not exist"),
        ({"rungs": 0, "start": 0}, "at least one rung"),
        ({"group_size": 0}, "group size must be >= 1"),
    ],
)
def test_a_bad_setting_is_a_one_line_error(kwargs: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"rungs": 10} | kwargs
    with pytest.raises(ValueError, match=message) as caught:
        ControllerConfig(**settings)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_a_reward_of_a_rung_that_does_not_exist_is_an_error() -> None:
    controller = DifficultyController(ControllerConfig(rungs=3))
    with pytest.raises(ValueError, match="rung 3 does not exist; the ladder has rungs 0-2"):
        controller.observe(3, 1.0)


def _feed(controller: DifficultyController, rate: dict[int, float], runs: int, seed: int = 0):
    """``runs`` rollouts drawn from the controller, each passing with its rung's rate."""
    rng = random.Random(seed)
    for i in range(runs):
        rung = controller.draw()
        controller.observe(rung, float(rng.random() < rate.get(rung, 0.0)), group=i // 8)
    return controller.step()


def test_moves_up_when_confidently_above_and_down_when_below() -> None:
    controller = DifficultyController(ControllerConfig(rungs=5, start=2, explore=0.0))
    first = _feed(controller, {2: 1.0}, 3)
    assert first.moved == 0  # 3 passes are too few to be sure: 0.4^3 > alpha / 2
    reports = [_feed(controller, {2: 1.0, 3: 0.25}, 16, seed=s) for s in range(10)]
    assert controller.rung == 3 and [r.moved for r in reports if r.moved] == [1]
    controller = DifficultyController(ControllerConfig(rungs=5, start=3, explore=0.0))
    reports = [_feed(controller, {2: 0.25, 3: 0.0}, 16, seed=s) for s in range(10)]
    assert controller.rung == 2 and [r.moved for r in reports if r.moved] == [-1]


def test_old_evidence_ages_out_of_a_window() -> None:
    """A rung that was too easy and is now in band (the rates changed) is left again once
    its window starts afresh."""
    config = ControllerConfig(rungs=5, start=2, explore=0.0, window=64)
    controller = DifficultyController(config)
    for s in range(3):
        _feed(controller, {2: 1.0, 3: 0.0}, 32, seed=s)
    assert controller.rung == 2 and controller.share > 0.0  # the band lies between 2 and 3
    for s in range(3, 40):
        _feed(controller, {2: 1.0, 3: 0.25}, 32, seed=s)
    assert controller.rung == 3 and controller.share == 0.0


def test_stays_when_the_rate_is_in_band() -> None:
    controller = DifficultyController(ControllerConfig(rungs=5, start=2))
    reports = [_feed(controller, {1: 0.9, 2: 0.25, 3: 0.02}, 64, seed=s) for s in range(30)]
    assert controller.moves == 0
    lo, hi = reports[-1].rung_interval
    assert lo < 0.25 < hi and hi - lo < 0.3


def test_does_not_move_past_the_ends_of_the_ladder() -> None:
    controller = DifficultyController(ControllerConfig(rungs=3, start=2))
    for s in range(10):
        _feed(controller, {1: 1.0, 2: 1.0}, 32, seed=s)
    assert controller.rung == 2 and controller.moves == 0


def test_a_band_between_two_rungs_mixes_them_without_oscillating() -> None:
    controller = DifficultyController(ControllerConfig(rungs=4, start=1))
    reports = [_feed(controller, {0: 1.0, 1: 0.8, 2: 0.0, 3: 0.0}, 64, seed=s) for s in range(40)]
    assert controller.moves <= 1
    last = reports[-1]
    assert last.rung == 1 and 0.0 < last.share < 1.0
    # the mix aims at the band's centre: 0.8 (1 - share) = 0.25
    assert last.share == pytest.approx((0.8 - 0.25) / 0.8, abs=0.1)
    assert last.mix[1] + last.mix[2] == pytest.approx(0.9)


def test_min_dwell_holds_a_rung_after_a_move() -> None:
    config = ControllerConfig(rungs=6, start=0, explore=0.0, min_dwell=5)
    controller = DifficultyController(config)
    moves = [_feed(controller, dict.fromkeys(range(6), 1.0), 64, seed=s).moved for s in range(12)]
    assert moves == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]


def test_reports_the_mix_the_interval_and_zero_variance_groups() -> None:
    controller = DifficultyController(ControllerConfig(rungs=3, start=1, group_size=4))
    for group, rewards in enumerate(([1.0] * 4, [0.0] * 4, [1.0, 0.0, 0.0, 0.0])):
        for reward in rewards:
            controller.observe(1, reward, group=group)
    report = controller.step()
    assert isinstance(report, StepReport)
    assert report.runs == 12 and report.pass_rate == pytest.approx(5 / 12)
    assert report.zero_variance == pytest.approx(2 / 3)
    p = 5 / 12
    assert report.zero_variance_expected == pytest.approx(p**4 + (1 - p) ** 4)
    assert report.mix == {0: pytest.approx(0.05), 1: pytest.approx(0.9), 2: pytest.approx(0.05)}
    metrics = report.metrics()
    assert metrics["curriculum/rung"] == 1.0
    assert metrics["curriculum/mix/1"] == pytest.approx(0.9)
    lo, hi = metrics["curriculum/rung_lower"], metrics["curriculum/rung_upper"]
    assert 0.0 < lo < 5 / 12 < hi < 1.0


def test_state_round_trips_through_json_and_continues_identically() -> None:
    config = ControllerConfig(rungs=6, start=1)
    rates = {0: 0.95, 1: 0.8, 2: 0.5, 3: 0.3, 4: 0.1, 5: 0.01}
    a = DifficultyController(config, seed=4)
    for s in range(6):
        _feed(a, rates, 40, seed=s)
    a.observe(a.rung, 1.0)  # a reward not yet taken in by a step is kept too
    b = DifficultyController(config, seed=99)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    for s in range(6, 12):
        assert _feed(a, rates, 40, seed=s) == _feed(b, rates, 40, seed=s)
    assert a.state_dict() == b.state_dict()


def test_a_state_of_another_ladder_is_refused() -> None:
    state = DifficultyController(ControllerConfig(rungs=4)).state_dict()
    with pytest.raises(ValueError, match="saved curriculum has 4 rungs, this ladder 6"):
        DifficultyController(ControllerConfig(rungs=6)).load_state_dict(state)


def test_the_learner_learns_only_from_informative_groups() -> None:
    rng = random.Random(0)
    learner = PracticeLearner(LADDER, skill=0.5, rate=0.01)
    before = learner.skill
    rewards = learner.group(0, 8, rng)
    assert learner.skill == before + (0.01 if len(set(rewards)) > 1 else 0.0)
    hard = PracticeLearner(LADDER, skill=-20.0, rate=0.01)  # never passes: never learns
    for _ in range(50):
        assert hard.group(9, 8, rng) == [0.0] * 8
    assert hard.skill == -20.0
    assert learner.pass_probability(9) < learner.pass_probability(0)


def test_on_a_learning_policy_the_controller_stays_in_band_and_a_fixed_rung_drifts() -> None:
    """The benchmark's setting, shorter: the share of steps whose expected pass rate is in
    band, and the share of all-equal groups."""

    def run(controlled: bool) -> tuple[float, float]:
        rng = random.Random(1)
        learner = PracticeLearner(LADDER, skill=0.5, rate=0.001)
        controller = DifficultyController(ControllerConfig(rungs=len(LADDER), start=2))
        in_band = zero = groups = 0
        for step in range(300):
            mix = controller.mix() if controlled else {2: 1.0}
            expected = sum(w * learner.pass_probability(r) for r, w in mix.items())
            in_band += 0.1 <= expected <= 0.4
            for g in range(8):
                rung = controller.draw() if controlled else 2
                rewards = learner.group(rung, 8, rng)
                zero += len(set(rewards)) == 1
                groups += 1
                for reward in rewards:
                    controller.observe(rung, reward, group=(step, g))
            controller.step()
        return in_band / 300, zero / groups

    controlled, fixed = run(True), run(False)
    assert controlled[0] >= 0.6 and fixed[0] <= 0.3
    assert controlled[1] < fixed[1]
