"""One grader, one reward, everywhere.

The same submissions (the reference, every catalogued bug, and malformed ones) go through
``attnrl verify --json`` and through every adapter, each fed the way its framework feeds
it; every adapter must give exactly the reward ``attnrl verify`` gives.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from adapter_helpers import as_text, run_inspect_eval

from attnrl.integrations import openrlhf, trl, verl
from attnrl.task import Task, load_task
from attnrl.task.dataset import dataset_row
from fakes.contract import Case, contract_cases, submit_arguments, verify_all
from fakes.llm_server import FakeLLMServer, FakeResponse, openai_completion, openai_tool_call

pytest.importorskip("inspect_ai")
pytest.importorskip("verifiers")

# inspect_ai 0.3.285's own warnings, as in test_integration_inspect.py.
pytestmark = [
    pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*MemoryObjectReceiveStream"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
]


@pytest.fixture(scope="module")
def task() -> Task:
    return load_task("seed-doc")


@pytest.fixture(scope="module")
def cases(task: Task) -> list[Case]:
    return contract_cases(task)


@pytest.fixture(scope="module")
def verified(cases: list[Case]) -> list[dict[str, Any]]:
    return verify_all(cases)


def test_verify_command_as_a_process(cases: list[Case], verified: list[dict[str, Any]]) -> None:
    """``python -m attnrl verify --json -`` itself, for a pass, a partial pass and bad JSON."""
    picked = [0, next(i for i, v in enumerate(verified) if v["reward"] == 0.5), len(cases) - 1]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "attnrl", "verify", "--preset", "seed-doc", "--json", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in picked
    ]
    for i, proc in zip(picked, procs, strict=True):
        out, _ = proc.communicate(cases[i].text, timeout=120)
        grade = json.loads(out)
        assert grade["reward"] == verified[i]["reward"]
        assert proc.returncode == verified[i]["exit_code"] == (0 if grade["passed"] else 1)


def test_the_cases_span_every_reward(cases: list[Case], verified: list[dict[str, Any]]) -> None:
    by_name = {c.name: v for c, v in zip(cases, verified, strict=True)}
    assert {v["reward"] for v in verified} == {0.0, 0.5, 1.0}
    assert by_name["reference"]["outcome"] == "full_success"
    for name in ("missing_key", "string_flag", "bad_json", "over_size_limit"):
        assert by_name[name]["outcome"] == "invalid", name
    assert by_name["at_size_limit"]["outcome"] == "full_success"
    assert by_name["nan"]["outcome"] == "failure"


def _assert_same(
    adapter: str, rewards: list[float], cases: list[Case], verified: list[dict[str, Any]]
) -> None:
    expected = [v["reward"] for v in verified]
    mismatches = [
        f"{c.name}: {adapter} {got} != verify {want}"
        for c, got, want in zip(cases, rewards, expected, strict=True)
        if got != want
    ]
    assert not mismatches, "\n".join(mismatches)


def test_verl(task: Task, cases: list[Case], verified: list[dict[str, Any]]) -> None:
    row = verl.verl_row(task)
    rewards: list[Any] = [
        verl.compute_score(
            data_source=row["data_source"],
            solution_str=as_text(None, raw=c.text),
            ground_truth=row["reward_model"]["ground_truth"],
            extra_info=dict(row["extra_info"], num_turns=None),
        )
        for c in cases
    ]
    _assert_same("verl", rewards, cases, verified)


@pytest.mark.parametrize("form", ["string", "chat"])
def test_trl(task: Task, cases: list[Case], verified: list[dict[str, Any]], form: str) -> None:
    row = dataset_row(task)
    texts = [as_text(None, raw=c.text) for c in cases]
    completions: list[Any] = (
        texts if form == "string" else [[{"role": "assistant", "content": t}] for t in texts]
    )
    n = len(cases)
    rewards = trl.reward_func(
        prompts=[row["prompt"]] * n,
        completions=completions,
        answer=[row["answer"]] * n,
        info=[row["info"]] * n,
    )
    _assert_same(f"trl ({form})", rewards, cases, verified)


def test_curriculum_trl(task: Task, cases: list[Case], verified: list[dict[str, Any]]) -> None:
    """The controller's TRL reward grades like verify, and feeds each reward back."""
    from attnrl.curriculum import ControllerConfig, DifficultyController
    from attnrl.integrations.curriculum_trl import CurriculumReward

    row = dataset_row(task)
    n = len(cases)
    controller = DifficultyController(ControllerConfig(rungs=1))
    rewards = CurriculumReward(controller)(
        prompts=[row["prompt"]] * n,
        completions=[as_text(None, raw=c.text) for c in cases],
        answer=[row["answer"]] * n,
        info=[row["info"]] * n,
        rung=[0] * n,
        draw=list(range(n)),
    )
    _assert_same("curriculum_trl", rewards, cases, verified)
    assert controller.steps == 1 and controller.estimate(0) == sum(r == 1.0 for r in rewards) / n


def test_openrlhf(task: Task, cases: list[Case], verified: list[dict[str, Any]]) -> None:
    label = openrlhf.openrlhf_row(task)["label"]
    prompt = "<|user|>" + task.prompt + "<|assistant|>"
    out = openrlhf.reward_func(
        queries=[prompt + as_text(None, raw=c.text) for c in cases],
        prompts=[prompt] * len(cases),
        labels=[label] * len(cases),
    )
    _assert_same("openrlhf", list(out["rewards"]), cases, verified)


def test_inspect_scorer(
    tmp_path: Path, task: Task, cases: list[Case], verified: list[dict[str, Any]]
) -> None:
    from inspect_ai import Task as EvalTask
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ChatMessage, ModelOutput, ModelUsage

    from attnrl.integrations.inspect import attention_agent, attention_scorer, samples

    (base,) = samples("seed-doc")
    dataset = [
        Sample(
            id=f"case-{i}",
            input=f"{base.input}\n[contract case {i}]",
            target=base.target,
            metadata=base.metadata,
        )
        for i in range(len(cases))
    ]

    def model(messages: list[ChatMessage], *_: Any) -> ModelOutput:
        match = re.search(r"\[contract case (\d+)\]", messages[0].text)
        assert match is not None
        case = cases[int(match.group(1))]
        if messages[-1].role == "tool":  # the call was refused: give up, in text
            output = ModelOutput.from_content("mockllm/model", "I cannot submit that.")
        else:  # Inspect parses arguments itself: broken JSON arrives as a string answer
            answer = case.raw if case.raw is not None else case.submission
            output = ModelOutput.for_tool_call("mockllm/model", "submit_answer", {"answer": answer})
        output.usage = ModelUsage(input_tokens=100, output_tokens=20, total_tokens=120)
        return output

    (log,) = run_inspect_eval(
        EvalTask(dataset=dataset, solver=attention_agent(max_steps=3), scorer=attention_scorer()),
        model="mockllm/model",
        model_args={"custom_outputs": model},
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert log.samples is not None
    by_id = {s.id: s.scores["attention_scorer"] for s in log.samples if s.scores}
    rewards = [float(by_id[f"case-{i}"].value) for i in range(len(cases))]  # type: ignore[arg-type]
    _assert_same("inspect", rewards, cases, verified)


def test_verifiers_rubric(task: Task, cases: list[Case], verified: list[dict[str, Any]]) -> None:
    import verifiers as vf
    from openai import AsyncOpenAI

    from attnrl.integrations.verifiers import load_environment

    env = load_environment(preset="seed-doc")
    row = env.get_eval_dataset().to_list()[0]

    def submit(case: Case) -> FakeResponse:
        return openai_completion(None, [openai_tool_call("submit_answer", submit_arguments(case))])

    async def run_all(server: FakeLLMServer) -> list[float]:
        client = vf.OpenAIChatCompletionsClient(
            AsyncOpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
        )
        rewards = []
        for case in cases:
            server.enqueue_openai(submit(case), openai_completion("I cannot submit that."))
            out = await env.run_rollout(row, client, "scripted", {})
            server.clear()
            rewards.append(float(out["reward"]))
        return rewards

    with FakeLLMServer() as server:
        rewards = asyncio.run(run_all(server))
    _assert_same("verifiers", rewards, cases, verified)


def test_harbor(
    task: Task, cases: list[Case], verified: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The exported Harbor task's grader (attnrl vendored into its tests/) on each case's
    text as the agent's /app/answer.json."""
    from attnrl.integrations.harbor import export_harbor

    (task_dir,) = export_harbor([task], tmp_path / "harbor")
    rewards = []
    for i, c in enumerate(cases):
        answer, logs = tmp_path / f"answer{i}.json", tmp_path / f"logs{i}"
        answer.write_text(c.text)
        env = {"ATTNRL_ANSWER": str(answer), "ATTNRL_VERIFIER_DIR": str(logs), "PATH": ""}
        subprocess.run(
            [sys.executable, "-I", str(task_dir / "tests" / "grade.py")],
            capture_output=True,
            env=env,
            check=True,
        )
        rewards.append(float((logs / "reward.txt").read_text()))
    _assert_same("harbor", rewards, cases, verified)


def test_every_adapter_is_covered() -> None:
    """A new adapter module must join this contract."""
    import attnrl.integrations as pkg

    modules = {p.stem for p in Path(pkg.__file__).parent.glob("*.py") if not p.stem.startswith("_")}
    tested: set[str] = {"verl", "trl", "openrlhf", "inspect", "verifiers", "trl_tools", "harbor"}
    tested.add("curriculum_trl")
    # verl_tools subclasses verl's BaseTool, so its contract runs in the trainer tier
    tier = Path(__file__).parents[1] / "trainers" / "test_verl_tools.py"
    assert "def test_the_contract_cases_get_verifys_reward" in tier.read_text()
    # verifiers v1 needs verifiers 0.4 (its own venv): tests/verifiers_v1/test_v1_contract.py
    tested.add("verifiers_v1")
    # curriculum_v1's task is verifiers_v1's, scored the same (tests/verifiers_v1/)
    v1_curriculum = Path(__file__).parents[1] / "verifiers_v1" / "test_v1_curriculum.py"
    assert "def test_scores_feed_the_controller" in v1_curriculum.read_text()
    tested.add("curriculum_v1")
    # curriculum_verl subclasses torch's Dataset: its reward is checked in the trainer tier
    curriculum = Path(__file__).parents[1] / "trainers" / "test_curriculum_verl.py"
    assert "def test_the_contract_cases_score_as_verls_adapter" in curriculum.read_text()
    assert modules == tested | {"verl_tools", "curriculum_verl"}


def test_trl_tools(task: Task, cases: list[Case], verified: list[dict[str, Any]]) -> None:
    """TRL's multi-turn environment: each case sent to its ``submit_answer`` tool."""
    from attnrl.integrations.trl_tools import AttnrlToolEnv, tool_reward_func

    row = dataset_row(task)
    envs = []
    for case in cases:
        env = AttnrlToolEnv()
        env.reset(**row)
        answer = case.raw if case.raw is not None else case.submission
        asyncio.run(env.submit_answer(answer=answer))
        envs.append(env)
    rewards = tool_reward_func(completions=[[]] * len(envs), environments=envs)
    _assert_same("trl_tools", rewards, cases, verified)
