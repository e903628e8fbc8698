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
import uuid
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
from attnrl.integrations import verl as single_turn  # noqa: E402
from attnrl.integrations import verl_tools  # noqa: E402
from attnrl.integrations._tool_session import worker_sandbox  # noqa: E402
from attnrl.task import load_task  # noqa: E402
from attnrl.task.submission import MAX_SUBMISSION_BYTES, canonical_size  # noqa: E402
from attnrl.tasks.attention.bugs import bug_by_name  # noqa: E402


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


def _score(config: Any, row: dict[str, Any], output: Any, response: str = "") -> Any:
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
        solution_str=response,
        ground_truth=ground_truth,
        extra_info=extra_info,
    )


def _decoded(tokenizer: Any, output: Any) -> str:
    """The episode's response as verl's reward manager decodes it (``solution_str``): the
    model's turns and the tool results between them."""
    return str(tokenizer.decode(output.response_ids, skip_special_tokens=True))


def _plain_score(config: Any, row: dict[str, Any], output: Any, response: str) -> Any:
    """:func:`_score` with the single-turn reward file (``attnrl.integrations.verl``) in
    place of the tool episode's, given the decoded ``response``."""
    from omegaconf import OmegaConf

    import attnrl.integrations.verl as single_turn

    path = {"reward": {"custom_reward_function": {"path": single_turn.__file__}}}
    return _score(OmegaConf.merge(config, path), row, output, response)


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
    result = _score(verl_config, row, output, _decoded(tokenizer, output))
    assert result["score"] == 1.0 and result["outcome"] == "full_success"
    assert all(result[f"tamper/{k}"] == 0 for k in METRIC_NAMES)
    assert result["repeats"] == 0
    assert len(verl_tools.EPISODES) == 0  # the submit closed the episode


class LoopingServer(ScriptedServer):
    """A policy stuck in a loop: the same python call on turns 1 and 2, then a submission."""

    async def generate(self, request_id: str, *, prompt_ids: list[int], **_: Any) -> Any:
        from verl.workers.rollout.replica import TokenOutput

        self.request_ids.append(request_id)
        turn = self.tokenizer.decode(prompt_ids).count("<|im_start|>tool")
        calls = [self.first_call, self.first_call]
        calls.append({"name": "submit_answer", "arguments": {"answer": {"x": 1}}})
        text = f"<tool_call>{json.dumps(calls[turn])}</tool_call>" if turn < 3 else "Done."
        return TokenOutput(
            token_ids=self.tokenizer.encode(text + "<|im_end|>", add_special_tokens=False)
        )


def test_repeated_calls_reach_the_score_through_the_tool_agent_loop(
    verl_config: Any, tokenizer: Any
) -> None:
    row = verl_tools.verl_tool_rows("procedural", n=1, seed=3)[0]
    looping = LoopingServer(
        tokenizer, {"name": "python_expression", "arguments": {"expression": "print(1)"}}
    )
    output = _episode(verl_config, tokenizer, looping, row)
    assert output.extra_fields[verl_tools.REPEATS_KEY][0] == 1
    result = _score(verl_config, row, output, _decoded(tokenizer, output))
    assert result["repeats"] == 1 and result["score"] == 0.0
    # the next episode of the worker starts at 0
    server = ScriptedServer(tokenizer, python_call(load_task("procedural", 3)))
    output = _episode(verl_config, tokenizer, server, row)
    assert _score(verl_config, row, output, _decoded(tokenizer, output))["repeats"] == 0


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
    result = _score(verl_config, row, output, _decoded(tokenizer, output))
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
    # The single-turn reward file on the same tool row, the episode having called no tool
    # (extra_info holds only verl's own tool fields): the tools' record decides there too,
    # never the text (found by the 2026-12-04 review: it paid 1.0).
    extra = {**row["extra_info"], "turn_scores": [], "tool_rewards": [], "num_turns": 2}
    single = single_turn.compute_score(
        "attnrl", "no tool for me. " + text, None, extra, details=True
    )
    assert isinstance(single, dict) and single["score"] == 0.0
    assert single["outcome"] == "no_submission"


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
        # the size limit from both sides (tests/fakes/contract.py's size_cases), sent as
        # objects below: exactly at the limit on the canonical encoding, and 2 MB over it
        json.dumps(ref | {"pad": "x" * (MAX_SUBMISSION_BYTES - canonical_size(ref | {"pad": ""}))}),
        json.dumps(ref | {"pad": "x" * (2 * MAX_SUBMISSION_BYTES)}),
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
    assert expected[-2:] == [1.0, 0.0]  # at the size limit, over it
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
        response, step, _ = await tool.execute(instance_id, {"answer": answer}, agent_data=data)
        await tool.release(instance_id)
        extra = dict(row["extra_info"], **data.extra_fields)
        truth = row["reward_model"]["ground_truth"]  # the response holds the tool's result:
        scored = verl_tools.compute_score("attnrl", response.text, truth, extra)
        return step, scored["score"]

    got = [asyncio.run(submit(i, t)) for i, t in enumerate(texts)]
    assert [g[1] for g in got] == expected
    assert [g[0] for g in got] == expected


# ---- issue 19 item 5: no episode can be replayed ---------------------------------------------

PROBE = "import socket\nprint(open('/etc/hostname').read())"


class ReplayServer(ScriptedServer):
    """An attacking policy: submits a wrong answer, then runs code and submits the right one
    (read back from a correct python result it runs first), then stops."""

    def __init__(self, tokenizer: Any, task: Any) -> None:
        super().__init__(tokenizer, python_call(task))
        self.task = task

    async def generate(self, request_id: str, *, prompt_ids: list[int], **_: Any) -> Any:
        from verl.workers.rollout.replica import TokenOutput

        self.request_ids.append(request_id)
        turn = self.tokenizer.decode(prompt_ids).count("<|im_start|>tool")
        wrong = bug_by_name("no_mask").submission(self.task.spec)
        calls = [
            [{"name": "submit_answer", "arguments": {"answer": wrong}}],
            [{"name": "python_expression", "arguments": {"expression": PROBE}}],
            [{"name": "submit_answer", "arguments": {"answer": self.task.reference()}}],
        ]
        if turn < len(calls):
            text = "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls[turn])
        else:
            text = "Submitted."
        return TokenOutput(
            token_ids=self.tokenizer.encode(text + "<|im_end|>", add_special_tokens=False)
        )


def test_a_submitted_episode_stays_closed_in_the_tool_agent_loop(
    verl_config: Any, tokenizer: Any
) -> None:
    from attnrl.harness.tools import EPISODE_OVER

    task = load_task("procedural", 7)
    row = verl_tools.verl_tool_row(task)
    output = _episode(verl_config, tokenizer, ReplayServer(tokenizer, task), row)

    assert output.extra_fields["tool_rewards"] == [0.0, 0.0, 0.0]
    wrong = bug_by_name("no_mask").submission(task.spec)
    assert json.loads(output.extra_fields[verl_tools.SUBMISSION_KEY]) == wrong
    text = tokenizer.decode(output.response_ids)
    assert text.count(json.dumps(EPISODE_OVER)[1:-1]) == 2  # the python call and the submit
    counts = output.extra_fields[verl_tools.TAMPER_KEY]
    assert counts["probe/network"] == 1 and counts["probe/environment"] == 1
    result = _score(verl_config, row, output, _decoded(tokenizer, output))
    assert result["score"] == 0.0 and result["passed"] is False
    assert result["tamper/probe/network"] == 1
    # the single-turn reward file on the same episode (a tool row graded with the wrong file):
    # the response it is given holds the refused right answer, which it never reads
    assert _plain_score(verl_config, row, output, text) == 0.0
    assert _plain_score(verl_config, row, output, text + json.dumps(task.reference())) == 0.0

    # the next, innocent episode of the worker: nothing of the attack
    row = verl_tools.verl_tool_rows("procedural", n=1, seed=3)[0]
    server = ScriptedServer(tokenizer, python_call(load_task("procedural", 3)))
    output = _episode(verl_config, tokenizer, server, row)
    assert output.extra_fields["tool_rewards"] == [0.0, 1.0]
    result = _score(verl_config, row, output, _decoded(tokenizer, output))
    assert result["score"] == 1.0 and all(result[f"tamper/{k}"] == 0 for k in METRIC_NAMES)


def _agent_data(request_id: str) -> Any:
    from verl.experimental.agent_loop.tool_agent_loop import AgentData

    return AgentData(
        messages=[],
        image_data=None,  # type: ignore[arg-type]
        video_data=None,  # type: ignore[arg-type]
        audio_data=None,
        mm_processor_kwargs=None,
        metrics={},
        request_id=request_id,
        tools_kwargs={},
    )


@dataclass
class _PlainData:
    """An agent_data that cannot be weakly keyed (a dataclass is unhashable): the episodes
    fall back to the request id table."""

    request_id: str
    extra_fields: dict[str, Any] = field(default_factory=dict)


async def _call(tools: dict[str, Any], row: dict[str, Any], name: str, args: Any, data: Any) -> Any:
    """One verl tool call as ToolAgentLoop makes it: create, execute, release."""
    tool = tools[name]
    kwargs = row["extra_info"]["tools_kwargs"][name]
    instance_id, _ = await tool.create(create_kwargs=kwargs["create_kwargs"])
    try:
        return await tool.execute(instance_id, args, agent_data=data)
    finally:
        await tool.release(instance_id)


@pytest.mark.parametrize("kind", ["verl AgentData", "plain object"])
def test_release_and_create_cannot_reopen_a_closed_episode(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verl.tools.tool_registry import initialize_tools_from_config

    from attnrl.harness.tools import EPISODE_OVER

    monkeypatch.setattr(verl_tools, "MAX_EPISODES", 3)
    tools = {t.name: t for t in initialize_tools_from_config(str(verl_tools.tool_config_path()))}
    task = load_task("procedural", 8)
    row = verl_tools.verl_tool_row(task)
    make = _agent_data if kind == "verl AgentData" else _PlainData
    wrong = bug_by_name("no_mask").submission(task.spec)

    async def attack() -> None:
        data = make("det-0")
        opening, step, _ = await _call(tools, row, "submit_answer", {"answer": wrong}, data)
        assert step == 0.0
        first = dict(data.extra_fields)
        history = [first[verl_tools.TAMPER_KEY]]
        for name, args in [
            ("python_expression", {"expression": PROBE}),
            ("submit_answer", {"answer": task.reference()}),
            ("python_expression", {"expression": "print(1)"}),
            ("submit_answer", {"answer": json.dumps(task.reference())}),
        ]:
            response, step, _ = await _call(tools, row, name, args, data)
            assert json.loads(response.text)["error"] == EPISODE_OVER and step == 0.0
            history.append(data.extra_fields[verl_tools.TAMPER_KEY])
        for before, after in zip(history, history[1:], strict=False):
            assert all(after[k] >= before[k] for k in METRIC_NAMES)
        assert history[-1]["probe/network"] == 1
        assert data.extra_fields[verl_tools.SUBMISSION_KEY] == first[verl_tools.SUBMISSION_KEY]
        # other episodes push this one out of the id table: verl's extra_fields still close it
        for i in range(4):
            other = make(f"other-{i}")
            await _call(tools, row, "python_expression", {"expression": "print(2)"}, other)
        response, step, _ = await _call(
            tools, row, "submit_answer", {"answer": task.reference()}, data
        )
        assert json.loads(response.text)["error"] == EPISODE_OVER and step == 0.0
        assert data.extra_fields[verl_tools.TAMPER_KEY]["probe/network"] == 1
        extra = dict(row["extra_info"], **data.extra_fields)
        scored = verl_tools.compute_score("attnrl", opening.text, None, extra)
        assert scored["score"] == 0.0 and scored["tamper/probe/network"] == 1

        # a new episode that reuses the request id (verl's full_determinism: det-<index>,
        # every batch): verl gives it a new AgentData, so it is a new episode; without an
        # object per episode the id is all there is, and it still names the closed one
        fresh = make("det-0")
        response, step, _ = await _call(
            tools, row, "submit_answer", {"answer": task.reference()}, fresh
        )
        if kind == "verl AgentData":
            assert step == 1.0
            assert fresh.extra_fields[verl_tools.TAMPER_KEY]["probe/network"] == 0
        else:  # the first call of a new episode (its receipt first), refused all the same
            assert response.text.startswith(verl_tools.RECEIPT_LINE)
            assert json.loads(response.text.split("\n", 1)[1])["error"] == EPISODE_OVER
            assert step == 0.0
        await worker_sandbox().aclose()

    asyncio.run(attack())


def test_an_open_episode_pushed_out_of_the_id_table_keeps_its_counters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from verl.tools.tool_registry import initialize_tools_from_config

    monkeypatch.setattr(verl_tools, "MAX_EPISODES", 2)
    tools = {t.name: t for t in initialize_tools_from_config(str(verl_tools.tool_config_path()))}
    task = load_task("procedural", 9)
    row = verl_tools.verl_tool_row(task)

    async def run() -> None:
        data = _PlainData("open-1")
        await _call(tools, row, "python_expression", {"expression": PROBE}, data)
        for i in range(3):  # push it out of the table
            await _call(tools, row, "python_expression", {"expression": "1"}, _PlainData(f"o{i}"))
        await _call(tools, row, "python_expression", {"expression": "print(1)"}, data)
        counts = data.extra_fields[verl_tools.TAMPER_KEY]
        assert counts["probe/network"] == 1 and counts["probe/environment"] == 1
        _, step, _ = await _call(tools, row, "submit_answer", {"answer": task.reference()}, data)
        assert step == 1.0
        await worker_sandbox().aclose()

    asyncio.run(run())


class _CharTokenizer:
    """Token ids that are characters: the stand-in for a tokenizer that decodes a response
    to exactly the text the episode produced."""

    @staticmethod
    def encode(text: str) -> list[int]:
        return [ord(c) for c in text]

    @staticmethod
    def decode(ids: Any, skip_special_tokens: bool = True) -> str:
        del skip_special_tokens
        return "".join(chr(int(i)) for i in ids)


@pytest.mark.parametrize("sibling", ["no tool call", "python only", "wrong", "right as well"])
def test_rollouts_sharing_one_extra_info_are_each_graded_on_their_own_episode(
    sibling: str,
) -> None:
    """verl's colocated reward path (a reward model without its own pool) scores a batch
    after the rollouts: ``DataProto.repeat`` gives a prompt's rollouts one shared
    ``extra_info`` dict, Ray ships a chunk as one pickle (the sharing survives), and
    ``NaiveRewardManager.run_single`` merges each rollout's tool fields into it in place,
    concurrently. Each rollout's response shows its episode's receipt, and its record is
    under a key of its own: a rollout is graded on its own episode, never on a sibling's
    (found by the 2026-12-04 review: a rollout that never submitted scored 1.0, and a right
    one scored a sibling's wrong answer)."""
    import pickle

    import numpy as np
    import torch
    from verl import DataProto
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.tools.tool_registry import initialize_tools_from_config

    task = load_task("procedural", 0)
    row = verl_tools.verl_tool_rows("procedural", n=1, seed=0)[0]
    tools = {t.name: t for t in initialize_tools_from_config(str(verl_tools.tool_config_path()))}
    wrong = bug_by_name("no_mask").submission(task.spec)
    plans: dict[str, list[tuple[str, Any]]] = {
        "right": [("submit_answer", {"answer": task.reference()})],
        "no tool call": [],
        "python only": [("python_expression", {"expression": "print(1)"})],
        "wrong": [("submit_answer", {"answer": wrong})],
        "right as well": [("python_expression", {"expression": "print(2)"})]
        + [("submit_answer", {"answer": task.reference()})],
    }
    expected = {"right": 1.0, "right as well": 1.0, "no tool call": 0.0, "python only": 0.0}
    expected["wrong"] = 0.0

    async def episode(plan: list[tuple[str, Any]]) -> tuple[str, dict[str, Any]]:
        data = _PlainData(uuid.uuid4().hex)
        text = "I think. "
        for name, args in plan:
            response, _, _ = await _call(tools, row, name, args, data)
            text += f"<tool_call>{json.dumps({'name': name, 'arguments': args})}</tool_call>"
            text += f"<tool_response>{response.text}</tool_response>"
        data.extra_fields.update({"turn_scores": [], "tool_rewards": []})  # as ToolAgentLoop
        return text, data.extra_fields

    async def rollouts() -> list[tuple[str, dict[str, Any]]]:
        try:
            return [await episode(plans[name]) for name in ("right", sibling, "right")]
        finally:
            await worker_sandbox().aclose()

    played = asyncio.run(rollouts())
    n, longest = len(played), max(len(text) for text, _ in played)
    batch = DataProto.from_dict(
        tensors={"prompts": torch.ones(1, 1, dtype=torch.long)},
        non_tensors={
            "data_source": np.array([row["data_source"]], dtype=object),
            "reward_model": np.array([row["reward_model"]], dtype=object),
            "extra_info": np.array([row["extra_info"]], dtype=object),
        },
    ).repeat(repeat_times=n, interleave=True)  # what the trainer does for n rollouts
    infos = batch.non_tensor_batch["extra_info"]
    assert all(info is infos[0] for info in infos)  # one dict for the prompt's rollouts
    responses = torch.zeros(n, longest, dtype=torch.long)
    mask = torch.zeros(n, 1 + longest, dtype=torch.long)
    for i, (text, _) in enumerate(played):
        responses[i, : len(text)] = torch.tensor(_CharTokenizer.encode(text))
        mask[i, : 1 + len(text)] = 1
    batch.batch["responses"], batch.batch["attention_mask"] = responses, mask
    batch.non_tensor_batch["tool_extra_fields"] = np.empty(n, dtype=object)
    for i, (_, fields) in enumerate(played):
        batch.non_tensor_batch["tool_extra_fields"][i] = fields
    chunk = pickle.loads(pickle.dumps(batch))  # Ray ships one chunk to a reward worker

    async def score_chunk() -> list[dict[str, Any]]:  # RewardLoopWorker.compute_score_batch
        manager = NaiveRewardManager(None, _CharTokenizer(), verl_tools.compute_score)
        runs = [manager.run_single(chunk[i : i + 1]) for i in range(n)]
        return list(await asyncio.gather(*runs))

    scored = asyncio.run(score_chunk())
    got = [s["reward_score"] for s in scored]
    assert got == [1.0, expected[sibling], 1.0], (sibling, got)
    outcomes = [s["reward_extra_info"]["outcome"] for s in scored]
    if sibling in ("no tool call", "python only"):
        assert outcomes[1] == "no_submission", outcomes
