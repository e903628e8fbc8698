"""The attnrl-v1 taskset as verifiers v1's own loaders see it: resolution by id, seeded
iteration, the gold check and the reward, without a model."""

from __future__ import annotations

import json
from typing import Any

import pytest
import verifiers.v1 as vf
from pydantic import ValidationError
from verifiers.v1.utils import loaders

from attnrl.integrations import verifiers_v1 as v1
from attnrl.task import Task, load_task


def taskset(**config: Any) -> v1.AttentionTaskset:
    cls = loaders.taskset_config_type(v1.TASKSET_ID)
    loaded = vf.load_taskset(cls(id=v1.TASKSET_ID, **config))
    assert isinstance(loaded, v1.AttentionTaskset)
    return loaded


def trace_of(task: v1.AttentionTask, state: v1.AttentionState) -> Any:
    return vf.Trace(
        task=vf.TraceTask(type=type(task).__name__, data=task.data, key=task.key, hash=task.hash),
        agent=vf.AgentInfo(config=vf.AgentConfig()),
        state=state,
    )


async def scored(task: v1.AttentionTask, state: v1.AttentionState) -> Any:
    trace = trace_of(task, state)
    await task.score(trace)
    return trace


def test_the_id_resolves_to_the_taskset_its_harness_and_its_env() -> None:
    assert loaders.taskset_class(v1.TASKSET_ID) is v1.AttentionTaskset
    assert loaders.default_harness_id(v1.TASKSET_ID) == v1.TASKSET_ID
    assert loaders.harness_class(v1.TASKSET_ID) is v1.AttentionHarness
    assert loaders.environment_class(v1.TASKSET_ID) is v1.AttentionEnv
    config = vf.resolve_env_config({"taskset": {"id": v1.TASKSET_ID, "preset": "seed-doc"}})
    assert isinstance(config, v1.AttentionEnvConfig)
    assert isinstance(config.taskset, v1.AttentionTasksetConfig)
    assert config.taskset.preset == "seed-doc"
    assert isinstance(config.agent.runtime, vf.SubprocessConfig)
    harness = config.agent_harnesses()["agent"]
    assert isinstance(harness, v1.AttentionHarnessConfig) and harness.max_steps == 15


def test_procedural_is_infinite_and_seeded_from_its_start() -> None:
    ts = taskset(seed=100)
    assert v1.AttentionTaskset.INFINITE and not ts.bounded
    first = [(t.data.idx, t.data.name, t.key, t.data.prompt) for t in ts.take(4)]
    again = [(t.data.idx, t.data.name, t.key, t.data.prompt) for t in ts.take(4)]
    assert first == again
    for idx, name, key, prompt in first:
        expected = load_task("procedural", 100 + idx)
        assert name == f"procedural#{100 + idx}"
        assert key == expected.content_hash and prompt == expected.prompt
    assert len({key for _, _, key, _ in first}) == 4
    assert [t.data.name for t in taskset(seed=102).take(2)] == [n for _, n, _, _ in first[2:]]
    with pytest.raises(ValueError, match="infinite"):
        ts.shuffle(seed=0)
    # v1's own view machinery bounds it: closed idx ranges, then a shuffle is allowed
    picked = list(ts.include(idx=["1:3"]).shuffle(seed=0))
    assert sorted(t.data.idx for t in picked) == [1, 2]


def test_a_fixed_preset_is_its_one_instance(seed_task: Task) -> None:
    ts = taskset(preset="seed-doc")
    assert ts.bounded
    tasks = list(ts)
    assert len(tasks) == 1
    data = tasks[0].data
    assert data.name == "seed-doc" and data.prompt == seed_task.prompt
    assert json.loads(data.answer) == seed_task.reference()
    assert json.loads(data.info)["spec_hash"] == seed_task.content_hash


def test_an_unknown_preset_is_refused_naming_the_presets() -> None:
    with pytest.raises(ValidationError, match="unknown attnrl preset 'nope'.*procedural"):
        v1.AttentionTasksetConfig(id=v1.TASKSET_ID, preset="nope")


async def test_validate_passes_the_reference_and_fails_a_catalogued_bug() -> None:
    for task in taskset(preset="seed-doc"), *[taskset(seed=7).take(3)]:
        for v1_task in task:
            assert await v1_task.validate() is True
    attnrl_task = load_task("procedural", 7)
    good = v1.attention_task(attnrl_task)
    for bug in attnrl_task.bugs():
        answer = json.dumps(bug.submission(attnrl_task.spec))
        broken = good.with_data(answer=answer)
        assert await broken.validate() is False, bug.name


async def test_the_reward_is_attnrls_grade_of_the_submission() -> None:
    attnrl_task = load_task("procedural", 3)
    task = v1.attention_task(attnrl_task)
    bugs = [b.submission(attnrl_task.spec) for b in attnrl_task.bugs()]
    answers = [attnrl_task.reference(), *bugs]
    for answer in [*answers, "not json", {"final_output": [[1.0]]}]:
        trace = await scored(task, v1.AttentionState(submitted=True, submission=answer))
        grade = attnrl_task.grade(answer)
        assert trace.rewards["attnrl_reward"].score == grade.reward
        assert trace.metrics["attnrl_passed"] == float(grade.passed)
        assert trace.metrics["attnrl_full_success"] == float(grade.outcome == "full_success")
        assert trace.info["attnrl"]["outcome"] == grade.outcome
    assert trace.info["attnrl"]["outcome"] == "invalid"


async def test_no_submission_scores_zero_as_no_submission() -> None:
    task = v1.attention_task(load_task("seed-doc"))
    trace = await scored(task, v1.AttentionState(stop="no_tool_use"))
    assert trace.rewards["attnrl_reward"].score == 0.0
    assert trace.info["attnrl"]["category"] == "no_submission"
    # a submitted null is an answer (graded invalid), not the absence of one
    trace = await scored(task, v1.AttentionState(submitted=True, submission=None))
    assert trace.info["attnrl"]["category"] == "format"


async def test_the_rope_task_loads_validates_and_scores_by_its_grade() -> None:
    config = vf.resolve_env_config(
        {"taskset": {"id": v1.TASKSET_ID, "task_name": "rope", "seed": 5}}
    )
    assert config.taskset.task_name == "rope"
    ts = taskset(task_name="rope", seed=5)
    tasks = list(ts.take(2))
    for idx, v1_task in enumerate(tasks):
        expected = load_task(task="rope", seed=5 + idx)
        assert v1_task.key == expected.content_hash and v1_task.data.prompt == expected.prompt
        assert await v1_task.validate() is True
    rope = load_task(task="rope", seed=5)
    for answer in [rope.reference(), *(rope.entry_answer(b) for b in rope.bugs()), "x"]:
        trace = await scored(tasks[0], v1.AttentionState(submitted=True, submission=answer))
        assert trace.rewards["attnrl_reward"].score == rope.grade(answer).reward
    with pytest.raises(ValidationError, match="unknown task 'nope'"):
        v1.AttentionTasksetConfig(id=v1.TASKSET_ID, task_name="nope")
    with pytest.raises(ValidationError, match="unknown attnrl preset 'seed-doc'"):
        v1.AttentionTasksetConfig(id=v1.TASKSET_ID, task_name="rope", preset="seed-doc")
