"""The trainer command lines of the docs, defined once.

The training page (docs/training.md) prints exactly what these functions render (a test of
the main suite says so), and the trainer tier (``make test-trainers``) hands the same
arguments to the trainers' own code: verl's Hydra config composition, TRL's ``GRPOConfig``,
OpenRLHF's argument parser. A trainer renaming a flag breaks that tier instead of the docs
silently. Shell commands start with ``set -euo pipefail`` (:data:`STRICT`).

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
    "STRICT",
    "TOOL_CONFIG",
    "TRL_CONFIG",
    "TRL_TOOLS_CONFIG",
    "VERL_CURRICULUM_OVERRIDES",
    "VERL_DETAILS_OVERRIDE",
    "VERL_OVERRIDES",
    "VERL_TOOL_OVERRIDES",
    "openrlhf_shell",
    "reward_file_shell",
    "substitute",
    "tool_config_shell",
    "trl_python",
    "trl_tools_python",
    "verl_shell",
    "verl_tools_shell",
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


VERL_CURRICULUM_OVERRIDES: tuple[str, ...] = (
    "data.custom_cls.path=$REWARD_FILE",
    "data.custom_cls.name=CurriculumDataset",
    "data.dataloader_num_workers=0",
    "+data.curriculum.store=$PWD/curriculum",
    "+data.curriculum.start=2",
    "+data.curriculum.group_size=8",
    "reward.custom_reward_function.path=$REWARD_FILE",
    "reward.custom_reward_function.name=compute_score",
)
"""The verl 0.9 Hydra overrides of docs/curriculum.md, where ``$REWARD_FILE``
is ``attnrl.integrations.curriculum_verl``'s path (besides the usual lengths and model)."""


TOOL_CONFIG = "$TOOL_CONFIG"
"""The shell variable that holds the shipped verl tool YAML's path (:func:`tool_config_shell`)."""

MAX_TOOL_RESPONSE_CHARS = 20480
"""verl's cut of one tool result (default 256, in the middle): a python result is at most
10,000 characters of output, JSON-escaped in the tool message (up to about twice as long)."""
MAX_EPISODE_RESPONSE_TOKENS = 16384
"""The response budget of a tool episode: every turn and every tool result it holds."""

VERL_TOOL_OVERRIDES: tuple[str, ...] = (
    "data.train_files=train_tools.parquet",
    "data.val_files=test_tools.parquet",
    "data.return_raw_chat=True",
    f"data.max_prompt_length={MAX_PROMPT_TOKENS}",
    f"data.max_response_length={MAX_EPISODE_RESPONSE_TOKENS}",
    "actor_rollout_ref.rollout.name=vllm",
    "actor_rollout_ref.rollout.mode=async",
    "actor_rollout_ref.rollout.multi_turn.enable=True",
    "actor_rollout_ref.rollout.multi_turn.format=hermes",
    f"actor_rollout_ref.rollout.multi_turn.tool_config_path={TOOL_CONFIG}",
    "actor_rollout_ref.rollout.multi_turn.max_assistant_turns=15",
    "actor_rollout_ref.rollout.multi_turn.max_user_turns=15",
    "actor_rollout_ref.rollout.multi_turn.max_parallel_calls=1",
    f"actor_rollout_ref.rollout.multi_turn.max_tool_response_length={MAX_TOOL_RESPONSE_CHARS}",
    "actor_rollout_ref.rollout.multi_turn.tool_response_truncate_side=right",
    f"reward.custom_reward_function.path={REWARD_FILE}",
    "reward.custom_reward_function.name=compute_score",
)
"""verl 0.9 overrides of the multi-turn tool episode (rows from ``verl_tool_rows``)."""

TRL_TOOLS_CONFIG: dict[str, Any] = {
    "output_dir": "grpo-attnrl-tools",
    "max_tool_calling_iterations": 15,
    "max_completion_length": MAX_EPISODE_RESPONSE_TOKENS,
}
"""``GRPOConfig`` keyword arguments of the tool episode (15 tool rounds, the task's limit)."""


def tool_config_shell() -> str:
    """The shell line that puts the shipped verl tool YAML's path in TOOL_CONFIG."""
    return (
        'TOOL_CONFIG=$(python -c "from attnrl.integrations.verl_tools import tool_config_path; '
        'print(tool_config_path())")'
    )


def reward_file_shell(module: str) -> str:
    """The shell line that puts ``attnrl.integrations.<module>``'s file path in REWARD_FILE."""
    return f'REWARD_FILE=$(python -c "import attnrl.integrations.{module} as m; print(m.__file__)")'


STRICT = "set -euo pipefail"
"""The first line of every shell command: a ``VAR=$(python -c ...)`` whose import fails (no
verl, another venv) stops the script instead of passing an empty path to the trainer."""


def _shell(module: str, command: str, args: list[str], setup: tuple[str, ...] = ()) -> str:
    """Strict mode, ``setup`` lines, REWARD_FILE, then ``command`` one argument per line."""
    continued = " \\\n  ".join([command, *args])
    head = "\n".join([STRICT, *setup, reward_file_shell(module)])
    return f"{head}\n# + your model and trainer arguments\n{continued}"


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


def verl_tools_shell() -> str:
    """The README's verl multi-turn command."""
    return _shell(
        "verl_tools",
        "python -m verl.trainer.main_ppo",
        list(VERL_TOOL_OVERRIDES),
        setup=(tool_config_shell(),),
    )


def trl_tools_python() -> str:
    """The README's TRL multi-turn snippet."""
    config = ", ".join(f"{k}={json.dumps(v)}" for k, v in TRL_TOOLS_CONFIG.items())
    return "\n".join(
        [
            "from trl import GRPOConfig, GRPOTrainer",
            "from attnrl.integrations.trl import load_dataset",
            "from attnrl.integrations.trl_tools import AttnrlToolEnv, tool_reward_func",
            'GRPOTrainer(model="Qwen/Qwen2.5-1.5B-Instruct", reward_funcs=tool_reward_func,',
            "            environment_factory=AttnrlToolEnv,",
            '            train_dataset=load_dataset("procedural", n=512, seed=0),',
            f"            args=GRPOConfig({config})).train()",
        ]
    )


def substitute(args: tuple[str, ...], reward_file: str) -> list[str]:
    """``args`` with ``$REWARD_FILE`` replaced by a real path, as the shell would."""
    return [a.replace(REWARD_FILE, reward_file) for a in args]
