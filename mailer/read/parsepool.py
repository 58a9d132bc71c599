"""Pre-forked workers for the bounded parse of untrusted forms (mailer.read.safety.parse_form_bounded).

Starting a process for every form cost more than the parse itself (process start and exit were about half
of each bounded parse). A worker here is started once, parses up to ``recycle_after`` forms one after the
other, and is then replaced; each form still gets its own limits:

- POSIX: before each form the worker lowers its *soft* ``RLIMIT_AS`` to what it has mapped now plus the
  form's budget and its soft ``RLIMIT_CPU`` to the CPU time used so far plus the timeout; after the answer
  it lifts both again, so that waiting for and receiving the next form never counts against the last one.
  Only soft limits move (an unprivileged process can raise a soft limit back up to the hard one, never the
  hard one itself); the worker runs no code of the sender's, so a soft limit bounds it just as well.
- Windows (no ``resource``): the worker reports its memory before each form and the parent watches it
  (mailer.common.memwatch), exactly as for a one-form worker.
- Everywhere: the parent waits on the wall clock and kills the worker when the time is up.

A worker that is killed, runs out of memory or fails unexpectedly is never reused: the form gets its Chinese
refusal and a fresh worker is started at once for the next one. One form cannot influence the next: the
parser keeps no module-level state (tests/test_parsepool.py checks its modules' globals before and after
parsing), each form is parsed from its own bytes into new objects, and between forms the worker drops every
reference to the last one, collects garbage and clears lxml's error log. A worker that died while idle is
found out when the next form is handed to it and replaced without blaming that form.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import types
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from mailer.common.errors import FormParseError, UnsafeAttachment

if TYPE_CHECKING:
    from mailer.read.formparse import ParsedForm

log = logging.getLogger(__name__)

RECYCLE_AFTER = 50  # forms per worker before it is replaced (bounds heap growth and fragmentation)
KEEP_IDLE = 2  # idle workers kept ready (more only while several threads parse at once)
_FIX = "请用 Word 或 WPS 打开后“另存为” .docx 格式再发送。"


def timeout_message(timeout_s: float) -> str:
    return f"读取附件超过 {timeout_s:g} 秒仍未完成（文件过于复杂或已损坏），已拒收。{_FIX}"


def memory_message(max_mem_mb: int) -> str:
    return f"读取附件所需内存超过 {max_mem_mb} MB 的上限（文件过大或结构异常），已拒收。{_FIX}"


# --- in the worker ----------------------------------------------------------------------------------------------


class _Limits:
    """The worker's own soft limits, set for one form and lifted after it (POSIX only)."""

    def __init__(self) -> None:
        import resource

        self._r = resource
        self._as = resource.getrlimit(resource.RLIMIT_AS)
        self._cpu = resource.getrlimit(resource.RLIMIT_CPU)

    def set(self, max_mem_mb: int, timeout_s: float) -> None:
        r = self._r
        with contextlib.suppress(OSError, ValueError):  # no /proc: the CPU limit and the timeout still hold
            # What the worker has mapped now does not count against the file's budget.
            with open("/proc/self/statm") as fh:  # noqa: PTH123
                mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            r.setrlimit(r.RLIMIT_AS, (self._below(mapped + max_mem_mb * 2**20, self._as[1]), self._as[1]))
        usage = r.getrusage(r.RUSAGE_SELF)
        cpu = int(usage.ru_utime + usage.ru_stime) + int(timeout_s) + 2
        r.setrlimit(r.RLIMIT_CPU, (self._below(cpu, self._cpu[1]), self._cpu[1]))

    def _below(self, value: int, hard: int) -> int:
        return value if hard == self._r.RLIM_INFINITY else min(value, hard)

    def lift(self) -> None:
        self._r.setrlimit(self._r.RLIMIT_AS, self._as)
        self._r.setrlimit(self._r.RLIMIT_CPU, self._cpu)


def _serve(conn: Connection) -> None:
    """The worker: parse the forms sent on ``conn`` one at a time until told to stop, the parent goes away,
    or a form leaves the process in a state not to be trusted (out of memory, an unexpected error)."""
    from mailer.read.formparse import parse_form

    # What the worker holds before any form (the interpreter, lxml, the parser and what it imports) is
    # moved out of the collector's sight: the collection after each form then looks at that form's
    # leftovers only (a full collection of the imported libraries costs tens of ms).
    gc.freeze()
    try:
        limits: _Limits | None = _Limits()
    except ImportError:  # no `resource` (Windows): the parent watches the memory instead (mailer.common.memwatch)
        limits = None
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        data, max_mem_mb, timeout_s = job
        del job
        answer = _parse_one(parse_form, data, conn, limits, max_mem_mb, timeout_s)
        del data
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return
        if answer[0] not in ("ok", "parse_error"):
            return  # a MemoryError or an unexpected failure may have left half-built state behind: go
        del answer
        if limits is not None:
            limits.lift()
        _between_forms()


def _parse_one(parse_form: Any, data: bytes, conn: Connection, limits: _Limits | None, max_mem_mb: int,
               timeout_s: float) -> tuple[str, Any]:
    try:
        if limits is not None:
            limits.set(max_mem_mb, timeout_s)
        else:
            with contextlib.suppress(ImportError, OSError):  # without psutil the timeout still holds
                from mailer.common.memwatch import own_memory

                conn.send(("watch me", own_memory()))
        return "ok", parse_form(data)
    except MemoryError:
        return "memory", ""
    except FormParseError as e:
        return "parse_error", str(e)
    except Exception:  # noqa: BLE001  (a bug, reported to the parent with its traceback)
        return "error", traceback.format_exc()


def _between_forms() -> None:
    """Leave nothing of the last form behind: its cycles collected, lxml's global error log empty."""
    from lxml import etree

    etree.clear_error_log()
    gc.collect()


# --- in the parent ----------------------------------------------------------------------------------------------

_ctx_lock = threading.Lock()
_ctx: Any = None


def _context() -> Any:
    """A forkserver context whose server has the parser imported: each worker is a cheap fork of a small,
    single-threaded process (never of the service itself, which may hold threads and sockets)."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            ctx = multiprocessing.get_context(method)
            if method == "forkserver":
                ctx.set_forkserver_preload(["mailer.read.parsepool", "mailer.read.formparse"])
            _ctx = ctx
        return _ctx


@contextlib.contextmanager
def _no_main_module() -> Iterator[None]:
    """Start workers as if there were no main script.

    A spawn/forkserver child first re-runs the parent's main script (the CLI, the service, a test runner)
    so that targets defined there can be unpickled: ~40 ms per worker, and a script without a
    ``__main__`` guard would run again. Our target lives in this module, so the child needs no main at
    all; a bare stand-in while the process starts makes multiprocessing skip that step.
    """
    real = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = real


class _Worker:
    """One started worker process and the parent's end of its pipe."""

    def __init__(self) -> None:
        ctx = _context()
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="duban-parse")
        with _ctx_lock, _no_main_module():
            self.proc.start()
        child.close()
        self.forms = 0

    @property
    def pid(self) -> int:
        return int(self.proc.pid or 0)

    def retire(self) -> None:
        """Ask the worker to exit after its current wait (no waiting here)."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.conn.close()

    def kill(self) -> None:
        self.conn.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)


class WorkerPool:
    """Pre-forked parse workers; :meth:`parse` is safe to call from several threads at once."""

    def __init__(self, recycle_after: int = RECYCLE_AFTER, keep_idle: int = KEEP_IDLE) -> None:
        self.recycle_after = max(1, recycle_after)
        self.keep_idle = keep_idle
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self.last_pid = 0  # the worker that parsed (or refused) the last form, for tests and logs

    def idle_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._idle]

    def start(self) -> None:
        """Have one worker ready (the first form then pays no start either)."""
        with self._lock:
            if self._idle:
                return
        self._put(_Worker())

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for w in idle:
            w.retire()

    def parse(self, data: bytes, *, timeout_s: float, max_mem_mb: int) -> ParsedForm:
        """:func:`mailer.read.formparse.parse_form` in a worker, under the memory and time limits.

        :raises UnsafeAttachment: when the file exceeds the memory or time limit
        :raises FormParseError: when the file is read but holds no form
        :raises RuntimeError: when the parser failed unexpectedly or the worker could not start
        """
        worker = self._take()
        try:
            worker.conn.send((data, max_mem_mb, timeout_s))
        except (OSError, ValueError):  # it died while idle: not this form's fault, a fresh one takes it
            log.warning("Parse worker %s was gone before its next form; starting another", worker.pid)
            worker.kill()
            worker = _Worker()
            worker.conn.send((data, max_mem_mb, timeout_s))
        self.last_pid = worker.pid
        try:
            answer = _answer(worker.conn, worker.pid, timeout_s, max_mem_mb)
        except BaseException:  # the time or the watched memory ran out (or we are interrupted): never reuse
            self._replace(worker)
            raise
        if answer is None or answer[0] not in ("ok", "parse_error"):
            self._replace(worker)
        else:
            worker.forms += 1
            if worker.forms >= self.recycle_after:
                worker.retire()
                self._put(_Worker())
            else:
                self._put(worker)
        if answer is None:
            # Killed by a signal: SIGKILL (out of memory), SIGXCPU (CPU limit), SIGSEGV (a failed allocation
            # in C code). A plain exit means the worker never ran: a bug, not the file's fault.
            code = worker.proc.exitcode
            if code is not None and code < 0:
                if -code == getattr(signal, "SIGXCPU", None):
                    raise UnsafeAttachment(timeout_message(timeout_s))
                raise UnsafeAttachment(memory_message(max_mem_mb))
            raise RuntimeError(f"The form parsing worker exited with code {code} before answering.")
        kind, payload = answer
        if kind == "ok":
            return payload  # type: ignore[no-any-return]
        if kind == "parse_error":
            raise FormParseError(payload)
        if kind == "memory":
            raise UnsafeAttachment(memory_message(max_mem_mb))
        raise RuntimeError(f"parse_form failed in the worker:\n{payload}")

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                w = self._idle.pop()
                if w.proc.is_alive():
                    return w
                w.kill()
        return _Worker()

    def _put(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < self.keep_idle:
                self._idle.append(worker)
                return
        worker.retire()

    def _replace(self, worker: _Worker) -> None:
        """Kill a worker that is not to be trusted again and start its successor at once."""
        worker.kill()
        self._put(_Worker())


def _answer(receiver: Connection, pid: int, timeout_s: float, max_mem_mb: int) -> tuple[str, Any] | None:
    """The worker's answer, or None when it died before answering.

    :raises UnsafeAttachment: when the time runs out, or the memory limit watched here is passed
    """
    from mailer.common.memwatch import SAMPLE_S, MemoryWatch

    deadline = time.monotonic() + timeout_s
    watch: MemoryWatch | None = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not receiver.poll(min(left, SAMPLE_S) if watch else left):
            if watch is not None and watch.exceeded():
                raise UnsafeAttachment(memory_message(max_mem_mb))
            if time.monotonic() < deadline:
                continue
            raise UnsafeAttachment(timeout_message(timeout_s))
        try:
            kind, payload = receiver.recv()
        except (EOFError, OSError):
            return None
        if kind == "watch me":  # the worker could not limit itself (no `resource`): watch it from here
            watch = MemoryWatch(pid, payload + max_mem_mb * 2**20)
            continue
        return kind, payload


_pool_lock = threading.Lock()
_pool: WorkerPool | None = None
_pool_pid = 0


def default_pool() -> WorkerPool:
    """This process's pool (a forked child starts its own rather than share its parent's pipes)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = WorkerPool(), os.getpid()
        return _pool
