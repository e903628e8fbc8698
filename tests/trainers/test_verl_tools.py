"""verl multi-turn: attnrl's tools loaded by verl's own ``initialize_tools_from_config`` from
the shipped YAML, driven by verl's real ``ToolAgentLoop.run`` (config composed by verl's
hydra config with the README command's overrides), a scripted server manager standing in
for the LLM server, and the episode scored by the reward function verl loads from the
README's ``REWARD_FILE``."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("verl")

from agentic_helpers import (  # noqa: E402
    ROOT,
    answer_from_tool_text,
    python_call,
)
from tiny_models import build_tokenizer  # noqa: E402

from attnrl.harness.tamper import METRIC_NAMES  # noqa: E402
from attnrl.integrations import _commands as commands  # noqa: E402
from attnrl.integrations import verl_tools  # noqa: E402
from attnrl.integrations._tool_session import worker_sandbox  # noqa: E402
from attnrl.task import load_task  # noqa: E402
from attnrl.task.bugs import bug_by_name  # noqa: E402


def _shell(line: str) -> str:
    """What a ``VAR=$(python -c ...)`` line of the command sets, run in a real shell."""
    name = line.split("=")[0]
    script = line.replace("python -c", f"{sys.executable} -c", 1) + f'\nprintf %s "${name}"'
    return subprocess.run(
        ["bash", "-c", script], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout


def _command_vars() -> dict[str, str]:
    """TOOL_CONFIG and REWARD_FILE as the README's verl multi-turn command sets them."""
    lines = commands.verl_tools_shell().splitlines()
    return {ln.split("=")[0]: _shell(ln) for ln in lines if re.match(r"^[A-Z_]+=\$\(", ln)}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    texts = [load_task("procedural", s).prompt for s in range(4)]
    return build_tokenizer(tmp_path_factory.mktemp("tok"), texts)


@pytest.fixture(scope="module")
def verl_config() -> Any:
    """verl's own trainer config with the README's multi-turn overrides (the README prints
    exactly ``_commands.verl_tools_shell()``: tests/integrations/test_integration_trainers.py)."""
    import verl.trainer
    from hydra import compose, initialize_config_dir

    variables = _command_vars()
    overrides = []
    for word in commands.VERL_TOOL_OVERRIDES:
        for name, value in variables.items():
            word = word.replace(f"${name}", value)
        overrides.append(word)
    config_dir = str(Path(verl.trainer.__file__).parent / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


class ScriptedServer:
    """The LLM server manager: turn 1 runs numpy code through python_expression, turn 2
    submits what the sandbox printed (read back from the tokens it was given)."""

    def __init__(self, tokenizer: Any, first_call: dict[str, Any], wrong: bool = False) -> None:
        self.tokenizer = tokenizer
        self.first_call = first_call
        self.wrong = wrong
        self.request_ids: list[str] = []

    async def generate(self, request_id: str, *, prompt_ids: list[int], **_: Any) -> Any:
        from verl.workers.rollout.replica import TokenOutput

        self.request_ids.append(request_id)
        context = self.tokenizer.decode(prompt_ids)
        turn = context.count("<|im_start|>tool")
        if turn == 0:
            text = f"<tool_call>{json.dumps(self.first_call)}</tool_call>"
        elif turn == 1:
            answer = answer_from_tool_text(context) if not self.wrong else {"answer": "nonsense"}
            call = {"name": "submit_answer", "arguments": {"answer": answer}}
            text = f"<tool_call>{json.dumps(call)}</tool_call>"
        else:  # verl's loop ends on a turn without a tool call
            text = "Submitted."
        text += "<|im_end|>"
        return TokenOutput(token_ids=self.tokenizer.encode(text, add_special_tokens=False))


def _loop(config: Any, tokenizer: Any, server: ScriptedServer) -> Any:
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap, ToolListWrap
    from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop
    from verl.tools.tool_registry import initialize_tools_from_config
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tools = initialize_tools_from_config(
        config.actor_rollout_ref.rollout.multi_turn.tool_config_path
    )
    return ToolAgentLoop(
        trainer_config=DictConfigWrap(config),
        server_manager=server,
        tokenizer=tokenizer,
        processor=None,
        dataset_cls=RLHFDataset,
        data_config=DictConfigWrap(config.data),
        tools=ToolListWrap(tools),
    )


def _episode(config: Any, tokenizer: Any, server: ScriptedServer, row: dict[str, Any]) -> Any:
    async def run() -> Any:
        # verl's agent loop binds the running event loop when it is made
        loop = _loop(config, tokenizer, server)
        try:
            return await loop.run(
                {"temperature": 1.0},
                raw_prompt=row["prompt"],
                tools_kwargs=row["extra_info"]["tools_kwargs"],
                extra_info=row["extra_info"],
            )
        finally:
            await worker_sandbox().aclose()

    return asyncio.run(run())


def _score(config: Any, row: dict[str, Any], output: Any) -> Any:
    """What verl's NaiveRewardManager does: extra_info updated with the tool extra fields,
    then the custom reward function loaded from the configured path."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(config)
    assert fn is not None
    extra_info = dict(row["extra_info"])
    extra_info.update(output.extra_fields.items())
    ground_truth = row["reward_model"]["ground_truth"]
    return fn(
        data_source=row["data_source"],
        solution_str="",
        ground_truth=ground_truth,
        extra_info=extra_info,
    )


def test_the_readme_command_sets_what_the_tool_episode_needs(verl_config: Any) -> None:
    multi_turn = verl_config.actor_rollout_ref.rollout.multi_turn
    assert multi_turn.enable is True
    assert multi_turn.format == "hermes"
    assert multi_turn.max_assistant_turns == 15
    assert Path(multi_turn.tool_config_path) == verl_tools.tool_config_path()
    # a python result is at most 10,000 characters, JSON-escaped in the tool message
    assert multi_turn.max_tool_response_length >= 2 * load_task("seed-doc").limits.max_output_chars
    assert verl_config.reward.custom_reward_function.name == "compute_score"
    assert Path(verl_config.reward.custom_reward_function.path) == Path(verl_tools.__file__)


def test_verl_loads_the_shipped_yaml_with_the_answer_format_in_the_description(
    verl_config: Any,
) -> None:
    from verl.tools.tool_registry import initialize_tools_from_config

    tools = initialize_tools_from_config(
        verl_config.actor_rollout_ref.rollout.multi_turn.tool_config_path
    )
    by_name = {t.name: t for t in tools}
    assert set(by_name) == {"python_expression", "submit_answer"}
    assert isinstance(by_name["python_expression"], verl_tools.PythonExpressionTool)
    task = load_task("seed-doc")
    assert (
        by_name["python_expression"].tool_schema.function.description == task.tools[0].description
    )
    submit = by_name["submit_answer"].tool_schema.function
    # verl dropped the nested schema (verl#7505): the keys must be in the text
    schema = submit.parameters.properties["answer"].model_dump(exclude_none=True)
    assert set(schema) <= {"type", "description", "enum"}
    for key in task.spec.answer_keys():
        assert key in submit.description
    assert "JSON boolean" in submit.description


def test_tool_agent_loop_runs_the_sandbox_and_ends_in_reward_1(
    verl_config: Any, tokenizer: Any
) -> None:
    row = verl_tools.verl_tool_rows("procedural", n=1, seed=3)[0]
    assert row["agent_name"] == "tool_agent"
    server = ScriptedServer(tokenizer, python_call(load_task("procedural", 3)))
    output = _episode(verl_config, tokenizer, server, row)

    assert len(set(server.request_ids)) == 1 and len(server.request_ids) == 3
    assert output.extra_fields["tool_rewards"] == [0.0, 1.0]
    text = tokenizer.decode(output.response_ids)
    assert '\\"final_output\\"' in text  # the sandbox's printed answer reached the policy
    assert '{"result": "submitted"}' in text
    assert 0 in output.response_mask and 1 in output.response_mask
    submitted = json.loads(output.extra_fields[verl_tools.SUBMISSION_KEY])
    assert submitted == answer_from_tool_text(text)
    result = _score(verl_config, row, output)
    assert result["score"] == 1.0 and result["outcome"] == "full_success"
    assert all(result[f"tamper/{k}"] == 0 for k in METRIC_NAMES)
    assert len(verl_tools.EPISODES) == 0  # the submit closed the episode


def test_a_probing_episode_is_counted_and_scored_by_its_submission(
    verl_config: Any, tokenizer: Any
) -> None:
    row = verl_tools.verl_tool_rows("procedural", n=1, seed=4)[0]
    code = "import socket\nopen('/etc/attnrl-probe', 'w')"
    server = ScriptedServer(
        tokenizer, {"name": "python_expression", "arguments": {"expression": code}}, wrong=True
    )
    output = _episode(verl_config, tokenizer, server, row)
    tamper = output.extra_fields[verl_tools.TAMPER_KEY]
    assert tamper["blocked/write_outside_workdir"] == 1
    assert tamper["probe/network"] == 1
    result = _score(verl_config, row, output)
    assert result["score"] == 0.0 and result["outcome"] == "invalid"
    assert result["tamper/blocked/write_outside_workdir"] == 1


def test_no_submission_scores_zero(verl_config: Any) -> None:
    row = verl_tools.verl_tool_rows("procedural", n=1, seed=5)[0]
    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(verl_config)
    assert fn is not None
    # a correct answer as *text* is not a submission in a tool episode
    text = json.dumps(load_task("procedural", 5).reference())
    result = fn(
        data_source="attnrl", solution_str=text, ground_truth=None, extra_info=row["extra_info"]
    )
    assert result["score"] == 0.0 and result["outcome"] == "no_submission"


def test_a_wrong_bug_submission_gets_no_reward_but_the_step_reward_says_so() -> None:
    task = load_task("procedural", 6)
    row = verl_tools.verl_tool_row(task)
    wrong = bug_by_name("no_mask").submission(task.spec)
    result = verl_tools.compute_score(
        "attnrl", "", None, {**row["extra_info"], verl_tools.SUBMISSION_KEY: json.dumps(wrong)}
    )
    assert result["score"] == 0.0 and result["passed"] is False


_VERIFY_MANY = """
import contextlib, io, json, sys
from attnrl.cli import main
out = []
for text in json.load(sys.stdin):
    sys.stdin, buf = io.StringIO(text), io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(["verify", "--preset", "seed-doc", "--json", "-"])
    out.append(json.loads(buf.getvalue())["reward"])
sys.__stdout__.write(json.dumps(out))
"""


def test_the_contract_cases_get_verifys_reward() -> None:
    """The adapter contract (tests/integrations/test_contract.py) for verl_tools: the
    reference, every catalogued bug and malformed submissions, sent to ``submit_answer``
    and scored by ``compute_score``, get exactly ``attnrl verify --json``'s reward."""
    import math

    task = load_task("seed-doc")
    ref = task.reference()
    nan_row = [[math.nan] * len(r) for r in ref["head1_output"]]
    texts = [
        json.dumps(ref),
        *(json.dumps(b.submission(task.spec)) for b in task.bugs()),
        json.dumps({k: v for k, v in ref.items() if k != "final_output"}),
        json.dumps(ref | {"causal_mask_applied": "true"}),
        json.dumps(ref | {"head1_output": nan_row}),
        '{"position_encoded_queries": [[1.1, 0.5, -0.3], [0.3, 0.0',
    ]
    proc = subprocess.run(
        [sys.executable, "-c", _VERIFY_MANY],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    expected = json.loads(proc.stdout)
    assert set(expected) == {0.0, 0.5, 1.0}
    from verl.tools.tool_registry import initialize_tools_from_config

    tools = {t.name: t for t in initialize_tools_from_config(str(verl_tools.tool_config_path()))}
    row = verl_tools.verl_tool_row(task)
    kwargs = row["extra_info"]["tools_kwargs"]["submit_answer"]

    @dataclass
    class Data:  # the two fields of verl's AgentData the tools use
        request_id: str
        extra_fields: dict[str, Any] = field(default_factory=dict)

    async def submit(i: int, text: str) -> tuple[float, float]:
        tool = tools["submit_answer"]
        data = Data(f"contract-{i}")
        instance_id, _ = await tool.create(create_kwargs=kwargs["create_kwargs"])
        try:
            answer = json.loads(text)
        except ValueError:
            answer = text  # unparseable: sent as the string it is
        _, step, _ = await tool.execute(instance_id, {"answer": answer}, agent_data=data)
        await tool.release(instance_id)
        extra = dict(row["extra_info"], **data.extra_fields)
        scored = verl_tools.compute_score("attnrl", "", row["reward_model"]["ground_truth"], extra)
        return step, scored["score"]

    got = [asyncio.run(submit(i, t)) for i, t in enumerate(texts)]
    assert [g[1] for g in got] == expected
    assert [g[0] for g in got] == expected
