"""Fixtures of the trainer tier: a tokenizer and a tiny Qwen2 model, both built here.

Nothing comes from a hub. The tokenizer is a byte-level BPE trained on attnrl prompts and
answers (so it decodes every completion back exactly) and carries a ChatML template; the model
is a Qwen2ForCausalLM with random weights (hidden 64, 2 layers). Both are saved together in one
directory, which is what ``GRPOTrainer(model=...)`` and verl's ``actor_rollout_ref.model.path``
take. Other trainer tests (multi-turn tool adapters) can reuse them as they are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tiny_models import PLAIN_CHATML, build_tiny_model, build_tokenizer

from attnrl.integrations._common import build_rows
from attnrl.task import load_task
from attnrl.task.dataset import dataset_row
from attnrl.task.lengths import row_texts
from attnrl.tasks.attention.bugs import bug_by_name

ROOT = Path(__file__).resolve().parents[2]


def _training_texts() -> list[str]:
    texts: list[str] = []
    for row in build_rows("procedural", n=8, seed=0):
        texts.append(row["prompt"][0]["content"])
        texts.append(row["answer"])
    return texts


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved ``PreTrainedTokenizerFast`` (tokenizer.json + config with a chat template)."""
    out = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(out, _training_texts(), chat_template=PLAIN_CHATML)
    return out


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    """A random-weight Qwen2 causal LM saved with the tokenizer (a model path trainers take)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"), tokenizer, max_positions=16384)


def reward_file(module: str) -> str:
    """What the README's ``REWARD_FILE=$(python -c ...)`` line sets, run in a real shell."""
    from attnrl.integrations._commands import reward_file_shell

    line = reward_file_shell(module).replace("python -c", f"{sys.executable} -c", 1)
    script = f'{line}\nprintf %s "$REWARD_FILE"'
    return subprocess.run(
        ["bash", "-c", script], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout


@pytest.fixture(scope="session")
def submissions() -> dict[str, str]:
    """Completions for ``procedural`` seed 0 (the first row of every dataset here): correct
    (the reference at 4 decimals, fenced), wrong (the ``no_mask`` bug) and malformed."""
    task = load_task("procedural", 0)
    correct = row_texts(dataset_row(task))["answer_4dp"]
    wrong = json.dumps(bug_by_name("no_mask").submission(task.spec))
    return {
        "correct": f"The answer:\n```json\n{correct}\n```",
        "wrong": wrong,
        "malformed": "I think the weights are {position_encoded_queries: [[1, 2]",
    }
