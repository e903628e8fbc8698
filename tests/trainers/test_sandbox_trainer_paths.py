"""Issue 19 through the trainers' own code paths: a rollout leaves a spy behind in its
python call (the thread-group leader ends with the raw exit syscall while a thread forks
it), and a UNIX listener kept alive in flight past the call; a concurrent rollout and the
attacker's own later calls, sharing the worker's sandbox, see only themselves, cannot reach
the listener, are not signalled and keep their limits.

verl: two episodes at once through verl's real ``ToolAgentLoop`` with the tools verl loads
from the shipped YAML (the README command's config). TRL: the real ``GRPOTrainer`` with
``environment_factory=AttnrlToolEnv``, two generations (one attacks, one probes)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("verl")
pytest.importorskip("trl")

from test_trl_tools import append_completions, model_dir, train_tool_grpo  # noqa: E402, F401  (the fixture)
from test_verl_tools import _loop, tokenizer, verl_config  # noqa: E402, F401  (fixtures)

from attnrl.integrations import verl_tools  # noqa: E402
from attnrl.integrations._tool_session import worker_sandbox  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="per-call uids and namespaces need root")

ATTACK = """
import ctypes, os, signal, threading, time
def spy():
    ctypes.CDLL(None).prctl(15, b"TOKEN", 0, 0, 0)
    for _ in range(1500):
        for p in os.listdir("/proc"):
            if p.isdigit() and int(p) not in (1, os.getpid()):
                try:
                    os.kill(int(p), signal.SIGINT)
                except OSError:
                    pass
        time.sleep(0.01)
    os._exit(0)
def worker():
    time.sleep(0.1)
    if os.fork() == 0:
        spy()
    time.sleep(0.1)
    os._exit(0)
import subprocess, sys  # leave the session's autogroup at nice 19 (a program it starts may)
nice = "import os\\ntry:\\n    os.write(os.open('/proc/self/autogroup', 1), b'19')\\n"
subprocess.run([sys.executable, "-c", nice + "except OSError:\\n    pass"])
import array, socket
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("\\0attnrl-plant")
listener.listen(8)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)  # kept in flight, past the call
fds = array.array("i", [listener.fileno(), b.fileno()])
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
threading.Thread(target=worker).start()
ctypes.CDLL(None).syscall(60, 0)
"""
PROBE = """
import json, os, resource, signal, time
caught = []
signal.signal(signal.SIGINT, lambda n, f: caught.append(n))
time.sleep(0.3)
pids = sorted(p for p in os.listdir("/proc") if p.isdigit())
import socket
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
reached = c.connect_ex("\\0attnrl-plant") == 0
group = "/proc/self/autogroup"
nice = open(group).read().split()[-1] if os.path.exists(group) else "0"
print(json.dumps([pids, caught, resource.getrlimit(resource.RLIMIT_AS)[0], reached, nice]))
"""
CLEAN = [["1"], [], 1 << 30, False, "0"]
"""What a probe must print: only itself, no signal, the default 1 GiB address space, no
way to the attacker's UNIX listener (kept alive in flight past its call), and its own
session's autogroup at nice 0 (the attacker set its own to 19)."""


def _token() -> str:
    return "spy" + uuid.uuid4().hex[:12]


def _tool_payloads(text: str) -> list[dict[str, Any]]:
    """Every ``{"result": ..., "error": ...}`` tool result in ``text``, in order."""
    decoder = json.JSONDecoder()
    out = []
    for match in re.finditer(r'\{"result": ', text):
        try:
            payload, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(payload, dict) and "error" in payload:
            out.append(payload)
    return out


def _named(token: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/comm") as f:
                if f.read().strip() == token:
                    found.append(int(name))
        except (OSError, ValueError):
            continue
    return found


def _python(code: str) -> dict[str, Any]:
    return {"name": "python_expression", "arguments": {"expression": code}}


def _submit() -> dict[str, Any]:
    return {"name": "submit_answer", "arguments": {"answer": {"x": 1}}}


# ----------------------------------------------------------------------------- verl


def test_verl_tool_episodes_share_no_leftover(verl_config: Any, tokenizer: Any) -> None:  # noqa: F811
    token = _token()
    attack = ATTACK.replace("TOKEN", token)

    class Scripted:
        """Plays ``calls`` one per turn (a turn = a tool response so far), then stops."""

        def __init__(self, calls: list[dict[str, Any]]) -> None:
            self.calls = calls

        async def generate(self, request_id: str, *, prompt_ids: list[int], **_: Any) -> Any:
            from verl.workers.rollout.replica import TokenOutput

            del request_id
            turn = tokenizer.decode(prompt_ids).count("<|im_start|>tool")
            if turn < len(self.calls):
                text = f"<tool_call>{json.dumps(self.calls[turn])}</tool_call>"
            else:
                text = "Done."
            ids = tokenizer.encode(text + "<|im_end|>", add_special_tokens=False)
            return TokenOutput(token_ids=ids)

    rows = verl_tools.verl_tool_rows("procedural", n=2, seed=11)
    scripts = [
        [_python(attack), _python(PROBE), _python(PROBE), _submit()],
        [_python(PROBE), _python(PROBE), _python(PROBE), _submit()],
    ]

    async def run() -> list[Any]:
        loops = [_loop(verl_config, tokenizer, Scripted(s)) for s in scripts]
        try:
            return await asyncio.gather(
                *(
                    loop.run(
                        {"temperature": 1.0},
                        raw_prompt=row["prompt"],
                        tools_kwargs=row["extra_info"]["tools_kwargs"],
                        extra_info=row["extra_info"],
                    )
                    for loop, row in zip(loops, rows, strict=True)
                )
            )
        finally:
            await worker_sandbox().aclose()

    outputs = asyncio.run(run())
    attacker, neighbour = (_tool_payloads(tokenizer.decode(o.response_ids)) for o in outputs)
    assert attacker[0] == {"result": "", "error": None}, attacker
    probes = attacker[1:3] + neighbour[:3]
    assert len(probes) == 5, (attacker, neighbour)
    for probe in probes:
        assert probe["error"] is None, probe
        assert json.loads(probe["result"]) == CLEAN, probe
    assert _named(token) == []


# ----------------------------------------------------------------------------- TRL


def test_trl_environments_share_no_leftover(model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    from transformers import AutoModelForCausalLM, AutoTokenizer

    token = _token()
    attack = ATTACK.replace("TOKEN", token)
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    contexts: list[str] = []

    def generate(input_ids: Any, attention_mask: Any = None, **_: Any) -> Any:
        texts: list[str] = []
        for index, (ids, mask) in enumerate(zip(input_ids, attention_mask, strict=True)):
            context = tok.decode(ids[mask.bool()].tolist())
            contexts.append(context)
            turn = context.count("<tool_response>")
            attacking = "syscall(60" in context or (turn == 0 and index == 0)
            plan = [_python(attack if attacking else PROBE), _python(PROBE), _python(PROBE)]
            plan.append(_submit())
            call = plan[turn] if turn < len(plan) else None
            text = f"<tool_call>\n{json.dumps(call)}\n</tool_call>" if call else "Done."
            texts.append(text)
        return append_completions(tok, input_ids, texts)

    train_tool_grpo(model, tok, tmp_path, generate)
    finals: dict[bool, list[dict[str, Any]]] = {}
    for context in contexts:  # the longest context of each rollout holds all its results
        payloads = _tool_payloads(context)
        attacking = "syscall(60" in context
        if len(payloads) > len(finals.get(attacking, [])):
            finals[attacking] = payloads
    attacker, neighbour = finals[True], finals[False]
    assert attacker[0] == {"result": "", "error": None}, attacker
    probes = attacker[1:3] + neighbour[:3]
    assert len(probes) == 5, (attacker, neighbour)
    for probe in probes:
        assert probe["error"] is None, probe
        assert json.loads(probe["result"]) == CLEAN, probe
    assert _named(token) == []
