"""Logging for the entry points: one format with a run id, so every line of one run (a CLI command, or
one job of the service) can be picked out. Library modules only ever call ``logging.getLogger``."""

from __future__ import annotations

import logging
import sys
import uuid
from contextvars import ContextVar

run_id: ContextVar[str] = ContextVar("run_id", default="-")
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(run_id)s] %(message)s"


class RunIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = run_id.get()
        return True


def new_run() -> str:
    """Start a new run id (a CLI command, a service job) and return it."""
    rid = uuid.uuid4().hex[:8]
    run_id.set(rid)
    return rid


def setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RunIdFilter())
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    new_run()
