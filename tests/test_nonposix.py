"""duban where the POSIX-only parts of Python are missing (Windows): the service, its lock, intake of a
filled form and the bounded parse worker run in processes started under tests/nonposix/sitecustomize.py,
which makes ``fcntl``, ``resource``, ``pwd``, ``grp``, ``termios`` unimportable, removes ``os.killpg``,
``os.getuid`` & co. and leaves multiprocessing only ``spawn``. Windows itself is not run here.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from docx import Document
from form_factory import docx_bytes, notice_form
from sqlalchemy import select
from test_safety import rezip

from mailer.plan.importer import import_file
from mailer.registry.model import Dispatch, Office, Submission
from mailer.registry.store import atomic, close_all, open_registry
from mailer.service.demo import EXAMPLES, People, at

SIM = Path(__file__).resolve().parent / "nonposix"
ROWS = [["1", "培英职业技术学校新校区建设项目", "", "基财股", "已完成施工招标。", "", ""]]
FIX = "请用 Word 或 WPS 打开后“另存为” .docx 格式再发送。"


@pytest.fixture
def sim_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SIM), env.get("PYTHONPATH", "")) if p)
    return env


def duban(env: dict[str, str], home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailer", "--home", str(home), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_the_simulation_takes_away_what_windows_lacks(sim_env):
    code = (
        "import importlib, json, multiprocessing, os, signal\n"
        "blocked = []\n"
        "for m in ('fcntl', 'resource', 'pwd', 'grp', 'termios'):\n"
        "    try: importlib.import_module(m)\n"
        "    except ImportError: blocked.append(m)\n"
        "print(json.dumps([blocked, hasattr(os, 'killpg'), hasattr(os, 'getuid'), hasattr(signal, 'SIGXCPU'),"
        " multiprocessing.get_all_start_methods()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=sim_env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [["fcntl", "resource", "pwd", "grp", "termios"], False, False, False, ["spawn"]]


# The worker's four outcomes, as tests/test_safety.py checks them on POSIX: here the worker cannot limit
# itself (no `resource`), so the parent watches its memory (mailer.common.memwatch) and the wall clock; a worker
# that hit a limit is replaced and the next forms share one worker (tests/test_parsepool.py on POSIX).
WORKER = """
import json, sys
from pathlib import Path
from mailer.common.errors import FormParseError, UnsafeAttachment
from mailer.read.safety import parse_form_bounded
d = Path(sys.argv[1])
out = {"rows": [r.number for r in parse_form_bounded((d / "good.docx").read_bytes()).rows]}
for name, kwargs in (("empty", {}), ("bomb", {"max_mem_mb": 64}), ("slow", {"timeout_s": 0.001})):
    src = "good" if name == "slow" else name
    try:
        parse_form_bounded((d / f"{src}.docx").read_bytes(), **kwargs)
        out[name] = "parsed"
    except (FormParseError, UnsafeAttachment) as e:
        out[name] = str(e)
out["resource"] = "resource" in sys.modules
# The workers that hit a limit were replaced: the next form is read by a fresh one, which then reads more.
from mailer.read.parsepool import default_pool
out["after"] = [r.number for r in parse_form_bounded((d / "good.docx").read_bytes()).rows]
pids = {default_pool().last_pid}
parse_form_bounded((d / "good.docx").read_bytes())
pids.add(default_pool().last_pid)
out["pids"] = len(pids)
print(json.dumps(out, ensure_ascii=False))
"""


def test_the_parse_worker_limits_memory_and_time_without_resource(sim_env, tmp_path):
    good = notice_form(ROWS)
    (tmp_path / "good.docx").write_bytes(good)
    empty = Document()
    empty.add_paragraph("没有表格")
    (tmp_path / "empty.docx").write_bytes(docx_bytes(empty))
    # 28 MB of empty paragraphs: several hundred MB once lxml has built the tree.
    xml = (b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
           + b"<w:p/>" * (28 * 2**20 // 6) + b"</w:body></w:document>")
    (tmp_path / "bomb.docx").write_bytes(rezip(good, replace={"word/document.xml": xml}))
    proc = subprocess.run([sys.executable, "-c", WORKER, str(tmp_path)], env=sim_env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["rows"] == [1]
    assert "没有找到进展情况表" in out["empty"]
    assert out["bomb"] == f"读取附件所需内存超过 64 MB 的上限（文件过大或结构异常），已拒收。{FIX}"
    assert out["slow"] == f"读取附件超过 0.001 秒仍未完成（文件过于复杂或已损坏），已拒收。{FIX}"
    assert out["resource"] is False
    assert out["after"] == [1]
    assert out["pids"] == 1  # one (spawned) worker read both forms


@pytest.fixture
def planned(home):
    engine = open_registry(home.database_url)
    for name in ("notice-2022.docx", "directory-2022.xlsx"):
        import_file(home, engine, EXAMPLES / name)
    close_all()
    return home


def test_run_once_takes_in_a_filled_form_and_serve_holds_the_home(planned, sim_env):
    settings = planned
    # 1. The send day: every lead office gets its form.
    first = duban(sim_env, settings.home, "run", "--once", "--now", "2022-06-10T09:00")
    assert first.returncode == 0, first.stderr[-3000:]
    engine = open_registry(settings.database_url)
    with atomic(engine) as s:
        forms = s.scalars(select(Dispatch).where(Dispatch.kind == "form", Dispatch.state == "sent")).all()
        assert len(forms) == 10
        office = s.scalars(select(Office).where(Office.id == forms[0].office_id)).one()
        name, addr = office.name, office.addresses[0].email

    # 2. The office fills its form in Word and replies; intake parses it in the (spawned, watched) worker.
    people = People(settings.home, engine, settings.mail.from_address)
    assert people.office_reports(addr, at(13, 10))
    second = duban(sim_env, settings.home, "run", "--once", "--now", "2022-06-13T11:00")
    assert second.returncode == 0, second.stderr[-3000:]
    with atomic(engine) as s:
        subs = s.scalars(select(Submission).join(Office).where(Office.name == name)).all()
        assert [(sub.revision, sub.state) for sub in subs] == [(1, "pending_approval")], second.stderr[-3000:]

    # 3. The service: one instance per home without fcntl, a clean stop.
    serve = subprocess.Popen([sys.executable, "-m", "mailer", "--home", str(settings.home), "-v", "serve",
                              "--interval", "0.3"], env=sim_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (settings.registry / "service.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        again = duban(sim_env, settings.home, "serve", timeout=60)
        assert again.returncode == 1
        assert f"already runs on {settings.home}" in again.stderr
        assert f"(pid {serve.pid})" in again.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err.decode(errors="replace")[-3000:]
    assert "stopping" in err.decode(errors="replace")
    assert not (settings.registry / "service.pid").exists()


KILL = """
import sys
from pathlib import Path
from mailer.common.errors import ConversionError
from mailer.word.pdf import convert
d = Path(sys.argv[1])
try:
    convert(d / "a.docx", d / "out", "pdf", soffice=str(d / "fake-soffice"), timeout=1)
except ConversionError as e:
    print(e)
"""


def test_a_hung_converter_and_its_child_are_killed_without_killpg(sim_env, tmp_path):
    pids = tmp_path / "pids"
    fake = tmp_path / "fake-soffice"
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $$ $! > {pids}\nwait\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "a.docx").write_bytes(notice_form(ROWS))
    proc = subprocess.run([sys.executable, "-c", KILL, str(tmp_path)], env=sim_env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "longer than 1s" in proc.stdout
    procs = [int(p) for p in pids.read_text().split()]
    assert len(procs) == 2
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in procs if _alive(p)] == []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
