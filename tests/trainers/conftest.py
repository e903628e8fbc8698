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

from attnrl.integrations._common import build_rows
from attnrl.task import load_task
from attnrl.task.bugs import bug_by_name
from attnrl.task.dataset import dataset_row
from attnrl.task.lengths import row_texts

ROOT = Path(__file__).resolve().parents[2]

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _training_texts() -> list[str]:
    texts: list[str] = []
    for row in build_rows("procedural", n=8, seed=0):
        texts.append(row["prompt"][0]["content"])
        texts.append(row["answer"])
    return texts


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved ``PreTrainedTokenizerFast`` (tokenizer.json + config with a chat template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(_training_texts(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML,
    )
    out = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    """A random-weight Qwen2 causal LM saved with the tokenizer (a model path trainers take)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=16384,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = Qwen2ForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-qwen2")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


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
