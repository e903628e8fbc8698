r"""verl: a dataset drawn from the difficulty controller, through verl's own custom-dataset config.

verl builds its training dataset from ``data.custom_cls.path`` / ``.name`` (a
``torch.utils.data.Dataset`` class loaded by path) and scores each response with
``reward.custom_reward_function``; this file is both::

    REWARD_FILE=$(python -c "import attnrl.integrations.curriculum_verl as m; print(m.__file__)")
    python -m verl.trainer.main_ppo ... data.custom_cls.path=$REWARD_FILE \
        data.custom_cls.name=CurriculumDataset data.dataloader_num_workers=0 \
        +data.curriculum.store=$PWD/curriculum +data.curriculum.start=2 \
        +data.curriculum.group_size=8 \
        reward.custom_reward_function.path=$REWARD_FILE \
        reward.custom_reward_function.name=compute_score

(:data:`VERL_CURRICULUM_OVERRIDES`, which the trainer tier composes with verl's own Hydra
config, with the lengths and model of the usual command.) For verl's multi-turn tool agent loop
(:mod:`attnrl.integrations.verl_tools`), add ``+data.curriculum.tools=true`` (rows with
``agent_name: tool_agent``) and name ``compute_tool_score`` as the reward function, on top of
the multi-turn command's overrides. The reward runs in verl's reward
workers, other Ray processes than the driver that holds the dataset, so the two share state
through a directory (``store``, on a filesystem every worker sees): the reward function appends
one JSON line per scored response (its rung, its draw, its reward); the dataset reads the new
lines before each draw, feeds them to its controller and closes a controller step. Rows carry
``rung``, ``draw`` and the store's path in ``extra_info``. The controller's state goes into
verl's checkpoint with the dataloader's (``StatefulDataLoader`` saves a dataset that has
``state_dict``). ``data.dataloader_num_workers=0`` keeps one controller (workers would each
copy it).

verl loads this file by path (as module ``custom_module``), so it uses absolute imports only.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from attnrl.curriculum import ControllerConfig, DifficultyController, RungInstances
from attnrl.integrations._commands import VERL_CURRICULUM_OVERRIDES
from attnrl.integrations.verl import compute_score as attnrl_score
from attnrl.integrations.verl import verl_row

__all__ = [
    "REWARDS_FILE",
    "VERL_CURRICULUM_OVERRIDES",
    "CurriculumDataset",
    "compute_score",
    "compute_tool_score",
]

REWARDS_FILE = "rewards.jsonl"
"""The store's append-only file of scored responses."""


def _feed_store(extra_info: Any, score: float | dict[str, Any]) -> None:
    """Append one scored response to its row's curriculum store (if it has one)."""
    if not (isinstance(extra_info, dict) and "curriculum_store" in extra_info):
        return
    reward = score["score"] if isinstance(score, dict) else score
    line = json.dumps(
        {
            "source": extra_info["curriculum_source"],
            "rung": int(extra_info["rung"]),
            "draw": int(extra_info["draw"]),
            "reward": float(reward),
        }
    )
    _append(Path(extra_info["curriculum_store"]) / REWARDS_FILE, (line + "\n").encode())


def _append(path: Path, data: bytes) -> None:
    """One write in append mode: short lines of concurrent workers never mix."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any = None,
    extra_info: Any = None,
    **reward_kwargs: Any,
) -> float | dict[str, Any]:
    """attnrl's verl reward (:func:`attnrl.integrations.verl.compute_score`), also appended to
    the row's curriculum store so the dataset's controller sees it."""
    score = attnrl_score(data_source, solution_str, ground_truth, extra_info, **reward_kwargs)
    _feed_store(extra_info, score)
    return score


def compute_tool_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any = None,
    extra_info: Any = None,
    **reward_kwargs: Any,
) -> dict[str, Any]:
    """The tool agent loop's reward (:func:`attnrl.integrations.verl_tools.compute_score`, what
    ``submit_answer`` recorded), also appended to the row's curriculum store."""
    from attnrl.integrations.verl_tools import compute_score as tool_score

    score = tool_score(data_source, solution_str, ground_truth, extra_info, **reward_kwargs)
    _feed_store(extra_info, score)
    return score


def _setting(config: Any, key: str, default: Any) -> Any:
    curriculum = config.get("curriculum", None) if config is not None else None
    value = curriculum.get(key, default) if curriculum is not None else default
    return default if value is None else value


class CurriculumDataset(Dataset):  # type: ignore[misc]
    """verl's ``data.custom_cls``: each item a fresh draw from the controller, in verl's row
    layout (what ``RLHFDataset.__getitem__`` returns)."""

    def __init__(
        self,
        data_files: Any = None,
        tokenizer: Any = None,
        config: Any = None,
        processor: Any = None,
        max_samples: int = -1,
        **_kwargs: Any,
    ) -> None:
        del data_files, tokenizer, processor  # rows come from the ladder; verl templates later
        store = _setting(config, "store", None)
        if store is None:
            raise ValueError(
                "data.curriculum.store is not set; add +data.curriculum.store=/shared/dir"
            )
        self.store = Path(store).resolve()
        self.store.mkdir(parents=True, exist_ok=True)
        band = tuple(float(b) for b in _setting(config, "band", (0.10, 0.40)))
        seed = int(_setting(config, "seed", 0))
        task = str(_setting(config, "task", "attention"))
        self.instances = RungInstances(seed=seed, task=task)
        settings = ControllerConfig(
            rungs=len(self.instances),
            band=(band[0], band[1]),
            start=int(_setting(config, "start", 0)),
            group_size=int(_setting(config, "group_size", 8)),
        )
        self.controller = DifficultyController(settings, seed=seed)
        self.size = int(_setting(config, "size", 100_000))
        if max_samples > 0:
            self.size = min(self.size, max_samples)
        self.source = uuid.uuid4().hex[:12]
        """Tells this dataset's rewards apart from another's (verl's validation set) in the
        shared file."""
        self.offset = 0
        self.lost_future: tuple[int, int] | None = None
        """After a restore: (end of the store then, the checkpoint's draws). Lines of ours
        before that end with a later draw were scored after the checkpoint, by the run that
        died: the restored run draws the same rows again and scores them anew."""
        self.last_report: dict[str, float] = {}
        self.tools = bool(_setting(config, "tools", False))
        """Rows for verl's tool agent loop (``agent_name: tool_agent``, attnrl's tools)."""

    def __len__(self) -> int:
        return self.size

    def sync(self) -> int:
        """Take in the rewards appended since the last look; one controller step if any."""
        path = self.store / REWARDS_FILE
        if not path.exists():
            return 0
        with path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next look
        seen = 0
        at = self.offset
        for raw in data[:end].splitlines(keepends=True):
            line_at, at = at, at + len(raw)
            entry = _entry(raw)
            if entry is None or entry["source"] != self.source or self._lost(line_at, entry):
                continue
            self.controller.observe(entry["rung"], entry["reward"], group=entry["draw"])
            seen += 1
        self.offset += end
        if seen:
            self.last_report = self.controller.step().metrics()
        return seen

    def _lost(self, line_at: int, entry: dict[str, Any]) -> bool:
        """Whether a line is a reward the restored run will score again (see
        :attr:`lost_future`): counting both would count those draws twice."""
        if self.lost_future is None:
            return False
        end, draws = self.lost_future
        return line_at < end and entry["draw"] > draws

    def __getitem__(self, item: int) -> dict[str, Any]:
        self.sync()
        rung = self.controller.draw()
        draw = self.controller.draws
        task = self.instances.task(rung, draw)
        if self.tools:
            from attnrl.integrations.verl_tools import verl_tool_row

            row = verl_tool_row(task, index=draw)
        else:
            row = verl_row(task, index=draw)
        row["extra_info"] |= {
            "rung": rung,
            "draw": draw,
            "curriculum_store": str(self.store),
            "curriculum_source": self.source,
        }
        return row | {
            "raw_prompt": row["prompt"],
            "dummy_tensor": torch.tensor([0], dtype=torch.uint8),
            "index": draw,
            "tools_kwargs": row["extra_info"].get("tools_kwargs", {}),
            "interaction_kwargs": {},
        }

    def state_dict(self) -> dict[str, Any]:
        """What verl's ``StatefulDataLoader`` checkpoints for this dataset."""
        return {
            "controller": self.controller.state_dict(),
            "offset": self.offset,
            "source": self.source,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint; the rewards scored after it are set aside (:meth:`_lost`)."""
        self.controller.load_state_dict(state["controller"])
        self.offset, self.source = int(state["offset"]), str(state["source"])
        path = self.store / REWARDS_FILE
        if path.exists() and _torn(path):
            _append(path, b"\n")  # the line torn by the crash ends here, on its own
        end = path.stat().st_size if path.exists() else self.offset
        self.lost_future = (end, self.controller.draws)


def _torn(path: Path) -> bool:
    """Whether the store's last line has no end (a write cut by a crash)."""
    with path.open("rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def _entry(raw: bytes) -> dict[str, Any] | None:
    """One line of the store, or None for a line that is not one (torn by a crash)."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    keys_ok = isinstance(entry, dict) and {"source", "rung", "draw", "reward"} <= entry.keys()
    return entry if keys_ok else None
