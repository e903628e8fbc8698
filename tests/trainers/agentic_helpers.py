"""Helpers of the multi-turn (tool) trainer tests: a local tokenizer with a ChatML template,
a tiny random Qwen2, and what the scripted policy needs.

Nothing comes from a hub: the tokenizer is a byte-level BPE trained here (it encodes and
decodes any text exactly), the model has random weights.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from attnrl.models.simulated import solution_code
from attnrl.task import Task

ROOT = Path(__file__).resolve().parents[2]

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') }}"
    "{% if message.get('tool_calls') %}{% for call in message['tool_calls'] %}"
    "{{ '<tool_call>' + (call['function'] | tojson) + '</tool_call>' }}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tokenizer(out: Path, texts: list[str]) -> Any:
    """A saved ``PreTrainedTokenizerFast`` trained on ``texts``, loaded back."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML,
    )
    tokenizer.save_pretrained(out)
    return AutoTokenizer.from_pretrained(out, local_files_only=True)


def build_tiny_model(out: Path, tokenizer: Any) -> Path:
    """A random-weight Qwen2 causal LM saved with the tokenizer (a model path)."""
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
        max_position_embeddings=32768,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    Qwen2ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def python_call(task: Task) -> dict[str, Any]:
    """The ``python_expression`` call of a correct agent: numpy code that prints the answer."""
    return {"name": "python_expression", "arguments": {"expression": solution_code(task.spec)}}


def answer_from_tool_text(text: str) -> dict[str, Any]:
    """The answer a python call printed, read back from the tool message in ``text`` (what
    the policy saw): the last ``{"result": ..., "error": ...}`` object in it."""
    starts = [m.start() for m in re.finditer(r'\{"result": ', text)]
    decoder = json.JSONDecoder()
    for start in reversed(starts):
        try:
            payload, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if not isinstance(payload, dict) or payload.get("error") is not None:
            continue
        try:
            answer = json.loads(payload.get("result", ""))
        except (TypeError, ValueError):
            continue
        if isinstance(answer, dict):
            return answer
    raise AssertionError(f"no successful python result in the context: {text[-500:]!r}")
