"""The trainer reward functions (verl, TRL, OpenRLHF), called as each trainer calls them, and
the documented trainer commands (docs/training.md), which must be exactly those of
``attnrl.integrations._commands``.

This suite stays torch-free: the same functions run inside verl's, TRL's and OpenRLHF's own
code in the trainer tier (``make test-trainers``, ``tests/trainers``).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from adapter_helpers import as_text

from attnrl.integrations import _commands as commands
from attnrl.integrations import openrlhf, trl, verl
from attnrl.task import Task, load_task
from attnrl.task.dataset import dataset_row
from attnrl.tasks.attention.bugs import bug_by_name


@pytest.fixture(scope="module")
def ref() -> dict[str, Any]:
    return load_task("seed-doc").reference()


@pytest.fixture(scope="module")
def swapped(seed_task: Task) -> dict[str, Any]:
    return bug_by_name("concat_swapped").submission(seed_task.spec)  # partial_success, 0.5


# -- verl ------------------------------------------------------------------------------------


def test_verl_compute_score_as_the_naive_manager_calls_it(
    seed_task: Task, ref: dict[str, Any], swapped: dict[str, Any]
) -> None:
    row = verl.verl_row(seed_task, index=7)
    assert row["data_source"] == verl.DATA_SOURCE
    assert row["reward_model"] == {
        "style": "rule",
        "ground_truth": dataset_row(seed_task)["answer"],
    }
    json.dumps(row)  # parquet-friendly plain data
    for submission, expected in ((ref, 1.0), (swapped, 0.5)):
        extra_info = dict(row["extra_info"], num_turns=None)  # verl adds num_turns
        score = verl.compute_score(
            data_source=row["data_source"],
            solution_str=as_text(submission),
            ground_truth=row["reward_model"]["ground_truth"],
            extra_info=extra_info,
        )
        assert score == expected
    assert verl.compute_score("attnrl", "no answer", None, None) == 0.0


def test_verl_details_and_reward_kwargs(seed_task: Task, swapped: dict[str, Any]) -> None:
    row = verl.verl_row(seed_task)
    detailed = verl.compute_score(
        "attnrl", as_text(swapped), None, row["extra_info"], details=True, unknown_kwarg=1
    )
    assert detailed == {"score": 0.5, "passed": True, "outcome": "partial_success"}


@pytest.mark.parametrize(
    "recorded",
    [
        pytest.param({verl.SUBMISSION_KEY: "WRONG", verl.TAMPER_KEY: {}}, id="a wrong submission"),
        pytest.param({verl.TAMPER_KEY: {"probe/network": 1}}, id="tools called, no submission"),
        pytest.param({verl.SUBMISSION_KEY: "WRONG"}, id="a submission only"),
    ],
)
def test_verl_single_turn_file_grades_a_tool_episode_by_its_record(
    seed_task: Task, recorded: dict[str, Any]
) -> None:
    """A tool row graded with the single-turn file: the episode's record decides, never the
    response text, which also holds the calls the episode refused after its submission."""
    row = verl.verl_row(seed_task)
    if recorded.get(verl.SUBMISSION_KEY) == "WRONG":
        wrong = bug_by_name("no_mask").submission(seed_task.spec)
        recorded = {**recorded, verl.SUBMISSION_KEY: json.dumps(wrong)}
    extra_info = {**row["extra_info"], **recorded}
    right = json.dumps({"answer": seed_task.reference()})
    truth = row["reward_model"]["ground_truth"]
    assert verl.compute_score("attnrl", right, truth, row["extra_info"]) == 1.0  # single turn
    assert verl.compute_score("attnrl", right, truth, extra_info) == 0.0
    detailed = verl.compute_score("attnrl", right, truth, extra_info, details=True)
    assert isinstance(detailed, dict) and detailed["passed"] is False
    assert detailed["score"] == 0.0
    assert (detailed["outcome"] == "no_submission") == (verl.SUBMISSION_KEY not in recorded)
    right_record = {**extra_info, verl.SUBMISSION_KEY: json.dumps(seed_task.reference())}
    assert verl.compute_score("attnrl", "no answer", truth, right_record) == 1.0


def test_verl_rows_of_a_seeded_preset() -> None:
    rows = verl.verl_rows("procedural", n=2, seed=3, split="test")
    assert [r["extra_info"]["index"] for r in rows] == [0, 1]
    for row in rows:
        task = load_task("procedural", json.loads(row["extra_info"]["info"])["seed"])
        text = as_text(task.reference())
        assert verl.compute_score("attnrl", text, None, row["extra_info"]) == 1.0
        assert verl.compute_score("attnrl", text, None, rows[1 - rows.index(row)]["extra_info"]) < 1


# -- TRL -------------------------------------------------------------------------------------


def test_trl_reward_func_strings_and_chat(
    seed_task: Task, ref: dict[str, Any], swapped: dict[str, Any]
) -> None:
    row = dataset_row(seed_task)
    texts = [as_text(ref), as_text(swapped), "no idea"]
    n = len(texts)
    common = {"answer": [row["answer"]] * n, "info": [row["info"]] * n}
    extra = {"completion_ids": [[1, 2]] * n, "trainer_state": object()}
    as_strings = trl.reward_func(prompts=[row["prompt"]] * n, completions=texts, **common, **extra)
    chats = [[{"role": "assistant", "content": t}] for t in texts]
    as_chat = trl.reward_func(prompts=[row["prompt"]] * n, completions=chats, **common, **extra)
    assert as_strings == as_chat == [1.0, 0.5, 0.0]


def test_trl_tool_calling_completion(seed_task: Task, ref: dict[str, Any]) -> None:
    row = dataset_row(seed_task)
    completion = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"type": "function", "function": {"name": "python_expression", "arguments": {}}}
            ],
        },
        {"role": "tool", "content": '{"result": "{1: 2}", "error": null}'},
        {
            "role": "assistant",
            "content": "Submitting.",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": "submit_answer", "arguments": {"answer": ref}},
                }
            ],
        },
    ]
    # TRL left the last turn's calls in the completion without running them (the turn past
    # max_tool_calling_iterations): the environment never took that submission.
    assert trl.reward_func([row["prompt"]], [completion], info=[row["info"]]) == [0.0]
    completion.append({"role": "tool", "name": "submit_answer", "content": "{}"})  # it ran
    assert trl.reward_func([row["prompt"]], [completion], info=[row["info"]]) == [1.0]


def test_trl_columns_must_align(seed_task: Task) -> None:
    row = dataset_row(seed_task)
    with pytest.raises(ValueError, match="'info' has 1 values for 2"):
        trl.reward_func(None, ["a", "b"], info=[row["info"]])
    assert trl.reward_func(None, ["a", "b"]) == [0.0, 0.0]


def test_trl_dataset(seed_task: Task) -> None:
    ds = trl.load_dataset("seed-doc")
    assert ds.column_names == ["prompt", "answer", "info"]
    assert ds[0] == dataset_row(seed_task)


# -- OpenRLHF --------------------------------------------------------------------------------


def test_openrlhf_reward_func(
    seed_task: Task, ref: dict[str, Any], swapped: dict[str, Any]
) -> None:
    jsonl_row = openrlhf.openrlhf_row(seed_task)
    json.dumps(jsonl_row)
    # A chat template may render tool schemas (JSON objects) into the prompt: they must
    # never be taken for the answer.
    prompt = "<|system|>tools: " + json.dumps({"name": "submit_answer", "parameters": {}})
    responses = [as_text(ref), as_text(swapped), "I could not do it."]
    out = openrlhf.reward_func(
        queries=[prompt + r for r in responses],
        prompts=[prompt] * 3,
        labels=[jsonl_row["label"], json.loads(jsonl_row["label"]), jsonl_row["label"]],
    )
    assert set(out) == {"rewards", "scores", "extra_logs"}
    if importlib.util.find_spec("torch") is None:
        assert out["rewards"] == out["scores"] == [1.0, 0.5, 0.0]
        assert out["extra_logs"] == {
            "attnrl_passed": [1.0, 1.0, 0.0],
            "attnrl_full_success": [1.0, 0.0, 0.0],
        }
    else:  # pragma: no cover - torch is not installed in the test environment
        assert out["rewards"].tolist() == [1.0, 0.5, 0.0]


def test_openrlhf_bad_labels() -> None:
    with pytest.raises(ValueError, match="must be JSON"):
        openrlhf.reward_func(["q"], ["p"], ["not json"])
    with pytest.raises(ValueError, match="'answer' and 'info'"):
        openrlhf.reward_func(["q"], ["p"], ['{"answer": "x"}'])
    with pytest.raises(ValueError, match="differ in length"):
        openrlhf.reward_func(["q"], [], [])


# -- the documented commands (docs/training.md) ----------------------------------------------

TRAINING_PAGE = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def _training_blocks() -> list[str]:
    text = TRAINING_PAGE.read_text(encoding="utf-8")
    return re.findall(r"```(?:bash|python)\n(.*?)\n```", text, flags=re.S)


def test_the_docs_print_exactly_the_defined_commands() -> None:
    blocks = _training_blocks()
    defined = [
        commands.verl_shell(),
        commands.openrlhf_shell(),
        commands.trl_python(),
        commands.verl_tools_shell(),
        commands.trl_tools_python(),
    ]
    for rendered in defined:
        assert rendered in blocks
    trainer_blocks = [
        b for b in blocks if re.search(r"verl\.trainer|openrlhf\.cli|GRPOConfig\(", b)
    ]
    assert sorted(trainer_blocks) == sorted(defined), (
        "a trainer command in docs/training.md is not one of attnrl.integrations._commands"
    )


def test_commands_use_the_current_flag_names() -> None:
    assert not any(o.startswith("custom_reward_function.") for o in commands.VERL_OVERRIDES)
    assert "reward.custom_reward_function.path=$REWARD_FILE" in commands.VERL_OVERRIDES
    flags = [a for a in commands.OPENRLHF_ARGS if a.startswith("--")]
    assert all("." in f for f in flags), flags  # OpenRLHF 0.11 takes dotted flags only
    assert commands.substitute(("--x", "$REWARD_FILE"), "/r.py") == ["--x", "/r.py"]


def test_lengths_hold_the_measured_rows(capsys: pytest.CaptureFixture[str]) -> None:
    """The length table of docs/training.md is this command's output, and the budgets in the
    commands hold every row it measured."""
    from attnrl.cli import main

    argv = ["dataset", "--preset", "procedural", "--n", "500", "--seed", "0", "--stats"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert f"$ attnrl {' '.join(argv)}\n{table}```" in TRAINING_PAGE.read_text(encoding="utf-8")
    maxima = {line.split()[0]: int(line.split()[-1]) for line in table.splitlines()[2:5]}
    assert commands.MAX_PROMPT_TOKENS >= maxima["prompt"] + 256
    assert commands.MAX_RESPONSE_TOKENS >= maxima["answer_4dp"] + 1024
    assert f"data.max_prompt_length={commands.MAX_PROMPT_TOKENS}" in commands.verl_shell()
