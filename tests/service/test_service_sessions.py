"""Stateful python sessions, and many clients at once (backpressure, not failures)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from attnrl.service.sessions import MAX_HISTORY_BYTES, Session, SessionError, Sessions
from fakes.sandbox_server import Served


def _cell(code: str) -> dict[str, str]:
    return {"code": code, "language": "python"}


def test_a_session_keeps_variables_functions_and_imports(server: Served) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        opened = client.post("/sessions")
        assert opened.status_code == 201
        sid = opened.json()["session_id"]
        run = f"/sessions/{sid}/run_code"
        first = client.post(
            run, json=_cell("import math\ndef sq(v):\n    return v * v\nx = 7\nprint('first')")
        )
        assert first.json()["run_result"]["stdout"] == "first\n"  # earlier output is not repeated:
        second = client.post(run, json=_cell("print(sq(x) + math.floor(2.5))"))
        assert second.json()["run_result"]["stdout"] == "51\n"
        # A cell that fails is not part of the state; its side effects before the error neither.
        failed = client.post(run, json=_cell("x = 1000\nraise ValueError('no')"))
        assert failed.json()["status"] == "Failed"
        last = client.post(run, json=_cell("x"))  # a bare last expression is echoed
        assert last.json()["run_result"]["stdout"] == "7\n"
        # Sessions are apart from each other and from /run_code.
        other = client.post("/sessions").json()["session_id"]
        alone = client.post(f"/sessions/{other}/run_code", json=_cell("print(x)")).json()
        assert alone["status"] == "Failed" and "NameError" in alone["run_result"]["stderr"]
        plain = client.post("/run_code", json=_cell("print('x' in globals())")).json()
        assert plain["run_result"]["stdout"] == "False\n"
        assert client.delete(f"/sessions/{sid}").status_code == 204
        gone = client.post(run, json=_cell("print(1)"))
        assert gone.status_code == 404 and "no open session" in gone.json()["detail"]
        assert client.delete(f"/sessions/{sid}").status_code == 404


def test_sessions_are_bounded_in_number_and_history() -> None:
    sessions = Sessions(max_sessions=2, idle_s=10.0)
    a = sessions.create()
    sessions.create()
    with pytest.raises(SessionError, match="too many open sessions"):
        sessions.create()
    a.last_used -= 11.0
    assert sessions.expire() == 1  # idle too long: dropped, room for one more
    sessions.create()
    s = Session("s", cells=["x = 1"])
    Sessions.check_room(s, "y = 2")
    with pytest.raises(SessionError, match="start a new session"):
        Sessions.check_room(s, "#" * MAX_HISTORY_BYTES)
    program, mark = s.program("y")  # the replay is one line: the cell keeps its numbering
    assert program.endswith("\ny") and program.count("\n") == 1
    assert mark is not None and mark in program and s.program("y")[1] != mark
    assert Session("t").program("y") == ("y", None)


def test_many_concurrent_clients_all_served_within_the_concurrency(
    serve: Callable[..., Served],
) -> None:
    served = serve("--concurrency", "2")
    clients = 48

    async def main() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=served.url, timeout=300, limits=limits) as client:
            return await asyncio.gather(
                *(client.post("/run_code", json=_cell(f"print({i} ** 2)")) for i in range(clients))
            )

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * clients
    assert [r.json()["run_result"]["stdout"] for r in responses] == [
        f"{i**2}\n" for i in range(clients)
    ]
    health = httpx.get(f"{served.url}/health", timeout=60).json()
    assert health["served"] == clients
    assert health["peak_running"] == 2  # never more than the concurrency at once,
    assert health["peak_waiting"] > 0  # the rest waited their turn instead of failing
    assert "bwrap" in health["isolation"] or "process" in health["isolation"]


async def test_a_failing_backend_is_a_sandbox_error_the_clients_retry() -> None:
    """Infrastructure (a Ray node lost for good) reaches the client as SandboxFusion's
    ``SandboxError`` status, never as the code's own failure."""
    from attnrl.sandbox import SandboxError
    from attnrl.sandbox.limits import SandboxLimits
    from attnrl.service import create_app

    class Lost:
        limits = SandboxLimits()
        max_concurrency = 2
        isolation = "ray pool (no live node)"

        async def start(self) -> None:
            return None

        async def run(self, code: str, limits: SandboxLimits | None = None) -> None:
            raise SandboxError("infrastructure: no node was left")

        async def aclose(self) -> None:
            return None

    app = create_app(Lost())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        answer = (await client.post("/run_code", json=_cell("print(1)"))).json()
    assert answer["status"] == "SandboxError"
    assert "no node was left" in answer["message"] and answer["run_result"] is None


def test_a_cell_that_exits_does_not_end_the_cells_after_it(server: Served) -> None:
    """``sys.exit(0)``, ``exit()`` and ``os._exit(0)`` end a cell without an error, so it is
    kept; replayed, each ends only itself (found by the 2026-12-04 review: replayed whole,
    the first made every later cell pass without running)."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        sid = client.post("/sessions").json()["session_id"]
        run = f"/sessions/{sid}/run_code"
        for code in (
            "import sys\nx = 1\nsys.exit(0)\nx = 100",
            "y = 2\nexit()",
            "import os\nz = 3\nos._exit(0)",
            "import posix\nw = 4\nposix._exit(0)",
        ):
            answer = client.post(run, json=_cell(code)).json()
            assert answer["status"] == "Success", answer
            assert "attnrl-replayed" not in json.dumps(answer)  # the replay's mark is ours
        last = client.post(run, json=_cell("print(x + y + z + w, os._exit.__name__)")).json()
        assert last["run_result"]["stdout"] == "10 _exit\n", last
        names = client.post(run, json=_cell("print(sorted(k for k in globals() if k[0] == '_'))"))
        assert "_cells" not in names.json()["run_result"]["stdout"]


@pytest.mark.parametrize(
    "ending",
    [
        "import ctypes\nctypes.CDLL(None)._exit(0)",
        "import os\nos.execv('/bin/true', ['true'])",
    ],
)
def test_a_cell_that_ends_its_process_past_the_replay_closes_its_session(
    server: Served, ending: str
) -> None:
    """A cell that ends its process in a way the replay cannot stop (a C-level ``_exit``,
    ``os.execv``) passes, and would make every later cell pass without running: the next
    cell is refused with 409 saying so, and the session is closed (found by the review of
    the fix above)."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        sid = client.post("/sessions").json()["session_id"]
        run = f"/sessions/{sid}/run_code"
        assert client.post(run, json=_cell("x = 1")).json()["status"] == "Success"
        assert client.post(run, json=_cell(ending)).json()["status"] == "Success"
        broken = client.post(run, json=_cell("print(x)"))
        assert broken.status_code == 409 and "open a new one" in broken.json()["detail"]
        assert client.post(run, json=_cell("print(x)")).status_code == 404
        other = client.post("/sessions").json()["session_id"]
        fresh = client.post(f"/sessions/{other}/run_code", json=_cell("print(2)")).json()
        assert fresh["run_result"]["stdout"] == "2\n"
