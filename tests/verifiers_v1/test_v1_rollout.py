"""Real verifiers v1 rollouts: ``vf.Agent`` with the attnrl harness, v1's interception
server in front of a scripted OpenAI-compatible server on loopback, ``python_expression``
in attnrl's real sandbox, and v1's own scoring of the trace."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import verifiers.v1 as vf

from attnrl.integrations import _v1_harness
from attnrl.integrations import verifiers_v1 as v1
from attnrl.integrations._sandbox import SharedSandbox
from attnrl.task import Task, load_task
from conftest import KEY, KEY_VAR, call, solving_policy, tool_result
from fakes.llm_server import FakeLLMServer, openai_text

CODE = (
    "import os\n"
    "Q = np.array([[1.0, 0.5, -0.2]]); P = np.array([[0.1, 0.0, -0.1]])\n"
    "print((Q + P).round(2).tolist())\n"
    "print(sorted(os.environ))"
)


def agent_config(server: FakeLLMServer, **harness: Any) -> Any:
    return vf.AgentConfig(
        model="scripted-policy",
        client=vf.EvalClientConfig(base_url=server.openai_base_url, api_key_var=KEY_VAR),
        harness=v1.AttentionHarnessConfig(id=v1.TASKSET_ID, **harness),
        runtime=vf.SubprocessConfig(),
    )


async def rollout(server: FakeLLMServer, task: Task, **harness: Any) -> Any:
    async with vf.Agent(agent_config(server, **harness)) as agent:
        return await agent.run(v1.attention_task(task))


async def test_python_in_the_sandbox_then_submit_earns_the_grade(
    v1_server: FakeLLMServer, seed_task: Task
) -> None:
    v1_server.enqueue_openai(
        call("python_expression", {"expression": CODE}),
        call("submit_answer", {"answer": seed_task.reference()}),
    )
    trace = await rollout(v1_server, seed_task)

    assert trace.ok and trace.errors == []
    assert trace.rewards["attnrl_reward"].score == seed_task.grade(seed_task.reference()).reward
    assert trace.rewards["attnrl_reward"].score == 1.0
    assert trace.metrics == {"attnrl_passed": 1.0, "attnrl_full_success": 1.0}
    assert trace.info["attnrl"]["stop"] == "submitted"
    assert trace.info["attnrl"]["isolation"] == "bwrap"
    assert trace.num_turns == 2

    first, second = (r.body for r in v1_server.requests_to("openai"))
    assert first["messages"] == [{"role": "user", "content": seed_task.prompt}]
    shown = tool_result(second)
    assert shown["error"] is None and not shown["marked_error"]
    out_lines = shown["result"].splitlines()
    assert out_lines[0] == "[[1.1, 0.5, -0.3]]"
    # the sandbox's environment: none of the harness's variables, no key
    assert KEY_VAR not in out_lines[1] and KEY not in json.dumps(second)


async def test_the_model_gets_the_specs_full_tool_schemas(
    v1_server: FakeLLMServer, seed_task: Task
) -> None:
    v1_server.enqueue_openai(openai_text("I give up."))
    await rollout(v1_server, seed_task)
    tools = v1_server.requests_to("openai")[0].body["tools"]
    offered = {t["function"]["name"]: t["function"] for t in tools}
    assert set(offered) == {t.name for t in seed_task.tools}
    for spec in seed_task.tools:
        assert offered[spec.name]["parameters"] == spec.parameters
        assert offered[spec.name]["description"] == spec.description
    answer_schema = offered["submit_answer"]["parameters"]["properties"]["answer"]
    assert set(answer_schema["properties"]) == set(seed_task.spec.answer_keys())


async def test_a_catalogued_bug_gets_its_grade_not_a_pass(v1_server: FakeLLMServer) -> None:
    task = load_task("procedural", 11)
    bug = next(b for b in task.bugs() if b.name == "no_mask")
    answer = bug.submission(task.spec)
    v1_server.enqueue_openai(call("submit_answer", {"answer": answer}))
    trace = await rollout(v1_server, task)
    grade = task.grade(answer)
    assert not grade.passed
    assert trace.rewards["attnrl_reward"].score == grade.reward == 0.0
    assert trace.info["attnrl"]["category"] == grade.category == "causal_mask"


async def test_a_reply_without_tools_ends_the_episode_unsubmitted(
    v1_server: FakeLLMServer, seed_task: Task
) -> None:
    v1_server.enqueue_openai(openai_text('{"answer": "in text, not a tool call"}'))
    trace = await rollout(v1_server, seed_task)
    assert trace.ok
    assert trace.rewards["attnrl_reward"].score == 0.0
    assert trace.info["attnrl"]["stop"] == "no_tool_use"
    assert trace.info["attnrl"]["category"] == "no_submission"
    assert len(v1_server.requests_to("openai")) == 1


async def test_model_mistakes_go_back_to_it_and_the_step_limit_holds(
    v1_server: FakeLLMServer, seed_task: Task
) -> None:
    v1_server.enqueue_openai(
        call("python_expression", {"code": "print(1)"}),  # wrong argument name
        call("submit_answer", {"solution": 1}),  # no answer
        call("python_expression", {"expression": "1/0"}),  # the code fails
    )
    trace = await rollout(v1_server, seed_task, max_steps=3)
    bodies = [r.body for r in v1_server.requests_to("openai")]
    assert len(bodies) == 3
    assert "needs an 'expression' argument" in tool_result(bodies[1])["error"]
    assert "needs an 'answer' argument" in tool_result(bodies[2])["error"]
    assert tool_result(bodies[2])["marked_error"]
    assert trace.info["attnrl"]["stop"] == "step_limit"
    assert trace.rewards["attnrl_reward"].score == 0.0
    assert trace.state.tool_errors == 3


async def test_calls_after_the_submit_in_the_same_turn_are_not_run(
    v1_server: FakeLLMServer, seed_task: Task
) -> None:
    from fakes.llm_server import openai_completion, openai_tool_call

    v1_server.enqueue_openai(
        openai_completion(
            None,
            [
                openai_tool_call("submit_answer", {"answer": seed_task.reference()}),
                openai_tool_call("python_expression", {"expression": "print('late')"}),
            ],
        )
    )
    trace = await rollout(v1_server, seed_task)
    assert trace.rewards["attnrl_reward"].score == 1.0
    assert len(v1_server.requests_to("openai")) == 1  # the episode ended on the submit
    assert trace.state.steps == 1 and trace.state.tool_errors == 1  # the late call: refused


async def test_v1s_turn_limit_ends_the_episode_cleanly(
    v1_server: FakeLLMServer, seed_task: Task
) -> None:
    v1_server.set_default("openai", call("python_expression", {"expression": "print(2)"}))
    config = agent_config(v1_server).model_copy(update={"max_turns": 2})
    async with vf.Agent(config) as agent:
        trace = await agent.run(v1.attention_task(seed_task))
    assert trace.stop_condition == "max_turns"
    assert trace.errors == []
    assert len(v1_server.requests_to("openai")) == 2
    assert trace.rewards["attnrl_reward"].score == 0.0


async def test_what_the_sandbox_printed_is_what_gets_submitted(v1_server: FakeLLMServer) -> None:
    task = load_task("procedural", 5)
    v1_server.set_default("openai", solving_policy([task]))
    trace = await rollout(v1_server, task)
    second = v1_server.requests_to("openai")[1].body
    printed = json.loads(tool_result(second)["result"])
    assert task.grade(printed).outcome == "full_success"
    assert trace.state.submission == printed
    assert trace.rewards["attnrl_reward"].score == 1.0


async def test_the_harness_refuses_a_task_that_is_not_attnrls(v1_server: FakeLLMServer) -> None:
    foreign = vf.Task(vf.TaskData(prompt="What is 2 + 2?"))
    async with vf.Agent(agent_config(v1_server)) as agent:
        trace = await agent.run(foreign)
    assert not trace.ok
    assert "plays attnrl tasks only" in json.dumps([e.model_dump() for e in trace.errors])
    assert v1_server.requests_to("openai") == []


class _BrokenSandbox:
    isolation = "broken"

    async def run(self, code: str) -> Any:
        raise RuntimeError("the jail is gone")

    async def aclose(self) -> None:
        return None


@asynccontextmanager
async def _broken() -> AsyncIterator[_BrokenSandbox]:
    yield _BrokenSandbox()


async def test_a_sandbox_failure_is_infrastructure_not_the_models_fault(
    v1_server: FakeLLMServer, seed_task: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_v1_harness, "SHARED_SANDBOX", SharedSandbox(_broken))
    v1_server.enqueue_openai(call("python_expression", {"expression": "print(1)"}))
    trace = await rollout(v1_server, seed_task)
    assert not trace.ok
    errors = [e.model_dump() for e in trace.errors]
    assert any("the attnrl sandbox failed" in json.dumps(e) for e in errors), errors
    assert any(e.get("type") == "SandboxError" for e in errors), errors


# ---- issue 19 items 5 and 6: no replay; model output is never an infrastructure error -------


async def test_the_first_submission_is_graded_and_the_next_episode_is_clean(
    v1_server: FakeLLMServer, seed_task: Task
) -> None:
    from fakes.llm_server import openai_completion, openai_tool_call

    wrong = next(b for b in seed_task.bugs() if b.name == "no_mask").submission(seed_task.spec)
    v1_server.enqueue_openai(
        openai_completion(
            None,
            [
                openai_tool_call("submit_answer", {"answer": wrong}),
                openai_tool_call("submit_answer", {"answer": seed_task.reference()}),
                openai_tool_call("python_expression", {"expression": "import socket"}),
            ],
        )
    )
    trace = await rollout(v1_server, seed_task)
    assert trace.ok and trace.rewards["attnrl_reward"].score == 0.0
    assert trace.state.submission == wrong and trace.state.tool_errors == 2
    assert len(v1_server.requests_to("openai")) == 1
    v1_server.clear()
    v1_server.enqueue_openai(call("submit_answer", {"answer": seed_task.reference()}))
    clean = await rollout(v1_server, seed_task)
    assert clean.ok and clean.rewards["attnrl_reward"].score == 1.0


MARKUP = "[/x] [bold [link=https://example.invalid]x \x1b[2J \x00"


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param('{"answer": ' + "[" * 100_000 + "]" * 100_000 + "}", id="too deep to parse"),
        pytest.param({"answer": MARKUP}, id="markup as the answer"),
        pytest.param('{"answer": ' + "[" * 600 + "1" + "]" * 600 + "}", id="600 deep"),
    ],
)
async def test_model_output_is_the_models_failure_never_an_error(
    v1_server: FakeLLMServer, seed_task: Task, arguments: Any
) -> None:
    v1_server.enqueue_openai(call("submit_answer", arguments), openai_text(MARKUP))
    trace = await rollout(v1_server, seed_task)
    assert trace.ok and trace.errors == [], trace.errors
    assert trace.rewards["attnrl_reward"].score == 0.0
    assert trace.info["attnrl"]["stop"] in ("error", "submitted", "no_tool_use")
    v1_server.clear()
    v1_server.enqueue_openai(call("submit_answer", {"answer": seed_task.reference()}))
    clean = await rollout(v1_server, seed_task)
    assert clean.ok and clean.rewards["attnrl_reward"].score == 1.0
