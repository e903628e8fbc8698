"""The verifiers v1 harness that plays an attnrl task: attnrl's own episode, in process.

verifiers v1 runs a model through a *harness*: a program that talks to the rollout's
interception endpoint (which records every turn for the trace and, in prime-rl, the token
ids for training) and wires in tools. Its bundled chat programs are PEP 723 scripts that
``uv`` provisions from PyPI and that reach tools over MCP servers. This harness takes the
route v1's :class:`~verifiers.v1.Harness` documents for in-process loops instead: it runs
:func:`attnrl.harness.agent.run_agent` (the loop ``attnrl run`` records) with an
:class:`~attnrl.models.openai.OpenAIModel` pointed at the interception endpoint, and binds
``python_expression`` to attnrl's sandbox. So the episode a policy trains on is the one
it is evaluated on: same prompt, same two tools with the spec's full ``submit_answer``
schema, same tool rules and result texts, and model code only ever runs in the jail.

All rollouts of a worker process share one sandbox per event loop
(:class:`~attnrl.integrations._sandbox.SharedSandbox`); the taskset's env holds it open
from start to stop, so it is started once, not per rollout.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from attnrl.harness.agent import run_agent
from attnrl.integrations._common import install_hint, task_for
from attnrl.integrations._sandbox import SandboxLease, SharedSandbox
from attnrl.models.base import ModelError
from attnrl.models.openai import OpenAIModel
from attnrl.sandbox.base import ExecResult

try:
    import verifiers.v1 as vf
except ImportError as exc:  # pragma: no cover - exercised only without verifiers v1
    raise ImportError(install_hint("verifiers_v1", "verifiers", "verifiers>=0.4")) from exc

__all__ = ["SHARED_SANDBOX", "AttentionHarness", "AttentionHarnessConfig"]

SHARED_SANDBOX = SharedSandbox()
"""The worker's attnrl sandbox, shared by every rollout of its event loop. Rebind it to
``SharedSandbox(factory)`` (before the env starts) to run the tool on another
:class:`~attnrl.sandbox.base.Sandbox` backend."""


class AttentionHarnessConfig(vf.HarnessConfig):  # type: ignore[misc]
    """``--env.agent.harness.*``: the attnrl loop's knobs."""

    max_steps: int = Field(15, ge=1)
    """Model turns per episode, as ``attnrl run --max-steps`` (the seed's 15)."""
    max_tokens: int = Field(4096, ge=1)
    """Output limit of each model turn."""


class AttentionHarness(vf.Harness[AttentionHarnessConfig]):  # type: ignore[misc]
    """attnrl's tool loop against the interception endpoint; the answer lands in
    ``trace.state`` (an :class:`AttentionState`) for the task's reward."""

    APPENDS_SYSTEM_PROMPT = True
    SUPPORTS_MCP = False
    EXECUTES_CODE = False  # model code runs in attnrl's sandbox, never in the runtime
    NEEDS_CONTAINER = False

    async def launch(
        self,
        ctx: Any,
        trace: Any,
        runtime: Any,  # noqa: ARG002 - v1's signature; nothing runs in the runtime
        endpoint: str,
        secret: str,
        mcp_urls: dict[str, str],
        data: Any,
        **_kwargs: Any,
    ) -> Any:
        if data.system_prompt:
            raise vf.HarnessError(
                "the attnrl harness sends the task's own prompt (rendered from its spec); "
                "unset the taskset's system_prompt"
            )
        if mcp_urls:
            raise vf.HarnessError(
                f"the attnrl harness offers only attnrl's two tools; got MCP servers "
                f"{sorted(mcp_urls)}: remove them or pick an MCP-capable harness"
            )
        info = getattr(data, "info", None)
        if not isinstance(info, str):
            raise vf.HarnessError(
                "the attnrl harness plays attnrl tasks only (TaskData with an attnrl 'info'); "
                "pair it with the attnrl-v1 taskset"
            )
        task = task_for(info)
        model = OpenAIModel(
            ctx.model, api_key=secret, base_url=endpoint, max_tokens=self.config.max_tokens
        )
        sandbox = _RolloutSandbox()
        try:
            result = await run_agent(task, model, sandbox, self.config.max_steps)
        except ModelError:
            if trace.stop_condition is not None:  # v1 refused a turn (max_turns, a @stop)
                return _DONE
            raise
        finally:
            trace.state.isolation = sandbox.isolation
            await sandbox.aclose()
            await model.aclose()
        if result.stop == "infrastructure":
            raise vf.HarnessError(f"the model was unreachable: {result.error}")
        state = trace.state
        state.stop = result.stop
        state.steps = result.steps
        state.tool_errors = result.tool_errors
        if result.submitted:
            state.submitted = True
            state.submission = result.answer
        return _DONE


_DONE = vf.ProgramResult(exit_code=0, stdout="", stderr="")
"""What an in-process harness returns: the trace is the record of what ran."""


class _RolloutSandbox:
    """One rollout's lease on :data:`SHARED_SANDBOX`. A failure of the sandbox itself (not
    of the model's code, which comes back as a tool result) is a ``vf.SandboxError``, which
    v1 records as an infrastructure error of the rollout."""

    def __init__(self) -> None:
        self._lease = SandboxLease(SHARED_SANDBOX)

    @property
    def isolation(self) -> str:
        return self._lease.isolation

    async def run(self, code: str) -> ExecResult:
        try:
            return await self._lease.run(code)
        except Exception as exc:
            raise vf.SandboxError(f"the attnrl sandbox failed: {exc!r}") from exc

    async def aclose(self) -> None:
        await self._lease.aclose()
