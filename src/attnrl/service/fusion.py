"""The SandboxFusion ``/run_code`` API: a request read into the jail's limits, a result
written back in that API's fields.

Pure and synchronous (no web framework here). The fields are SandboxFusion's as its own
client package defines them (``sandbox-fusion`` 0.3.7, ``RunCodeRequest`` /
``RunCodeResponse``) and as verl 0.9.1's ``call_sandbox_api`` sends them (it adds
``memory_limit_MB``). What attnrl's jail runs is python; what it cannot honour (another
language, files to upload or fetch, a limit looser than the server's) is a clear error,
never silently ignored.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from attnrl.sandbox.base import ExecResult
from attnrl.sandbox.limits import MiB, SandboxLimits

__all__ = [
    "DEFAULT_RUN_TIMEOUT_S",
    "PYTHON_LANGUAGES",
    "RequestError",
    "RunCodeRequest",
    "error_response",
    "parse_run_code",
    "run_code_response",
]

PYTHON_LANGUAGES = frozenset({"python", "python3"})
"""The ``language`` values served: attnrl's jail runs python (numpy preloaded as ``np``)."""
KNOWN_FIELDS = frozenset(
    {
        "code",
        "language",
        "compile_timeout",
        "run_timeout",
        "memory_limit_MB",
        "stdin",
        "files",
        "fetch_files",
    }
)


DEFAULT_RUN_TIMEOUT_S = 10.0
"""The wall-clock limit of a request that names no ``run_timeout``: SandboxFusion's own
default (its ``RunCodeRequest``), or the server's limit if that is lower."""


class RequestError(ValueError):
    """A request the service cannot run: answered 400 with this message."""


@dataclass(frozen=True)
class RunCodeRequest:
    """One ``/run_code`` request, checked: the code and the limits of its call."""

    code: str
    """What runs: the request's code, preceded by one line that sets ``sys.stdin`` when it
    gave ``stdin`` (so a traceback's line numbers are one higher then)."""
    limits: SandboxLimits
    """The server's limits, tightened to what the request asked for."""


def _seconds(body: dict[str, Any], key: str, cap: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestError(f"{key} must be a number of seconds, got {value!r}")
    if value <= 0:
        raise RequestError(f"{key} must be > 0, got {value!r}")
    if key == "run_timeout" and value > cap:
        raise RequestError(
            f"run_timeout {value:g} s exceeds this server's limit of {cap:g} s "
            "(start it with a larger --timeout)"
        )
    return float(value)


def parse_run_code(body: object, server: SandboxLimits) -> RunCodeRequest:
    """``body`` (decoded JSON) as a request under the server's limits ``server``; raises
    :class:`RequestError` naming the field and the fix."""
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object with at least 'code' and 'language'")
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise RequestError(f"unknown field(s) {unknown}; the fields are {sorted(KNOWN_FIELDS)}")
    code = body.get("code")
    if not isinstance(code, str):
        raise RequestError(f"code must be a string, got {type(code).__name__}")
    language = body.get("language", "python")
    if language not in PYTHON_LANGUAGES:
        raise RequestError(
            f"language {language!r} is not served: this sandbox runs python only "
            f"({', '.join(sorted(PYTHON_LANGUAGES))})"
        )
    if body.get("files"):
        raise RequestError("files are not supported: send the data inside the code")
    if body.get("fetch_files"):
        raise RequestError("fetch_files is not supported: print what you need instead")
    _seconds(body, "compile_timeout", math.inf)  # python compiles as it runs: checked only
    timeout = _seconds(body, "run_timeout", server.timeout_s)
    if timeout is None:
        timeout = min(DEFAULT_RUN_TIMEOUT_S, server.timeout_s)
    # The CPU limit a second above the wall clock: at equal limits a busy loop's end was a
    # race between the two (the zygote notices the deadline a little late).
    limits = dataclasses.replace(
        server, timeout_s=timeout, cpu_s=max(1, min(server.cpu_s, math.ceil(timeout) + 1))
    )
    memory_mb = body.get("memory_limit_MB")
    if memory_mb is not None:
        if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb <= 0:
            raise RequestError(f"memory_limit_MB must be a positive integer, got {memory_mb!r}")
        cap_mb = server.memory_bytes // MiB
        if memory_mb > cap_mb:
            raise RequestError(
                f"memory_limit_MB {memory_mb} exceeds this server's limit of {cap_mb} MB "
                "(start it with a larger --memory-mb)"
            )
        if memory_mb * MiB < 64 * MiB:
            raise RequestError(f"memory_limit_MB must be at least 64, got {memory_mb}")
        limits = dataclasses.replace(limits, memory_bytes=memory_mb * MiB)
    stdin = body.get("stdin")
    if stdin is not None and not isinstance(stdin, str):
        raise RequestError(f"stdin must be a string or null, got {type(stdin).__name__}")
    if stdin:
        code = f"import io as _io, sys as _sys; _sys.stdin = _io.StringIO({stdin!r})\n" + code
    return RunCodeRequest(code, limits)


def _is_infrastructure(error: str | None) -> bool:
    """The sandbox failed, not the code: SandboxFusion's ``SandboxError`` (clients retry)."""
    return error is not None and error.startswith("SandboxError:")


def run_code_response(result: ExecResult) -> dict[str, Any]:
    """An :class:`ExecResult` in ``RunCodeResponse``'s fields.

    ``status`` is ``Success`` when the code ran without error, ``Failed`` when it raised or hit
    a limit (``run_result.status`` ``TimeLimitExceeded`` when the wall-clock or the CPU limit
    ended it, as the sandbox saw it: code that raises ``TimeoutError`` itself is
    ``Finished``), and
    ``SandboxError`` when the sandbox itself failed (infrastructure: the clients retry it). The
    error the model would see (type, message, traceback tail, or the limit hit) is appended to
    ``stderr``, as an interpreter prints an uncaught exception."""
    error = result.error
    if _is_infrastructure(error):
        return error_response(error or "", status="SandboxError")
    stdout = result.stdout if result.stdout is not None else result.result
    stderr = result.stderr if result.stderr is not None else ""
    if error is not None:
        stderr = f"{stderr}{'' if not stderr or stderr.endswith(chr(10)) else chr(10)}{error}\n"
    timed_out = result.time_limit is not None
    run_result = {
        "status": "TimeLimitExceeded" if timed_out else "Finished",
        "execution_time": result.duration_s,
        "return_code": None if timed_out else (0 if error is None else 1),
        "stdout": stdout,
        "stderr": stderr,
    }
    return {
        "status": "Success" if error is None else "Failed",
        "message": "" if error is None else error.split("\n", 1)[0],
        "compile_result": None,
        "run_result": run_result,
        "executor_pod_name": None,
        "files": {},
    }


def error_response(message: str, status: str = "SandboxError") -> dict[str, Any]:
    """A response that ran nothing: ``SandboxError`` (infrastructure) with its reason."""
    return {
        "status": status,
        "message": message,
        "compile_result": None,
        "run_result": None,
        "executor_pod_name": None,
        "files": {},
    }
