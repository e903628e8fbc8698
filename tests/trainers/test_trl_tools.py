"""TRL multi-turn: the real ``GRPOTrainer`` on CPU with a tiny random Qwen2 and
``environment_factory=AttnrlToolEnv``. Generation is forced (the model's ``generate``
returns scripted tokens): turn 1 calls ``python_expression`` with numpy code, turn 2
submits what the sandbox printed (read back from the tokens TRL fed the model), turn 3
ends. TRL parses the calls, runs the tools, and the reward reaches 1.0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")

from agentic_helpers import (  # noqa: E402
    answer_from_tool_text,
    python_call,
)
from tiny_models import build_tiny_model, build_tokenizer  # noqa: E402

from attnrl.integrations import _commands as commands  # noqa: E402
from attnrl.integrations.trl import load_dataset  # noqa: E402
from attnrl.integrations.trl_tools import AttnrlToolEnv, tool_reward_func  # noqa: E402
from attnrl.task import load_task  # noqa: E402

SEED = 3


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import trl

    template = (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text()
    texts = [load_task("procedural", s).prompt for s in range(4)]
    tok_dir = tmp_path_factory.mktemp("tok")
    tokenizer = build_tokenizer(tok_dir, texts)
    tokenizer.chat_template = template  # Qwen2.5's: TRL knows how to parse its tool calls
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"), tokenizer)


def _forced_generate(tokenizer: Any, probe: str | None, contexts: list[str]) -> Any:

    def generate(input_ids: Any, attention_mask: Any = None, **_: Any) -> Any:
        texts: list[str] = []
        for ids, mask in zip(input_ids, attention_mask, strict=True):
            context = tokenizer.decode(ids[mask.bool()].tolist())
            contexts.append(context)
            if "<tool_response>" not in context:
                call = python_call(load_task("procedural", SEED))
                if probe is not None:
                    call = {"name": "python_expression", "arguments": {"expression": probe}}
                text = f"<tool_call>\n{json.dumps(call)}\n</tool_call>"
            elif '"submitted"' not in context:
                answer = answer_from_tool_text(context) if probe is None else {"x": 1}
                call = {"name": "submit_answer", "arguments": {"answer": answer}}
                text = f"<tool_call>\n{json.dumps(call)}\n</tool_call>"
            else:
                text = "Submitted."
            texts.append(text)
        return append_completions(tokenizer, input_ids, texts)

    return generate


def append_completions(tokenizer: Any, input_ids: Any, texts: list[str]) -> Any:
    """What a scripted ``generate`` returns: each prompt followed by its text and the end of
    turn, padded to one width."""
    import torch

    rows = [tokenizer.encode(text + "<|im_end|>", add_special_tokens=False) for text in texts]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    completion = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    return torch.cat([input_ids, completion.to(input_ids.device)], dim=1)


def train_tool_grpo(
    model: Any,
    tokenizer: Any,
    tmp_path: Path,
    generate: Any,
    max_steps: int = 1,
    reward_funcs: Any = tool_reward_func,
) -> Any:
    """TRL's GRPOTrainer with the README's tool config on one procedural row, the policy's
    ``generate`` replaced by a scripted one, trained for ``max_steps``."""
    from trl import GRPOConfig, GRPOTrainer

    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=reward_funcs,
        environment_factory=AttnrlToolEnv,
        train_dataset=load_dataset("procedural", n=1, seed=SEED),
        args=GRPOConfig(
            **{**commands.TRL_TOOLS_CONFIG, "output_dir": str(tmp_path / "out")},  # the README's
            per_device_train_batch_size=2,
            num_generations=2,
            max_steps=max_steps,
            logging_steps=1,
            learning_rate=1e-3,
            report_to="none",
            use_cpu=True,
            save_strategy="no",
        ),
    )
    model.generate = generate
    trainer.train()
    return trainer


def _train(model_dir: Path, tmp_path: Path, probe: str | None = None) -> tuple[Any, list[str]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    contexts: list[str] = []
    generate = _forced_generate(tokenizer, probe, contexts)
    return train_tool_grpo(model, tokenizer, tmp_path, generate), contexts


def _logged(trainer: Any) -> dict[str, float]:
    logged: dict[str, float] = {}
    for entry in trainer.state.log_history:
        logged.update({k: v for k, v in entry.items() if isinstance(v, (int, float))})
    return logged


def test_grpo_runs_the_sandbox_tool_and_the_submission_earns_1(
    model_dir: Path, tmp_path: Path
) -> None:
    trainer, contexts = _train(model_dir, tmp_path)
    logged = _logged(trainer)
    # what the sandbox printed came back to the model as the tool result
    assert any('\\"final_output\\"' in c and "<tool_response>" in c for c in contexts)
    assert logged["rewards/tool_reward_func/mean"] == 1.0
    assert logged["reward"] == 1.0
    assert logged["attnrl/submitted"] == 1.0
    assert logged["attnrl/python_calls"] == 1.0
    assert logged["attnrl/repeats"] == 0.0
    assert logged["tools/call_frequency"] > 0
    assert logged["attnrl/tamper/blocked/network"] == 0.0
    assert "loss" in logged


def test_the_tampering_monitor_reaches_trl_metrics(model_dir: Path, tmp_path: Path) -> None:
    probe = "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)"
    trainer, _ = _train(model_dir, tmp_path, probe=probe)
    logged = _logged(trainer)
    assert logged["attnrl/tamper/blocked/network"] == 1.0
    assert logged["attnrl/tamper/probe/network"] == 1.0
    assert logged["rewards/tool_reward_func/mean"] == 0.0


# ---- issue 19 item 5: no episode can be replayed ---------------------------------------------

PROBE = "import socket\nprint(open('/etc/hostname').read())"


def _replay_then_innocent(tokenizer: Any, contexts: list[str]) -> Any:
    """Step 1 attacks (submits a wrong answer, then runs code and submits the right one);
    step 2 is the innocent policy of :func:`_forced_generate`. A step starts when the
    model sees prompts without any tool response."""

    from attnrl.tasks.attention.bugs import bug_by_name

    task = load_task("procedural", SEED)
    innocent = _forced_generate(tokenizer, None, contexts)
    starts = [0]

    def generate(input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
        first = tokenizer.decode(input_ids[0][attention_mask[0].bool()].tolist())
        if "<tool_response>" not in first:
            starts[0] += 1
        if starts[0] > 1:
            return innocent(input_ids, attention_mask, **kwargs)
        texts: list[str] = []
        for ids, mask in zip(input_ids, attention_mask, strict=True):
            context = tokenizer.decode(ids[mask.bool()].tolist())
            contexts.append(context)
            turn = context.count("<tool_response>")
            wrong = bug_by_name("no_mask").submission(task.spec)
            calls = [
                [{"name": "submit_answer", "arguments": {"answer": wrong}}],
                [
                    {"name": "python_expression", "arguments": {"expression": PROBE}},
                    {"name": "submit_answer", "arguments": {"answer": task.reference()}},
                ],
            ]
            if turn < len(calls):
                text = "".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in calls[turn])
            else:
                text = "Submitted."
            texts.append(text)
        return append_completions(tokenizer, input_ids, texts)

    return generate


def test_a_replayed_submission_is_refused_and_the_next_step_is_clean(
    model_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from attnrl.harness.tools import EPISODE_OVER
    from attnrl.integrations.trl import reward_func

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    contexts: list[str] = []
    generate = _replay_then_innocent(tokenizer, contexts)
    # the plain reward_func reads the transcript, where the refused submit is still written
    rewards = [tool_reward_func, reward_func]
    trainer = train_tool_grpo(model, tokenizer, tmp_path, generate, 2, rewards)
    steps = [e for e in trainer.state.log_history if "reward" in e]
    for name in ("tool_reward_func", "reward_func"):  # the first submission was graded
        assert [s[f"rewards/{name}/mean"] for s in steps] == [0.0, 1.0], name
    assert [s["attnrl/tamper/probe/network"] for s in steps] == [1.0, 0.0]
    assert [s["attnrl/submitted"] for s in steps] == [1.0, 1.0]
    refused = json.dumps(EPISODE_OVER)[1:-1]
    assert any(c.count(refused) == 2 for c in contexts)  # both calls of the second turn


def test_a_submit_trl_never_ran_earns_nothing_from_either_reward(
    model_dir: Path, tmp_path: Path
) -> None:
    """The README's config stops TRL's tool loop after 15 iterations: a policy that makes 15
    python calls (the last one printing the right answer) and submits on its 16th turn
    leaves that call in the completion, never run. The environment took no submission, and
    the plain ``reward_func``, which reads the completion, agrees (found by the 2026-12-04
    review: it paid 1.0)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from attnrl.integrations.trl import reward_func

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    task = load_task("procedural", SEED)
    limit = commands.TRL_TOOLS_CONFIG["max_tool_calling_iterations"]
    responses_seen: list[int] = []

    def generate(input_ids: Any, attention_mask: Any = None, **_: Any) -> Any:
        texts = []
        for ids, mask in zip(input_ids, attention_mask, strict=True):
            context = tokenizer.decode(ids[mask.bool()].tolist())
            seen = context.count("<tool_response>")
            responses_seen.append(seen)
            if seen < limit - 1:
                call = {"name": "python_expression", "arguments": {"expression": "print(1)"}}
            elif seen == limit - 1:
                call = python_call(task)
            else:
                answer = answer_from_tool_text(context)
                call = {"name": "submit_answer", "arguments": {"answer": answer}}
            texts.append(f"<tool_call>\n{json.dumps(call)}\n</tool_call>")
        return append_completions(tokenizer, input_ids, texts)

    trainer = train_tool_grpo(
        model, tokenizer, tmp_path, generate, 1, [tool_reward_func, reward_func]
    )
    step = [e for e in trainer.state.log_history if "reward" in e][0]
    assert max(responses_seen) == limit  # the submitting turn was generated
    assert step["attnrl/python_calls"] == limit and step["attnrl/submitted"] == 0.0
    assert step["rewards/tool_reward_func/mean"] == 0.0
    assert step["rewards/reward_func/mean"] == 0.0
