"""The zygote's fork for a call: libc's ``fork`` (no CPython after-fork work) only while it
has no other Python thread, ``os.fork`` otherwise; either way the next child draws fresh
random numbers. Run in a fresh interpreter (pytest's own process may have threads)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attnrl.sandbox

ZYGOTE = Path(attnrl.sandbox.__file__).with_name("zygote.py")

PROBE = """
import ctypes, importlib.util, os, random, sys, threading
spec = importlib.util.spec_from_file_location("zygote", sys.argv[1])
z = importlib.util.module_from_spec(spec); sys.modules["zygote"] = z; spec.loader.exec_module(z)
z._RAW_FORK = ctypes.PyDLL(None, use_errno=True).fork

def child_draw():
    r, w = os.pipe()
    pid = z._fork()
    if pid == 0:
        os.write(w, repr(random.random()).encode()); os._exit(0)
    os.waitpid(pid, 0)
    return os.read(r, 64).decode()

random.seed(7); state = random.getstate()
raw_same = child_draw() == repr(random.random())   # no hook ran: the parent's state
random.setstate(state)
stop = threading.Event(); t = threading.Thread(target=stop.wait); t.start()
threaded_same = child_draw() == repr(random.random())   # os.fork: random's hook reseeded
stop.set(); t.join()
z.Zygote.reseed(); a = random.random(); z.Zygote.reseed(); b = random.random()
print(raw_same, threaded_same, a != b)
"""


def test_raw_fork_only_without_threads_and_reseed_between_children() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(ZYGOTE)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "True"]
