"""The up-front context check of ``run`` (:mod:`attnrl.models.context_window`): for an
``openai/`` model behind a base URL (a self-hosted server), before the batch's first
request, one line saying whether each run's first request fits the server's context."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from attnrl.models.base import OPENAI_API_KEY_ENV, Message
from attnrl.models.credentials import read_api_key, read_base_url

if TYPE_CHECKING:
    from attnrl.task.family import TaskFamily

__all__ = ["context_check"]


def _first_requests(
    model_id: str, family: TaskFamily, runs: int, max_tokens: int
) -> list[tuple[tuple[int, ...], dict[str, Any]]]:
    """Each distinct first request of runs 1..``runs``, as :class:`OpenAIModel` sends it to
    a base URL (the task's prompt, its tools, ``tool_choice``, ``max_tokens``)."""
    from attnrl.models.openai import chat_request

    by_body: dict[str, tuple[list[int], dict[str, Any]]] = {}
    for run_id in range(1, runs + 1):
        task = family.task(run_id)
        first = [Message(role="user", text=task.prompt)]
        body = chat_request(model_id, first, task.tools, max_tokens=max_tokens)
        key = json.dumps(body, sort_keys=True)
        by_body.setdefault(key, ([], body))[0].append(run_id)
    return [(tuple(ids), body) for ids, body in by_body.values()]


def context_check(
    args: argparse.Namespace, model_name: str, family: TaskFamily, runs: int, prefix: str = ""
) -> dict[str, Any] | None:
    """Check runs 1..``runs``, print the line (after ``prefix``) and return what ``run.json``
    keeps; None (and nothing printed) for a model that is not an OpenAI-compatible server at a
    base URL: the hosted APIs do not report their context."""
    provider, _, model_id = model_name.partition("/")
    if provider != "openai":
        return None
    base_url = read_base_url(args.base_url)  # checked, as the model reads them
    if not base_url:
        return None
    from attnrl.models.context_window import check_context

    requests = _first_requests(model_id, family, runs, args.max_tokens)
    key = read_api_key(OPENAI_API_KEY_ENV)
    check = check_context(base_url, model_id, requests, max_tokens=args.max_tokens, api_key=key)
    print(prefix + check.line(), flush=True)
    return check.to_json()
