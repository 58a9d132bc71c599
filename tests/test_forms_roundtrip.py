"""Render → fill as a person would → (LibreOffice) → parse: exactly the typed text comes back."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import IN_CI, has_soffice
from form_factory import fill, make_plan

from mailer.read.formcheck import check_form
from mailer.read.formparse import parse_form
from mailer.registry.model import Office, Plan
from mailer.registry.store import atomic
from mailer.render.forms import render_form
from mailer.word.pdf import convert

TYPED = {
    1: {
        "progress": "已完成施工招标，6月20日开标。\n中标单位：台山市某建筑公司（暂定）。\n进度 <30%> & 资金 \"到位\"",
        "problems": "1.用地报批尚需时间；\n2.下一步：7月开工。",
        "remark": "江门重点项目",
    },
    2: {"progress": "桂水分教点基础工程完成80%。\t（详见附件）", "problems": "无"},
    3: {"progress": "春季学期经费已于5月拨付。　全额到位。", "remark": "民生实事"},
}


def _expected() -> list[tuple[int, str, str, str]]:
    return [(seq, v.get("progress", ""), v.get("problems", ""), v.get("remark", "")) for seq, v in TYPED.items()]


def _rows(parsed) -> list[tuple[int, str, str, str]]:  # type: ignore[no-untyped-def]
    return sorted((r.number, r.progress, r.problems, r.remark) for r in parsed.rows)


@pytest.fixture
def filled(home, engine) -> tuple[bytes, str, object]:  # type: ignore[no-untyped-def]
    with atomic(engine) as s:
        ids = make_plan(s)
        rendered = render_form(home, s, s.get(Plan, ids.plan_id), 2022, 6, s.get(Office, ids.offices["基财股"]))
    data = fill(rendered.path.read_bytes(), TYPED, add_empty_row=True, reverse_rows=True)
    return data, rendered.token, ids


def test_python_docx_round_trip_gives_exactly_the_typed_text(home, engine, filled):
    """
    GIVEN a rendered form, typed into cell by cell (several paragraphs, runs split, a tab, XML specials),
          an empty row added and the rows put in reverse order
    WHEN  parsed and checked
    THEN  every cell reads back exactly as typed, and the check accepts it
    """
    data, token, _ = filled
    parsed = parse_form(data)
    assert [r.number for r in parsed.rows] == [3, 2, 1]
    assert _rows(parsed) == _expected()
    assert (parsed.token, parsed.year, parsed.month) == (token, 2022, 6)
    assert (parsed.office_text, parsed.filled_by, parsed.filled_on) == ("基财股", "张三", "2022年6月15日")
    with atomic(engine) as s:
        result = check_form(s, parsed, secret_key=home.secret_key())
        assert result.ok, result.findings
        assert [(e.seq, e.progress, e.problems, e.remark) for e in result.entries] == _expected()


needs_lo = pytest.mark.skipif(not has_soffice() and not IN_CI, reason="LibreOffice is not installed")


@pytest.mark.libreoffice
@needs_lo
def test_libreoffice_docx_round_trip(filled, tmp_path: Path):
    """Saved again by LibreOffice (docx → docx): the same rows, facts and token."""
    data, token, _ = filled
    src = tmp_path / "filled.docx"
    src.write_bytes(data)
    out = convert(src, tmp_path / "lo", "docx")
    parsed = parse_form(out.read_bytes())
    assert _rows(parsed) == _expected()
    assert (parsed.token, parsed.token_source) == (token, "custom_property")
    assert (parsed.year, parsed.month, parsed.office_text, parsed.filled_by) == (2022, 6, "基财股", "张三")


@pytest.mark.libreoffice
@needs_lo
def test_libreoffice_odt_round_trip(filled, tmp_path: Path):
    """Through OpenDocument and back (docx → odt → docx), as a WPS/LibreOffice user might save it."""
    data, token, _ = filled
    src = tmp_path / "filled.docx"
    src.write_bytes(data)
    odt = convert(src, tmp_path / "odt", "odt")
    back = convert(odt, tmp_path / "back", "docx")
    parsed = parse_form(back.read_bytes())
    assert _rows(parsed) == _expected()
    assert parsed.token == token
    assert (parsed.year, parsed.month, parsed.office_text) == (2022, 6, "基财股")
