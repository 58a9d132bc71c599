"""A few helper threads for work that waits rather than computes (a disk flush, a parse worker's answer), so
that the caller goes on meanwhile. The caller always collects the result before it depends on it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_pid = 0


def submit(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
    """Run ``fn`` in this process's helper threads (a forked child starts its own: threads do not survive
    a fork)."""
    global _executor, _executor_pid
    with _lock:
        if _executor is None or _executor_pid != os.getpid():
            _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="duban-bg")
            _executor_pid = os.getpid()
        pool = _executor
    return pool.submit(fn, *args, **kwargs)
