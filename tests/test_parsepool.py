"""The pre-forked parse workers (mailer.read.parsepool): each form under its own memory and time limits, a worker
replaced at once after a form that hit a limit, recycled after N forms, and nothing of one form left for the
next. Windows (no ``resource``) is covered by tests/test_nonposix.py."""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from docx import Document
from form_factory import docx_bytes, notice_form
from test_safety import rezip

from mailer.common.errors import FormParseError, UnsafeAttachment
from mailer.read.formparse import parse_form
from mailer.read.parsepool import WorkerPool
from mailer.read.safety import parse_form_bounded

FIX = "请用 Word 或 WPS 打开后“另存为” .docx 格式再发送。"
MEMORY = f"读取附件所需内存超过 64 MB 的上限（文件过大或结构异常），已拒收。{FIX}"


def _form(n: int) -> bytes:
    return notice_form([[str(i), f"第{n}张表的项目{i}", "", "基财股", f"表{n}项{i}：已完成。", "", ""]
                        for i in range(1, n + 2)])


@pytest.fixture(scope="module")
def forms() -> list[bytes]:
    return [_form(n) for n in range(4)]


@pytest.fixture(scope="module")
def bomb(forms) -> bytes:
    # ~12 MB of empty paragraphs: far beyond 64 MB once lxml has built the tree.
    xml = (b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
           + b"<w:p/>" * (12 * 2**20 // 6) + b"</w:body></w:document>")
    return rezip(forms[0], replace={"word/document.xml": xml})


@pytest.fixture
def pool():  # type: ignore[no-untyped-def]
    p = WorkerPool(recycle_after=3)
    yield p
    p.close()


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _parse(pool: WorkerPool, data: bytes, **kw):  # type: ignore[no-untyped-def]
    return pool.parse(data, timeout_s=kw.get("timeout_s", 30), max_mem_mb=kw.get("max_mem_mb", 512))


def test_one_worker_parses_n_forms_then_a_fresh_one_takes_over(pool, forms):
    """
    GIVEN a pool recycling its worker after 3 forms
    WHEN  7 forms are parsed one after the other
    THEN  each answer is what parse_form gives in this process, forms 1–3 and 4–6 share a worker each,
          form 7 has a third one, and a recycled worker exits
    """
    pids = []
    for data in forms + forms[:3]:
        assert _parse(pool, data) == parse_form(data)
        pids.append(pool.last_pid)
    assert pids[0] == pids[1] == pids[2] != pids[3] == pids[4] == pids[5] != pids[6]
    assert len(set(pids)) == 3
    assert _gone(pids[0]) and _gone(pids[3])
    assert pool.idle_pids() == [pids[6]]


def test_a_form_that_blows_the_memory_limit_is_refused_and_its_worker_replaced(pool, forms, bomb):
    _parse(pool, forms[0])
    first = pool.last_pid
    with pytest.raises(UnsafeAttachment) as e:
        _parse(pool, bomb, max_mem_mb=64)
    assert str(e.value) == MEMORY
    assert pool.last_pid == first  # the worker that had served before took the bomb…
    assert _gone(first)  # …and is gone,
    [fresh] = pool.idle_pids()  # replaced at once, before the next form arrives
    assert fresh != first
    assert _parse(pool, forms[1]) == parse_form(forms[1])
    assert pool.last_pid == fresh


def test_a_form_that_takes_too_long_is_refused_and_its_worker_killed(pool, forms):
    _parse(pool, forms[0])
    first = pool.last_pid
    with pytest.raises(UnsafeAttachment) as e:
        _parse(pool, forms[1], timeout_s=0.001)
    assert str(e.value) == f"读取附件超过 0.001 秒仍未完成（文件过于复杂或已损坏），已拒收。{FIX}"
    assert _gone(first)
    assert _parse(pool, forms[2]) == parse_form(forms[2])
    assert pool.last_pid not in (0, first)


def test_the_limits_are_set_for_each_form(pool, forms):
    """A worker that served forms under a 40 MB budget reads a form needing more under a 1 GB budget: the
    limit is each form's own, not the first form's kept for the worker's life."""
    xml = (b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
           + b"<w:p/>" * (3 * 2**20 // 6) + b"</w:body></w:document>")
    big = rezip(forms[0], replace={"word/document.xml": xml})
    for data in forms[:2]:
        assert _parse(pool, data, max_mem_mb=40) == parse_form(data)
    first = pool.last_pid
    with pytest.raises(FormParseError, match="没有找到进展情况表"):  # read whole: it just holds no table
        _parse(pool, big, max_mem_mb=1024)
    assert pool.last_pid == first
    with pytest.raises(UnsafeAttachment, match="内存超过 40 MB"):  # what it needs is beyond 40 MB
        _parse(pool, big, max_mem_mb=40)


def test_a_refused_form_keeps_its_worker_and_a_worker_dead_while_idle_is_not_blamed(pool, forms):
    doc = Document()
    doc.add_paragraph("没有表格")
    _parse(pool, forms[0])
    first = pool.last_pid
    with pytest.raises(FormParseError, match="没有找到进展情况表"):
        _parse(pool, docx_bytes(doc))
    assert pool.last_pid == first and pool.idle_pids() == [first]  # the file's fault, not the worker's
    os.kill(first, signal.SIGKILL)  # e.g. the kernel's OOM killer between two forms
    assert _gone(first)
    assert _parse(pool, forms[1]) == parse_form(forms[1])
    assert pool.last_pid != first


def test_nothing_of_one_form_reaches_the_next(pool, forms, bomb):
    """
    GIVEN one worker (no recycling within the test)
    WHEN  it parses forms A, B, a broken one, then A again
    THEN  A reads the same before and after, and equal to a parse in a fresh interpreter state
    """
    pool.recycle_after = 100
    broken = rezip(forms[1], replace={"word/document.xml": b"<w:document><w:body><w:p>"})
    first = _parse(pool, forms[2])
    _parse(pool, forms[3])
    with pytest.raises(FormParseError):
        _parse(pool, broken)
    again = _parse(pool, forms[2])
    assert again == first == parse_form(forms[2])
    assert len({pool.last_pid} | set(pool.idle_pids())) == 1


# What the worker has loaded besides the standard library and lxml: mailer.read.formparse and what it imports.
PARSER_MODULES = ("mailer", "mailer.common", "mailer.common.errors", "mailer.common.text", "mailer.common.tokens",
                  "mailer.read", "mailer.read.formparse", "mailer.word", "mailer.word.grid", "mailer.word.numbering",
                  "mailer.word.symbols")


def _parser_state() -> dict[str, object]:
    """Every mutable module-level value (and every lru_cache's size) of the parser's modules."""
    state: dict[str, object] = {}
    for name in PARSER_MODULES:
        module = sys.modules[name]
        for attr, value in vars(module).items():
            if attr.startswith("__"):
                continue
            key = f"{name}.{attr}"
            if isinstance(value, (dict, list, set, bytearray)):
                state[key] = copy.deepcopy(value)
            elif isinstance(value, functools._lru_cache_wrapper):
                state[key] = value.cache_info().currsize
        state[f"{name}.<names>"] = sorted(a for a in vars(module) if not a.startswith("__"))
    return state


def test_the_parser_modules_are_all_watched():
    code = "import sys, mailer.read.formparse; print(' '.join(m for m in sys.modules if m.startswith('mailer')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(out.stdout.split()) == set(PARSER_MODULES)


def test_the_parser_keeps_no_module_level_state(forms, bomb):
    """What the worker reuses between forms is the parser's modules: parsing leaves them exactly as they
    were, so one form cannot change how the next is read."""
    broken = rezip(forms[1], replace={"word/document.xml": b"<not xml"})
    parse_form(forms[0])  # anything imported lazily is imported now
    before = _parser_state()
    for data in [*forms, broken]:
        with contextlib.suppress(FormParseError):
            parse_form(data)
    assert _parser_state() == before


def test_parse_form_bounded_uses_the_shared_pool(forms):
    from mailer.read.parsepool import default_pool

    assert parse_form_bounded(forms[0]) == parse_form(forms[0])
    pid = default_pool().last_pid
    assert parse_form_bounded(forms[1]) == parse_form(forms[1])
    assert default_pool().last_pid == pid
