"""Start a helper program in its own process group and kill it with everything it started, portably.

LibreOffice is a chain (soffice → oosplash → soffice.bin): killing only the first leaves the converter
running. On POSIX the chain shares a new session and one ``killpg`` ends it; Windows has no process
groups of that kind (nor ``os.killpg``), so there the tree is walked with psutil and every member killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from typing import Any

log = logging.getLogger(__name__)


def group_kwargs() -> dict[str, Any]:
    """``subprocess.Popen`` arguments that put the child (and what it starts) in a group of its own."""
    if sys.platform == "win32":
        # Detaches the child from our console's Ctrl+C/Ctrl+Break, as a new session does on POSIX.
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined,unused-ignore]
    return {"start_new_session": True}


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` and every process it started; never raises for processes already gone."""
    killpg = getattr(os, "killpg", None)
    sigkill = getattr(signal, "SIGKILL", None)
    if killpg is not None and sigkill is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            killpg(proc.pid, sigkill)
        return
    import psutil  # only where process groups are missing (Windows)

    try:
        root = psutil.Process(proc.pid)
        # Collected before any kill: once the parent is gone its children are re-parented out of reach.
        tree = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.kill()
    _gone, alive = psutil.wait_procs(tree, timeout=5)
    if alive:
        log.warning("Processes %s survived kill", [p.pid for p in alive])
