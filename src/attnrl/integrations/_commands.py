"""The trainer command lines of the README, defined once.

The README's training section prints exactly what these functions render (a test of the main
suite says so), and the trainer tier (``make test-trainers``) hands the same arguments to the
trainers' own code: verl's Hydra config composition, TRL's ``GRPOConfig``, OpenRLHF's
argument parser. A trainer renaming a flag breaks that tier instead of the README silently.

The length limits come from ``attnrl dataset --preset procedural --n 500 --seed 0 --stats``
(default knobs): prompts are at most 6,411 characters and answers written at 4 decimals at most
6,527, and characters bound tokens from above for this ASCII text. So 7,168 tokens hold every
prompt with its chat template, and 8,192 hold the answer with room to reason before it.
Rerun ``--stats --tokenizer PATH`` with your knobs and your model's tokenizer to tighten them.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "MAX_PROMPT_TOKENS",
    "MAX_RESPONSE_TOKENS",
    "OPENRLHF_ARGS",
    "REWARD_FILE",
    "TRL_CONFIG",
    "VERL_DETAILS_OVERRIDE",
    "VERL_OVERRIDES",
    "openrlhf_shell",
    "reward_file_shell",
    "substitute",
    "trl_python",
    "verl_shell",
]

MAX_PROMPT_TOKENS = 7168
"""A prompt budget that holds every default ``procedural`` prompt (at most 6,411 characters)."""
MAX_RESPONSE_TOKENS = 8192
"""A response budget above the longest 4-decimal answer (6,527 characters), with room to reason."""

REWARD_FILE = "$REWARD_FILE"
"""The shell variable that holds the adapter file's path (set by :func:`reward_file_shell`)."""

VERL_OVERRIDES: tuple[str, ...] = (
    "data.train_files=train.parquet",
    "data.val_files=test.parquet",
    f"data.max_prompt_length={MAX_PROMPT_TOKENS}",
    f"data.max_response_length={MAX_RESPONSE_TOKENS}",
    f"reward.custom_reward_function.path={REWARD_FILE}",
    "reward.custom_reward_function.name=compute_score",
)
"""verl 0.9 Hydra overrides. The reward function lives under ``reward.``: the legacy top-level
``custom_reward_function.*`` is accepted by ``main_ppo`` and ignored."""

VERL_DETAILS_OVERRIDE = "+reward.custom_reward_function.reward_kwargs.details=true"
"""Optional: ``compute_score`` returns ``score``, ``passed`` and ``outcome`` for verl's logs."""

OPENRLHF_ARGS: tuple[str, ...] = (
    "--data.prompt_dataset",
    "attnrl.jsonl",
    "--data.input_key",
    "prompt",
    "--data.label_key",
    "label",
    "--data.apply_chat_template",
    "--data.max_len",
    str(MAX_PROMPT_TOKENS + MAX_RESPONSE_TOKENS),
    "--rollout.max_new_tokens",
    str(MAX_RESPONSE_TOKENS),
    "--reward.remote_url",
    REWARD_FILE,
)
"""OpenRLHF 0.11 ``train_ppo_ray`` flags (dotted names); ``--data.max_len`` is prompt + response."""

TRL_CONFIG: dict[str, Any] = {
    "output_dir": "grpo-attnrl",
    "max_completion_length": MAX_RESPONSE_TOKENS,
}
"""``GRPOConfig`` keyword arguments (TRL's default ``max_completion_length=512`` cuts answers)."""


def reward_file_shell(module: str) -> str:
    """The shell line that puts ``attnrl.integrations.<module>``'s file path in REWARD_FILE."""
    return f'REWARD_FILE=$(python -c "import attnrl.integrations.{module} as m; print(m.__file__)")'


def _shell(module: str, command: str, args: list[str]) -> str:
    """Set REWARD_FILE, then ``command`` with one argument per continued line."""
    continued = " \\\n  ".join([command, *args])
    return f"{reward_file_shell(module)}\n# + your model and trainer arguments\n{continued}"


def verl_shell() -> str:
    """The README's verl command."""
    return _shell("verl", "python -m verl.trainer.main_ppo", list(VERL_OVERRIDES))


def openrlhf_shell() -> str:
    """The README's OpenRLHF command, one flag and its value per line."""
    pairs: list[str] = []
    for arg in OPENRLHF_ARGS:
        if arg.startswith("--") or not pairs:
            pairs.append(arg)
        else:
            pairs[-1] += f" {arg}"
    return _shell("openrlhf", "python -m openrlhf.cli.train_ppo_ray", pairs)


def trl_python() -> str:
    """The README's TRL snippet."""
    config = ", ".join(f"{k}={json.dumps(v)}" for k, v in TRL_CONFIG.items())
    return "\n".join(
        [
            "from trl import GRPOConfig, GRPOTrainer",
            "from attnrl.integrations.trl import load_dataset, reward_func",
            'GRPOTrainer(model="Qwen/Qwen2.5-1.5B-Instruct", reward_funcs=reward_func,',
            '            train_dataset=load_dataset("procedural", n=512, seed=0),',
            f"            args=GRPOConfig({config})).train()",
        ]
    )


def substitute(args: tuple[str, ...], reward_file: str) -> list[str]:
    """``args`` with ``$REWARD_FILE`` replaced by a real path, as the shell would."""
    return [a.replace(REWARD_FILE, reward_file) for a in args]
