"""The reward contract (tests/integrations/test_contract.py) for the verifiers v1 taskset:
the reference, every catalogued bug and the malformed submissions, each submitted through
a real v1 rollout (``vf.Agent``, v1's interception, the scripted loopback server) and
scored by v1, must get exactly the reward ``attnrl verify --json`` gives."""

from __future__ import annotations

from typing import Any

import verifiers.v1 as vf

from attnrl.integrations import verifiers_v1 as v1
from attnrl.task import load_task
from conftest import KEY_VAR, call
from fakes.contract import contract_cases, submit_arguments, verify_all
from fakes.llm_server import FakeLLMServer, openai_text


async def test_every_case_gets_the_reward_attnrl_verify_gives(v1_server: FakeLLMServer) -> None:
    task = load_task("seed-doc")
    cases = contract_cases(task)
    verified = verify_all(cases)
    assert {v["reward"] for v in verified} == {0.0, 0.5, 1.0}
    config = vf.AgentConfig(
        model="scripted-policy",
        client=vf.EvalClientConfig(base_url=v1_server.openai_base_url, api_key_var=KEY_VAR),
        harness=v1.AttentionHarnessConfig(id=v1.TASKSET_ID),
        runtime=vf.SubprocessConfig(),
    )
    rewards: list[Any] = []
    async with vf.Agent(config) as agent:
        for case in cases:
            # an answer that cannot be taken is refused; the policy then gives up in text
            v1_server.enqueue_openai(
                call("submit_answer", submit_arguments(case)), openai_text("I cannot submit that.")
            )
            trace = await agent.run(v1.attention_task(task))
            v1_server.clear()
            assert trace.ok, (case.name, trace.errors)
            rewards.append(trace.rewards["attnrl_reward"].score)
    mismatches = [
        f"{c.name}: v1 {got} != verify {want['reward']}"
        for c, got, want in zip(cases, rewards, verified, strict=True)
        if got != want["reward"]
    ]
    assert not mismatches, "\n".join(mismatches)
