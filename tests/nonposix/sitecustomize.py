"""Simulated Windows, for tests/test_nonposix.py: put this folder first on PYTHONPATH and every Python
process started with it (the service, its parse workers, pytest) loses what Windows does not have:

- the POSIX-only modules ``fcntl``, ``resource``, ``pwd``, ``grp``, ``termios`` cannot be imported;
- ``os.killpg``, ``os.getuid`` & co., ``os.sysconf`` and ``signal.SIGXCPU`` are gone;
- multiprocessing offers only the ``spawn`` start method, as on Windows.

psutil is loaded first (see below). What it cannot simulate: Windows paths, file-sharing semantics, ``CREATE_NEW_PROCESS_GROUP``, services.
"""

from __future__ import annotations

import importlib.abc
import multiprocessing
import os
import signal
import sys

# psutil stands in for what Windows lacks; its Linux backend needs `resource` (its Windows backend does
# not), so it is loaded before the block and keeps its own reference, while every later import is refused.
import psutil  # noqa: F401

BLOCKED = frozenset({"fcntl", "resource", "pwd", "grp", "termios"})


class _WindowsHasNo(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (simulated Windows)", name=name)



for _name in BLOCKED:
    sys.modules.pop(_name, None)
sys.meta_path.insert(0, _WindowsHasNo())
for _attr in ("killpg", "getpgid", "setsid", "getuid", "geteuid", "getgid", "getegid", "sysconf"):
    if hasattr(os, _attr):
        delattr(os, _attr)
if hasattr(signal, "SIGXCPU"):
    delattr(signal, "SIGXCPU")
multiprocessing.get_all_start_methods = lambda: ["spawn"]  # type: ignore[assignment]
os.environ["DUBAN_SIMULATED_WINDOWS"] = "1"
