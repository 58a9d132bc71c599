"""The service lock (mailer.common.homelock): exclusive across processes and within one, and gone with its holder
however it ends — a holder killed with SIGKILL leaves nothing that blocks the next start."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from mailer.common.homelock import PID_NAME, AlreadyLocked, exclusive_lock

HOLD = """
import sys, time
from pathlib import Path
from mailer.common.homelock import exclusive_lock
with exclusive_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(300)
"""


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyLocked) as e, exclusive_lock(tmp_path):
            pass
        assert e.value.holder == str(holder.pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    assert (tmp_path / PID_NAME).exists()  # a kill -9 leaves the pid file behind: it must not matter
    deadline = time.monotonic() + 10
    while True:
        try:
            with exclusive_lock(tmp_path):
                assert (tmp_path / PID_NAME).read_text(encoding="utf-8").strip().isdigit()
            break
        except AlreadyLocked:
            assert time.monotonic() < deadline, "the lock outlived its killed holder"
            time.sleep(0.1)
    assert not (tmp_path / PID_NAME).exists()


def test_a_second_holder_in_the_same_process_is_refused(tmp_path):
    with exclusive_lock(tmp_path), pytest.raises(AlreadyLocked), exclusive_lock(tmp_path):
        pass
    with exclusive_lock(tmp_path):  # and released on leaving
        pass
