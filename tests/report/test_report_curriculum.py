"""The report's Curriculum section: a run directory holding a controller's training trace
gets its figure (pass rate against the band, all-equal groups), and a broken trace is a
one-line error."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from report_dirs import simulated

from attnrl.curriculum import ControllerConfig, DifficultyController
from attnrl.models.simulated import PracticeLearner
from attnrl.report import ReportError, build_report
from attnrl.report.curriculum import TRACE_FILE, read_trace
from attnrl.tasks.attention.ladder import LADDER


def _trace(steps: int) -> dict[str, object]:
    arms: dict[str, list[dict[str, float]]] = {}
    for name, controlled in (("controller", True), ("fixed rung", False)):
        rng, learner = random.Random(0), PracticeLearner(LADDER, rate=0.002)
        controller = DifficultyController(ControllerConfig(rungs=len(LADDER), start=2))
        arms[name] = []
        for step in range(steps):
            for g in range(4):
                rung = controller.draw() if controlled else 2
                for reward in learner.group(rung, 8, rng):
                    controller.observe(rung, reward, group=g)
            report = controller.step()
            arms[name].append(
                {"step": step, "pass_rate": report.pass_rate or 0.0, "rung": report.rung,
                 "zero_variance": report.zero_variance or 0.0}
            )  # fmt: skip
    return {"band": [0.1, 0.4], "group_size": 8, "arms": arms}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("curriculum") / "run"
    simulated(out, runs=3)
    return out


def test_a_run_directory_with_a_trace_gets_the_curriculum_figure(run_dir: Path) -> None:
    assert 'id="curriculum"' not in build_report([run_dir])
    (run_dir / TRACE_FILE).write_text(json.dumps(_trace(60)))
    page = build_report([run_dir])
    section = page[page.index('<section id="curriculum">') :]
    section = section[: section.index("</section>")]
    assert "Band 10-40%" in section and "group size 8" in section
    svg = re.search(r"<svg[^>]*aria-label=\"curriculum[^\"]*\".*?</svg>", section, re.S)
    assert svg is not None
    for name in ("controller", "fixed rung", "target band", "all-equal groups"):
        assert name in svg.group(0)


def test_a_broken_trace_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / TRACE_FILE).write_text('{"band": [0.1, 0.4]}')
    with pytest.raises(ReportError, match="is not a curriculum trace") as caught:
        read_trace(tmp_path)
    assert "\n" not in str(caught.value)
    assert read_trace(tmp_path / "nothing-here") is None
