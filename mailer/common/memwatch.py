"""A memory limit for a child process where ``resource.setrlimit`` does not exist (Windows).

On POSIX the parse worker limits its own address space and CPU time with ``resource`` (mailer.read.safety);
Windows has no such module. There the worker reports its memory once it is ready to parse, and the parent
samples it with psutil every few milliseconds while waiting, killing it once it has grown by more than the
budget. Sampling can overshoot by what the worker allocates between two samples (tens of MB at most at
the rates lxml builds a tree), which the budget's margin absorbs; a Windows job object would be exact but
could not be run here, so it is not used.
"""

from __future__ import annotations

import sys

SAMPLE_S = 0.02


def own_memory() -> int:
    """This process's memory in bytes, as :class:`MemoryWatch` measures it."""
    import psutil

    return _measure(psutil.Process())


def _measure(proc: object) -> int:
    info = proc.memory_info()  # type: ignore[attr-defined]
    # Windows: private bytes (vms there), which cannot be trimmed away like the working set (rss);
    # elsewhere the resident set, since vms counts every mapping the libraries reserve.
    return int(info.vms if sys.platform == "win32" else info.rss)


class MemoryWatch:
    """Watch process ``pid`` against ``limit`` bytes."""

    def __init__(self, pid: int, limit: int) -> None:
        import psutil

        self._psutil = psutil
        self.limit = limit
        self.peak = 0
        try:
            self._proc: object | None = psutil.Process(pid)
        except psutil.NoSuchProcess:
            self._proc = None

    def exceeded(self) -> bool:
        """True once the process uses more than the limit (False when it is gone)."""
        if self._proc is None:
            return False
        try:
            used = _measure(self._proc)
        except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
            return False
        self.peak = max(self.peak, used)
        return used > self.limit
