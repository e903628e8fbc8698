"""The tool rules shared by the multi-turn adapters, and the shared sandbox they lease."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from adapter_helpers import RecordingSandbox

from attnrl.harness.tools import (
    NO_SUBMISSION,
    answer_from_submit_arguments,
    parse_arguments,
    python_arguments_error,
    submit_arguments_error,
    unknown_tool_error,
)
from attnrl.integrations._sandbox import SandboxLease, SharedSandbox
from attnrl.task import Task


def test_submit_rule(seed_task: Task) -> None:
    """The one submit rule the harness (attnrl.harness.agent) and the adapters share."""
    keys = seed_task.spec.answer_keys()
    ref = seed_task.reference()
    text = json.dumps(ref)
    assert answer_from_submit_arguments({"answer": ref}, keys) == ref
    assert answer_from_submit_arguments({"answer": text}, keys) == text
    assert answer_from_submit_arguments({"answer": None}, keys) is None
    assert answer_from_submit_arguments(ref, keys) == ref
    for arguments in ({k: ref[k] for k in keys[:-1]}, {}, None):
        assert answer_from_submit_arguments(arguments, keys) is NO_SUBMISSION


def test_tool_messages_have_the_harness_shape() -> None:
    for text in (
        submit_arguments_error(("a", "b")),
        python_arguments_error(None, "{bad"),
        unknown_tool_error("bash"),
    ):
        payload = json.loads(text)
        assert payload["result"] == "" and isinstance(payload["error"], str)
    assert "'bash'" in json.loads(unknown_tool_error("bash"))["error"]
    assert parse_arguments('{"a": 1}') == {"a": 1}
    assert parse_arguments("") == {}
    assert parse_arguments("[1]") is None and parse_arguments("{bad") is None
    assert parse_arguments(3) is None


async def test_shared_sandbox_is_opened_once_and_closed_by_the_last_lease(
    fake_sandbox: RecordingSandbox,
) -> None:
    shared = SharedSandbox(fake_sandbox.factory())

    async def episode(i: int) -> None:
        lease = SandboxLease(shared)
        try:
            await asyncio.sleep(0.01 * i)
            await lease.run(f"print({i})")
            await asyncio.sleep(0.01)
        finally:
            await lease.aclose()

    await asyncio.gather(*(episode(i) for i in range(4)))
    assert (fake_sandbox.opened, fake_sandbox.closed, len(fake_sandbox.codes)) == (1, 1, 4)

    idle = SandboxLease(shared)
    await idle.aclose()  # never ran code: never opened one
    assert idle.isolation == "not started"
    assert fake_sandbox.opened == 1
    async with shared.lease() as sandbox:
        assert sandbox.isolation == "fake"
    assert (fake_sandbox.opened, fake_sandbox.closed) == (2, 2)
    await shared.release()  # an unmatched release is ignored


async def test_a_failing_factory_leaves_nothing_behind() -> None:
    def broken() -> Any:
        raise OSError("no bubblewrap today")

    lease = SandboxLease(SharedSandbox(broken))
    with pytest.raises(OSError, match="bubblewrap"):
        await lease.run("1")
    await lease.aclose()
