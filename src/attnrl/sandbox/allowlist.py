"""What the jail shows of the host: an allow-list, not the host minus a deny-list.

A deny-list (mask the harness's checkout and package) misses every other copy of the
grader on the host: a second clone, a wheel in another venv, a checkout under /opt or /srv.
So the jail starts from bubblewrap's empty root and binds back, read-only, only what the
calls need: the interpreter and its stdlib (not its site-packages), numpy, the system's
shared libraries and executables, a few /etc entries, and the CPU topology in /sys.
Everything else, including any other Python package directory, does not exist in the jail.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

__all__ = ["JailView", "jail_view"]

ETC_ENTRIES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "alternatives",
)
"""The dynamic loader's configuration, user and group names, the time zone, and Debian's
alternatives (targets of /usr/bin symlinks)."""

ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
"""Top-level directories that merged-/usr systems make symlinks (recreated as symlinks)."""

SHARED = ("/usr/share/zoneinfo", "/sys/devices/system/cpu")


@dataclass(frozen=True)
class JailView:
    """The jail's filesystem, on top of an empty root."""

    binds: tuple[str, ...]
    """Host paths bound read-only at the same place (directories or files)."""
    hidden: tuple[str, ...]
    """Paths inside the binds masked by an empty tmpfs (package dirs of the interpreter)."""
    symlinks: tuple[tuple[str, str], ...]
    """``(target, path)``: symlinks recreated at the root, e.g. ``("usr/bin", "/bin")``."""


def _real(path: str) -> str:
    return os.path.normpath(os.path.realpath(path))


def _system_binds() -> tuple[list[str], list[tuple[str, str]]]:
    binds: list[str] = []
    links: list[tuple[str, str]] = []
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for name in ROOT_LINKS:
        path = f"/{name}"
        if os.path.islink(path):
            links.append((os.readlink(path), path))
        elif os.path.isdir(path):  # not merged-/usr: only its library directories
            binds += [p for p in (f"{path}/{multiarch}",) if multiarch and os.path.isdir(p)]
            if name in ("bin", "lib64", "lib32", "libx32"):
                binds.append(path)
    libs = [f"/usr/lib/{multiarch}"] if multiarch else []
    libs += ["/usr/lib64", "/usr/lib32", "/usr/libx32", "/usr/bin", "/usr/sbin"]
    binds += [p for p in libs if os.path.isdir(p) and not os.path.islink(p)]
    binds += [f"/etc/{e}" for e in ETC_ENTRIES if os.path.lexists(f"/etc/{e}")]
    binds += [p for p in SHARED if os.path.isdir(p)]
    return binds, links


def _python_binds() -> tuple[list[str], list[str]]:
    """The interpreter (the venv's launcher and the real binary), its stdlib and shared
    library, and numpy with its bundled libraries; the stdlib's own site-packages hidden."""
    binds: set[str] = set()
    hidden: set[str] = set()
    exe = os.path.abspath(sys.executable)
    binds.add(os.path.dirname(exe))
    for _ in range(16):  # every link on the way to the binary (venv -> python3 -> python3.11)
        binds.add(exe)
        if not os.path.islink(exe):
            break
        exe = os.path.normpath(os.path.join(os.path.dirname(exe), os.readlink(exe)))
    cfg = os.path.join(sys.prefix, "pyvenv.cfg")
    if os.path.exists(cfg):
        binds.add(cfg)
    # The stdlib is where ``os`` lives (in a venv, sysconfig's "platstdlib" would be the
    # venv's own lib dir, site-packages and all); extension modules may live apart.
    stdlibs = {_real(os.path.dirname(os.__file__))}
    dynload = sysconfig.get_config_var("DESTSHARED")
    if dynload and os.path.isdir(dynload):
        stdlibs.add(_real(dynload))
    for stdlib in stdlibs:
        binds.add(stdlib)
        for sub in ("site-packages", "dist-packages"):
            if os.path.isdir(os.path.join(stdlib, sub)):
                hidden.add(os.path.join(stdlib, sub))
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    for lib in glob.glob(os.path.join(libdir, "libpython*.so*")) if libdir else []:
        binds.add(_real(lib))
    spec = importlib.util.find_spec("numpy")
    if spec is not None and spec.submodule_search_locations:
        for pkg in spec.submodule_search_locations:
            binds.add(_real(pkg))
            bundled = os.path.join(os.path.dirname(pkg), "numpy.libs")
            if os.path.isdir(bundled):
                binds.add(_real(bundled))
    return sorted(binds), sorted(hidden)


def jail_view(extra_hidden: tuple[str, ...] = ()) -> JailView:
    """The allow-list for this interpreter on this host. Directories that hold other Python
    packages (``/usr/lib/python3*``, ``/usr/local``, other venvs) are simply not in it."""
    system, links = _system_binds()
    python, hidden = _python_binds()
    binds = sorted({*system, *python})
    # Drop binds covered by another bind; keep the outermost.
    outer = [b for b in binds if not any(o != b and b.startswith(o + "/") for o in binds)]
    inside = [h for h in (*hidden, *extra_hidden) if any(Path(h).is_relative_to(b) for b in outer)]
    return JailView(tuple(outer), tuple(sorted(set(inside))), tuple(links))
