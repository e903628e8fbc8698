"""The curriculum taskset through verifiers v1's own loading and scoring: tasks drawn from the
controller, scores fed back, the controller moving on what it was fed."""

from __future__ import annotations

import json
from typing import Any

import pytest
import verifiers.v1 as vf
from pydantic import ValidationError

from attnrl.integrations import curriculum_v1 as cv1
from attnrl.integrations import verifiers_v1 as v1
from attnrl.task.dataset import task_from_info
from attnrl.tasks.attention.ladder import LADDER


def taskset(**config: Any) -> cv1.CurriculumTaskset:
    loaded = vf.load_taskset(cv1.CurriculumTasksetConfig(id=cv1.TASKSET_ID, **config))
    assert isinstance(loaded, cv1.CurriculumTaskset)
    return loaded


def trace_of(task: cv1.CurriculumTask, state: v1.AttentionState) -> Any:
    return vf.Trace(
        task=vf.TraceTask(type=type(task).__name__, data=task.data, key=task.key, hash=task.hash),
        agent=vf.AgentInfo(config=vf.AgentConfig()),
        state=state,
    )


def test_tasks_are_drawn_from_the_controller_on_its_rungs() -> None:
    ts = taskset(start=3, seed=5)
    assert not ts.bounded
    tasks = list(ts.take(6))
    assert [t.data.draw for t in tasks] == [1, 2, 3, 4, 5, 6]
    assert {t.data.rung for t in tasks} <= {2, 3, 4}
    for t in tasks:
        spec = task_from_info(t.data.info).spec
        assert spec.preset == "procedural"
        assert json.loads(t.data.answer) == task_from_info(t.data.info).reference()
    assert ts.controller.draws == 6


async def test_scores_feed_the_controller_which_moves_up_when_all_pass() -> None:
    ts = taskset(start=2, group_size=4, step_runs=16)
    moved_to = None
    for task in ts.take(40):
        answer = task_from_info(task.data.info).reference()
        for _ in range(4):  # -r 4: the same task rolled out four times
            trace = trace_of(task, v1.AttentionState(submitted=True, submission=answer))
            await task.score(trace)
            assert trace.rewards["attnrl_reward"].score == 1.0
        if ts.controller.rung != 2:
            moved_to = ts.controller.rung
            break
    assert moved_to == 3
    assert ts.reports and ts.reports[-1].zero_variance == 1.0  # all-pass groups


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"band": (0.5, 0.2)}, "band 0.5-0.2 is empty"),
        ({"start": len(LADDER)}, f"start rung {len(LADDER)} does not exist"),
        ({"step_runs": 0}, "step_runs must be >= 1"),
    ],
)
def test_a_bad_setting_is_a_one_line_error(config: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, ValidationError), match=message) as caught:
        taskset(**config)
    assert "\n" not in str(caught.value)


def test_the_id_resolves_to_the_curriculum_taskset_and_its_config() -> None:
    from verifiers.v1.utils import loaders

    assert loaders.taskset_class(cv1.TASKSET_ID) is cv1.CurriculumTaskset
    assert loaders.harness_class(cv1.TASKSET_ID) is v1.AttentionHarness
    config = vf.resolve_env_config({"taskset": {"id": cv1.TASKSET_ID, "start": 2, "group_size": 4}})
    assert isinstance(config.taskset, cv1.CurriculumTasksetConfig)
    assert (config.taskset.start, config.taskset.group_size) == (2, 4)


async def _feed_all_pass(ts: cv1.CurriculumTaskset, tasks: int) -> None:
    for task in ts.take(tasks):
        answer = task_from_info(task.data.info).reference()
        for _ in range(4):
            await task.score(trace_of(task, v1.AttentionState(submitted=True, submission=answer)))


async def test_state_path_carries_the_controller_across_a_restart(tmp_path: Any) -> None:
    path = tmp_path / "curriculum.json"
    first = taskset(start=2, group_size=4, step_runs=16, state_path=str(path))
    await _feed_all_pass(first, 12)  # 48 rewards: three controller steps
    assert path.exists() and first.controller.steps == 3
    saved = first.controller.state_dict()

    again = taskset(start=2, group_size=4, step_runs=16, state_path=str(path))  # the restart
    assert again.controller.state_dict() == saved
    assert again.controller.rung == first.controller.rung
    next_task = next(iter(again.take(1)))
    assert next_task.data.draw == saved["draws"] + 1  # fresh draws, not the first run's again

    fresh = taskset(start=2, group_size=4, step_runs=16)  # without the file: from the start
    assert fresh.controller.steps == 0 and fresh.controller.rung == 2


@pytest.mark.parametrize("content", ["{not json", '{"controller": {"format": 0}, "runs": 1}', "[]"])
def test_an_unreadable_state_file_is_a_one_line_error(tmp_path: Any, content: str) -> None:
    path = tmp_path / "curriculum.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises((ValueError, ValidationError), match="cannot resume") as caught:
        taskset(state_path=str(path))
    assert "\n" not in str(caught.value) and "delete it" in str(caught.value)
