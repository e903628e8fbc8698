"""attnrl's OpenRLHF reward inside OpenRLHF's own code (its wheel, installed ``--no-deps``: its
flash-attn/vllm/deepspeed stack does not install on CPU).

``train_ppo_ray``'s parser is built under ``if __name__ == "__main__"`` of a module whose imports
need vllm, so the test runs that block's own statements, read from the installed file, up to
(not including) ``train(args)``: the real flags, defaults and checks. The README's JSONL then
goes through OpenRLHF's dataset code and its single-turn executor, which loads our file with
its own loader and calls ``reward_func`` as it does in training."""

from __future__ import annotations

import argparse
import ast
import asyncio
import datetime
import importlib.util
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from attnrl.integrations._commands import (
    MAX_PROMPT_TOKENS,
    MAX_RESPONSE_TOKENS,
    OPENRLHF_ARGS,
    openrlhf_shell,
    substitute,
)
from attnrl.integrations.openrlhf import openrlhf_rows
from conftest import reward_file

NAMES = ("correct", "wrong", "malformed")


def _main_block() -> Any:
    spec = importlib.util.find_spec("openrlhf.cli.train_ppo_ray")
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'"
    )
    body = block.body
    last = body[-1]
    assert isinstance(last, ast.Expr) and ast.unparse(last) == "train(args)"
    return compile(ast.Module(body=body[:-1], type_ignores=[]), spec.origin, "exec")


MAIN_BLOCK = _main_block()


def parse(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``args`` exactly as ``python -m openrlhf.cli.train_ppo_ray ARGV`` builds and checks them."""
    monkeypatch.setattr("sys.argv", ["train_ppo_ray.py", *argv])
    namespace: dict[str, Any] = {"argparse": argparse, "datetime": datetime.datetime, "os": os}
    exec(MAIN_BLOCK, namespace)
    return namespace["args"]


def test_the_readme_prints_these_flags() -> None:
    shell = openrlhf_shell()
    assert all(arg in shell for arg in OPENRLHF_ARGS)


def test_the_parser_accepts_the_readme_command(monkeypatch: pytest.MonkeyPatch) -> None:
    path = reward_file("openrlhf")
    args = parse(substitute(OPENRLHF_ARGS, path), monkeypatch)
    assert args.data.prompt_dataset == "attnrl.jsonl"
    assert (args.data.input_key, args.data.label_key) == ("prompt", "label")
    assert args.data.apply_chat_template is True
    assert args.reward.remote_url == [path]
    assert args.data.max_len == MAX_PROMPT_TOKENS + MAX_RESPONSE_TOKENS
    assert args.rollout.max_new_tokens == MAX_RESPONSE_TOKENS


def test_the_old_flags_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flags the README used to print (OpenRLHF < 0.10) no longer parse."""
    with pytest.raises(SystemExit) as exc:
        parse(["--prompt_data", "attnrl.jsonl", "--remote_rm_url", "x.py"], monkeypatch)
    assert exc.value.code == 2


class _Strategy:
    """What OpenRLHF's dataset code reads of its DeepSpeed strategy: the parsed args."""

    def __init__(self, args: Any) -> None:
        self.args = args

    def print(self, *_: Any) -> None:
        pass

    def is_rank_0(self) -> bool:
        return True


class _Engine:
    """A stand-in for the vLLM engine that 'generates' a fixed completion's token ids."""

    def __init__(self, token_ids: list[int]) -> None:
        self.token_ids = token_ids
        self.max_tokens: list[int] = []

    async def generate(
        self, prompt_ids: list[int], params: Any, multi_modal_data: Any = None
    ) -> Any:
        self.max_tokens.append(params.max_tokens)
        out = SimpleNamespace(token_ids=self.token_ids, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[out])


def readme_prompts(
    out: Path, rows: list[dict[str, Any]], tokenizer: Any
) -> tuple[Any, list[Any], list[Any]]:
    """``rows`` as the README's JSONL at ``out``, parsed with the README's flags and read by
    OpenRLHF's blending_datasets + PromptDataset: the args, the prompts and the labels."""
    from openrlhf.datasets import PromptDataset
    from openrlhf.datasets.utils import blending_datasets

    with out.open("w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    mp = pytest.MonkeyPatch()
    try:
        argv = substitute(OPENRLHF_ARGS, reward_file("openrlhf"))
        argv[argv.index("attnrl.jsonl")] = str(out)
        args = parse(argv, mp)
    finally:
        mp.undo()
    strategy = _Strategy(args)
    data = blending_datasets(
        args.data.prompt_dataset,
        args.data.prompt_probs,
        strategy,
        dataset_split=args.data.prompt_split,
    )
    dataset = PromptDataset(data, tokenizer, strategy, input_template=args.data.input_template)
    return args, list(dataset.prompts), list(dataset.labels)


@pytest.fixture(scope="module")
def prompts_and_labels(
    tmp_path_factory: pytest.TempPathFactory, tokenizer: Any
) -> tuple[Any, list[Any], list[Any]]:
    """The README's JSONL (4 rows) read by OpenRLHF's blending_datasets + PromptDataset."""
    out = tmp_path_factory.mktemp("openrlhf") / "attnrl.jsonl"
    return readme_prompts(out, openrlhf_rows("procedural", n=4, seed=0), tokenizer)


def execute(args: Any, tokenizer: Any, prompt: str, label: Any, completion: str) -> dict[str, Any]:
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(remote_rm_url=args.reward.remote_url)
    assert executor.reward_func is not None  # loaded from our file by OpenRLHF's loader
    engine = _Engine(tokenizer(completion, add_special_tokens=False)["input_ids"])
    params = SimpleNamespace(max_tokens=args.rollout.max_new_tokens, logprobs=None)
    out = asyncio.run(executor.execute(prompt, label, params, args.data.max_len, tokenizer, engine))
    assert engine.max_tokens == [MAX_RESPONSE_TOKENS]
    return out


def test_prompts_come_from_the_chat_template(
    prompts_and_labels: tuple[Any, list[Any], list[Any]],
) -> None:
    _, prompts, labels = prompts_and_labels
    assert len(prompts) == len(labels) == 4
    assert all(p.startswith("<|im_start|>user\n") for p in prompts)
    assert all(p.endswith("<|im_start|>assistant\n") for p in prompts)
    assert json.loads(labels[0])["info"]


def test_the_executor_scores_correct_wrong_malformed(
    prompts_and_labels: tuple[Any, list[Any], list[Any]],
    tokenizer: Any,
    submissions: dict[str, str],
) -> None:
    args, prompts, labels = prompts_and_labels
    outputs = [execute(args, tokenizer, prompts[0], labels[0], submissions[n]) for n in NAMES]
    assert [o["reward"].item() for o in outputs] == [1.0, 0.0, 0.0]
    assert [o["scores"].item() for o in outputs] == [1.0, 0.0, 0.0]
    assert [o["extra_logs"]["attnrl_full_success"].item() for o in outputs] == [1.0, 0.0, 0.0]


def test_a_raising_reward_is_swallowed_into_none(
    prompts_and_labels: tuple[Any, list[Any], list[Any]],
    tokenizer: Any,
    submissions: dict[str, str],
) -> None:
    """Why attnrl's reward never raises for model output: OpenRLHF turns any exception into a
    log line and a None reward. A bad label (an operator error) shows it."""
    args, prompts, _ = prompts_and_labels
    out = execute(args, tokenizer, prompts[0], "not an attnrl label", submissions["correct"])
    assert out["reward"] is None
