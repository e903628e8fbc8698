"""Which model a command runs: ``--model`` or the default, and the offline agents' plans.

Shared by ``attnrl run`` and ``attnrl calibrate`` (so neither command module imports the other).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from attnrl.cli.common import UsageError
from attnrl.models.base import SIMULATED_NAME, ModelConfigError, ModelSource
from attnrl.models.deprecation import DEFAULT_MODEL
from attnrl.models.simulated import SkillModel
from attnrl.task.family import TaskFamily

__all__ = ["choose_model", "simulated_skill_plans"]


def choose_model(args: argparse.Namespace) -> str:
    """The model of ``--model`` (the default model when a key is set, else the offline agents);
    a :class:`UsageError` when the named model has no credentials, a key or base URL that
    cannot be used (:mod:`attnrl.models.credentials`: the error names the variable or flag,
    never the key), or a ``--base-url`` the offline agents would ignore."""
    from attnrl.models.registry import api_key_available, credentials_hint

    name = DEFAULT_MODEL if args.model is None else str(args.model)
    try:
        available = name == SIMULATED_NAME or api_key_available(name, base_url=args.base_url)
    except (ValueError, ModelConfigError) as exc:
        raise UsageError(str(exc)) from None
    if not available and args.model is None:
        name = SIMULATED_NAME
    if name == SIMULATED_NAME and args.base_url:
        raise UsageError(
            f"--base-url is for a provider model (openai/<model>): the {SIMULATED_NAME} agents "
            "send no request; drop --base-url, or pass --model openai/<model>"
        )
    if not available and args.model is None:
        print(
            f"attnrl: no ANTHROPIC_API_KEY set: running the offline {SIMULATED_NAME} agents "
            "(scripted, not a real model). Set the key or pass --model to use a real model.",
            file=sys.stderr,
        )
    elif not available:
        raise UsageError(
            f"no credentials for {name}: {credentials_hint(name)}, or use --model {SIMULATED_NAME}"
        )
    return name


def simulated_skill_plans(
    family: TaskFamily, knobs: dict[str, Any], runs: int, seed: int | None, skill: float
) -> ModelSource:
    """The offline agents of a rung (or a card's batch): :class:`SkillModel` plans, each
    run on its own instance."""
    from attnrl.models.registry import model_source

    plans = SkillModel(skill).plans(family.base, knobs, runs, seed)
    return model_source(
        SIMULATED_NAME,
        family.base,
        runs=runs,
        seed=seed,
        task_for_run=family.task,
        simulated_plans=plans,
    )
