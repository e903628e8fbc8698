"""The difficulty controller on a learning policy: in band over a long run, or drifting out.

A :class:`~attnrl.models.simulated.PracticeLearner` (skill 0.5, rising 0.0003 per informative
group) trains for STEPS steps of GROUPS groups of G rollouts, drawing its rungs of the ladder
either from the controller (the seed's band 10-40%, or 30-70% around 0.5) or always from the
rung it starts on (rung 2, where it is in the seed's band at the start, as ``attnrl
calibrate`` would pick). Printed per arm: the share of steps whose expected pass rate (the
learner's pass probability under the step's rung mix) lies in the arm's band, the mean pass
rate of the last quarter, the share of zero-variance groups (whole run, last quarter), the
final skill and the controller's moves. Simulation only, seeded.
Run: python benchmarks/bench_curriculum.py [steps] [--trace RUN_DIR/curriculum.json]
(``attnrl report RUN_DIR`` then shows the trace of the 10-40% arms in its Curriculum section)
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from attnrl.curriculum import LEARNING_BAND, ControllerConfig, DifficultyController
from attnrl.models.simulated import PracticeLearner
from attnrl.tasks.attention.ladder import LADDER

START_RUNG = 2
GROUPS = 8
G = 8
BAND = (0.10, 0.40)


def train(
    steps: int, controlled: bool, band: tuple[float, float] = BAND, seed: int = 0
) -> dict[str, Any]:
    """One training run; its per-step trace and summary (in band: of ``band``)."""
    rng = random.Random(seed)
    learner = PracticeLearner(LADDER)
    config = ControllerConfig(rungs=len(LADDER), band=band, start=START_RUNG, group_size=G)
    controller = DifficultyController(config, seed=seed)
    trace: list[dict[str, float]] = []
    for step in range(steps):
        mix = controller.mix() if controlled else {START_RUNG: 1.0}
        expected = sum(w * learner.pass_probability(r) for r, w in mix.items())
        for group in range(GROUPS):
            rung = controller.draw() if controlled else START_RUNG
            for reward in learner.group(rung, G, rng):
                controller.observe(rung, reward, group=(step, group))
        report = controller.step()
        trace.append(
            {
                "step": step,
                "expected": expected,
                "pass_rate": report.pass_rate or 0.0,
                "zero_variance": report.zero_variance or 0.0,
                "rung": (report.rung + report.share) if controlled else START_RUNG,
                "skill": learner.skill,
            }
        )
    tail = trace[3 * steps // 4 :]
    return {
        "in_band": sum(band[0] <= t["expected"] <= band[1] for t in trace) / steps,
        "tail_rate": sum(t["expected"] for t in tail) / len(tail),
        "zero_variance": sum(t["zero_variance"] for t in trace) / steps,
        "tail_zero_variance": sum(t["zero_variance"] for t in tail) / len(tail),
        "skill": learner.skill,
        "moves": controller.moves if controlled else 0,
        "trace": trace,
    }


def main() -> None:
    args = sys.argv[1:]
    trace_path = None
    if "--trace" in args:
        i = args.index("--trace")
        trace_path = Path(args[i + 1])
        del args[i : i + 2]
    steps = int(args[0]) if args else 2000
    print(f"{steps} steps x {GROUPS} groups x G={G}, start rung {START_RUNG}")
    print(
        f"{'arm':>22} {'in band':>8} {'last-quarter p':>15} {'zero-var':>9} "
        f"{'last quarter':>12} {'skill':>6} moves"
    )
    runs = {
        "controller 10-40%": train(steps, True),
        "controller 30-70%": train(steps, True, band=LEARNING_BAND),
        "fixed rung (10-40%)": train(steps, False),
    }
    for name, r in runs.items():
        print(
            f"{name:>22} {r['in_band']:>8.1%} {r['tail_rate']:>15.2f} {r['zero_variance']:>9.1%} "
            f"{r['tail_zero_variance']:>12.1%} {r['skill']:>6.2f} {r['moves']}"
        )
    if trace_path is not None:
        arms = {k: v["trace"] for k, v in runs.items() if "30-70%" not in k}  # one band
        trace_path.write_text(json.dumps({"band": BAND, "group_size": G, "arms": arms}))


if __name__ == "__main__":
    main()
