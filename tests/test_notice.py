"""The consolidated notice .docx: rendered for a realistic June, reopened with python-docx and read as XML.

LibreOffice is hidden here (fast); tests/test_notice_pdf.py converts for real.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import zipfile
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Length
from lxml import etree
from notice_factory import seed_june
from sqlalchemy import select

from mailer.common.config import Settings
from mailer.common.errors import TemplateError
from mailer.common.templates import template_path
from mailer.registry.model import Entry, Submission
from mailer.registry.store import atomic
from mailer.render.notice import (
    TEMPLATE_NAME,
    assemble_notice,
    final_name,
    publish_notice,
    render_notice,
    row_values,
)
from mailer.render.notice_data import notice_data

TITLE = "关于台山市教育系统2022年重点工作任务1—6月进展情况的通报"
HEADER = ["编号", "项目名称", "责任股室", "进展情况", "存在问题和下一步工作计划", "报送情况", "节点情况"]
ISSUED = dt.date(2022, 6, 24)


@pytest.fixture
def no_soffice(home: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The home with LibreOffice out of reach: a configured name that does not exist, and an empty PATH."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return dataclasses.replace(home, service=dataclasses.replace(home.service, libreoffice="no-such-soffice"))


def assemble_june(settings: Settings, engine, **kw):  # type: ignore[no-untyped-def]
    with atomic(engine) as s:
        seeded = seed_june(s)
        return assemble_notice(settings, s, seeded.june, version=kw.pop("version", 1), issued_on=ISSUED, **kw)


def table_rows(doc) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[c.text for c in row.cells] for row in doc.tables[0].rows]


def style_el(doc, style_id: str):  # type: ignore[no-untyped-def]
    return doc.styles.element.find(f"{qn('w:style')}[@{qn('w:styleId')}='{style_id}']")


def east_asia(doc, style_id: str) -> str:  # type: ignore[no-untyped-def]
    return style_el(doc, style_id).find(f"{qn('w:rPr')}/{qn('w:rFonts')}").get(qn("w:eastAsia"))


def mm(length: int) -> float:
    return round(Length(length).mm, 1)


def approved_entry(s, task):  # type: ignore[no-untyped-def]
    return s.scalars(
        select(Entry).join(Submission).where(Entry.task_id == task.id, Submission.state == "approved")
    ).one()


# --- content ----------------------------------------------------------------------------------------------


def test_draft_is_written_under_outbox_drafts(no_soffice, engine):
    a = assemble_june(no_soffice, engine, version=2)
    assert a.docx == no_soffice.outbox / "drafts" / "2022-06" / f"{TITLE}（第2稿）.docx"
    assert a.docx.exists() and not list(a.docx.parent.glob("*.part"))
    assert len(a.sha256) == 64


def test_body_says_who_reported_and_what_is_due(no_soffice, engine):
    doc = Document(str(assemble_june(no_soffice, engine).docx))
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == TITLE.replace("2022年", "2022年\n", 1)  # broken for a trapezoid title
    assert texts[2] == "局机关各股室、各直属单位："
    assert (
        "截至6月20日，19项重点工作任务中，按时报送11项，逾期报送6项（督导室），未报送2项（招考股、卫健所）。"
        in texts
    )
    assert "（二）逾期报送。督导室于6月22日报送（第9—14项任务），逾期2天。" in texts
    assert any(
        t.startswith(
            "按照任务一览表确定的关键时间节点，6月到期节点11个，涉及11项任务；此前月份已到期节点20个"
        )
        for t in texts
    )
    assert "附件：台山市教育系统2022年重点工作任务进展情况汇总表（1—6月）" in texts
    assert texts.index("\t台山市教育局办公室") + 1 == texts.index("2022年6月24日")
    assert not [t for t in texts if "{{" in t or "{%" in t]


def test_annex_has_every_task_with_its_status(no_soffice, engine):
    a = assemble_june(no_soffice, engine)
    rows = table_rows(Document(str(a.docx)))
    assert rows[0] == HEADER
    assert len(rows) == 20
    expected = row_values(a.data)
    for got, want in zip(rows[1:], expected, strict=True):
        assert got == [
            want[f] for f in ("seq", "name", "leads", "progress", "problems", "status", "milestones")
        ]
    status = {int(r[0]): r[5].split("\n")[0] for r in rows[1:]}
    assert [s for s in status if status[s] == "逾期报送"] == [9, 10, 11, 12, 13, 14]
    assert [s for s in status if status[s] == "未报送"] == [15, 17]
    assert rows[1] == [
        "1",
        "培英职业技术学校新校区建设项目",
        "基财股",
        "已完成招标文件编制，6月15日发布施工招标公告，目前正在开展投标资格审查。",
        "项目用地内仍有部分青苗未完成补偿。下一步将协调镇政府加快补偿，确保10月底前开展基础工程建设。",
        "按时报送\n●黄",  # its light: June's milestone is due within 5 working days
        "本月到期：二是6月底前开展施工招标。\n已到期：一是3月底前完成招标文件编制。",
    ]
    assert rows[16][2] == "机关党委\n人事股"
    assert rows[16][3].startswith("机关党委：已完成全市中小学校党组织摸排。\n人事股：")
    assert rows[15][3:6] == ["", "", "未报送\n●红"]


def test_values_with_markup_characters_and_control_characters_survive(no_soffice, engine):
    """
    GIVEN progress text with <, &, a tag-like string, a bell, a form feed and a line break; an issuer with <>
    WHEN  the notice is assembled
    THEN  the text reads back exactly (control characters dropped), the XML is well-formed, nothing injected
    """
    with atomic(engine) as s:
        seeded = seed_june(s)
        entry = approved_entry(s, seeded.tasks[3])
        entry.progress = "拨付率<100% & 待财政局下达\x07资金\x0c；</w:t><w:r>x</w:r> {{ org_name }}\n第二行"
        s.flush()
        a = assemble_notice(no_soffice, s, seeded.june, version=1, issued_on=ISSUED, issuer="教育局<办公室>&")
    doc = Document(str(a.docx))
    assert (
        table_rows(doc)[3][3] == "拨付率<100% & 待财政局下达资金；</w:t><w:r>x</w:r> {{ org_name }}\n第二行"
    )
    assert "\t教育局<办公室>&" in [p.text for p in doc.paragraphs]
    with zipfile.ZipFile(a.docx) as z:
        etree.fromstring(z.read("word/document.xml"))  # well-formed, or this raises


# --- layout (GB/T 9704) -------------------------------------------------------------------------------------


def test_pages_margins_and_orientation(no_soffice, engine):
    doc = Document(str(assemble_june(no_soffice, engine).docx))
    body, annex, _record = doc.sections  # the 版记's section: tests/test_notice_record.py
    assert (mm(body.page_width), mm(body.page_height)) == (210.0, 297.0)
    assert body.orientation == 0  # portrait
    assert [mm(x) for x in (body.top_margin, body.bottom_margin, body.left_margin, body.right_margin)] == [
        37.0,
        35.0,
        28.0,
        26.0,
    ]
    assert (mm(annex.page_width), mm(annex.page_height)) == (297.0, 210.0)
    assert annex.orientation == 1  # landscape
    assert annex._sectPr.find(qn("w:pgSz")).get(qn("w:orient")) == "landscape"
    # The type area is the portrait one turned: 225 × 156 mm.
    assert mm(annex.page_width - annex.left_margin - annex.right_margin) == 225.0
    assert mm(annex.page_height - annex.top_margin - annex.bottom_margin) == 156.0
    assert annex.start_type == 2  # new page


def test_fonts_are_east_asian_fonts_in_the_styles(no_soffice, engine):
    doc = Document(str(assemble_june(no_soffice, engine).docx))
    defaults = doc.styles.element.find(f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}")
    fonts = defaults.find(qn("w:rFonts"))
    assert fonts.get(qn("w:eastAsia")) == "仿宋_GB2312" and fonts.get(qn("w:ascii")) == "Times New Roman"
    assert not [a for a in fonts.attrib if a.endswith("Theme")], "a theme font would win over the named one"
    assert defaults.find(qn("w:lang")).get(qn("w:eastAsia")) == "zh-CN"
    assert {
        sid: east_asia(doc, sid)
        for sid in (
            "Normal",
            "GWTitle",
            "GWHeading1",
            "GWHeading2",
            "GWHeading2Char",
            "GWTableText",
            "GWTableHead",
            "GWPageNumber",
        )
    } == {
        "Normal": "仿宋_GB2312",
        "GWTitle": "方正小标宋简体",
        "GWHeading1": "黑体",
        "GWHeading2": "楷体_GB2312",
        "GWHeading2Char": "楷体_GB2312",
        "GWTableText": "仿宋_GB2312",
        "GWTableHead": "黑体",
        "GWPageNumber": "宋体",
    }
    normal = style_el(doc, "Normal").find(qn("w:pPr"))
    assert normal.find(qn("w:spacing")).get(qn("w:lineRule")) == "exact"
    assert 560 <= int(normal.find(qn("w:spacing")).get(qn("w:line"))) <= 580  # 28–29 pt: 22 lines
    assert normal.find(qn("w:ind")).get(qn("w:firstLineChars")) == "200"
    assert style_el(doc, "Normal").find(f"{qn('w:rPr')}/{qn('w:sz')}").get(qn("w:val")) == "32"  # 3号


def test_title_is_2hao_xiaobiaosong_centred(no_soffice, engine):
    doc = Document(str(assemble_june(no_soffice, engine).docx))
    title = doc.paragraphs[0]
    assert title.style.style_id == "GWTitle"
    st = style_el(doc, "GWTitle")
    assert st.find(f"{qn('w:rPr')}/{qn('w:sz')}").get(qn("w:val")) == "44"  # 22 pt = 2号
    assert st.find(f"{qn('w:pPr')}/{qn('w:jc')}").get(qn("w:val")) == "center"
    assert title.style.font.size.pt == 22
    headings = [p for p in doc.paragraphs if p.style.style_id == "GWHeading1"]
    assert [p.text for p in headings] == [
        "一、总体情况",
        "二、报送情况",
        "三、时间节点情况",
        "四、下一步工作要求",
    ]
    kai = [
        r.text
        for p in doc.paragraphs
        for r in p.runs
        if r.style is not None and r.style.style_id == "GWHeading2Char"
    ]
    assert kai[:3] == ["（一）按时报送。", "（二）逾期报送。", "（三）未报送。"]


def test_footer_page_number_is_a_page_field_between_dashes(no_soffice, engine):
    doc = Document(str(assemble_june(no_soffice, engine).docx))
    section = doc.sections[0]
    assert doc.settings.odd_and_even_pages_header_footer
    for footer, side in ((section.footer, "right"), (section.even_page_footer, "left")):
        xml = footer._element
        instr = "".join(t.text for t in xml.iter(qn("w:instrText")))
        assert instr.strip() == "PAGE"
        assert [f.get(qn("w:fldCharType")) for f in xml.iter(qn("w:fldChar"))] == ["begin", "separate", "end"]
        text = "".join(t.text for t in xml.iter(qn("w:t")))
        assert text == "— 1 —"
        assert footer.paragraphs[0].alignment == (2 if side == "right" else 0)  # 单页码居右，双页码居左
    assert east_asia(doc, "GWPageNumber") == "宋体"
    assert style_el(doc, "GWPageNumber").find(f"{qn('w:rPr')}/{qn('w:sz')}").get(qn("w:val")) == "28"  # 4号
    assert doc.sections[1].footer.is_linked_to_previous


def test_annex_header_row_repeats_and_rows_keep_together(no_soffice, engine):
    doc = Document(str(assemble_june(no_soffice, engine).docx))
    tbl = doc.tables[0]._tbl
    trs = tbl.findall(qn("w:tr"))
    assert trs[0].find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None
    assert all(tr.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is None for tr in trs[1:])
    assert all(tr.find(f"{qn('w:trPr')}/{qn('w:cantSplit')}") is not None for tr in trs)
    assert tbl.find(f"{qn('w:tblPr')}/{qn('w:tblLayout')}").get(qn("w:type")) == "fixed"
    widths = [int(g.get(qn("w:w"))) for g in tbl.find(qn("w:tblGrid"))]
    assert abs(sum(widths) - 12756) < 10  # 225 mm
    sizes = {
        style_el(doc, s).find(f"{qn('w:rPr')}/{qn('w:sz')}").get(qn("w:val"))
        for s in ("GWTableText", "GWTableHead")
    }
    assert sizes == {"21"}  # 10.5 pt
    label = next(p for p in doc.paragraphs if p.text == "附件")  # the 版记 section follows the annex
    assert label.style.style_id == "GWAnnexLabel"


def test_a_very_long_report_may_split_across_pages(no_soffice, engine):
    with atomic(engine) as s:
        seeded = seed_june(s)
        entry = approved_entry(s, seeded.tasks[2])
        entry.progress = "推进情况详述。" * 300
        s.flush()
        a = assemble_notice(no_soffice, s, seeded.june, version=1, issued_on=ISSUED)
    trs = Document(str(a.docx)).tables[0]._tbl.findall(qn("w:tr"))
    cant = [tr.find(f"{qn('w:trPr')}/{qn('w:cantSplit')}") is not None for tr in trs]
    assert cant[2] is False and all(cant[:2]) and all(cant[3:])
    assert trs[2].find(qn("w:trPr")) is None, "no empty w:trPr left behind"


# --- the template ---------------------------------------------------------------------------------------------


def edited_template(settings: Settings, tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped template with one text replaced in word/document.xml."""
    src = template_path(settings.templates, TEMPLATE_NAME)
    dest = tmp_path / "edited.docx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "word/document.xml":
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode())
            zout.writestr(item, data)
    return dest


def test_fast_rows_match_jinja_rows(no_soffice, engine, tmp_path):
    """The lxml row cloning produces the rows docxtpl's own {%tr %} loop produces."""
    with atomic(engine) as s:
        data = notice_data(s, seed_june(s).june)
    template = template_path(no_soffice.templates, TEMPLATE_NAME)
    fast = render_notice(template, data, tmp_path / "fast.docx", issuer="局办公室", issued_on=ISSUED)
    slow = render_notice(
        template, data, tmp_path / "slow.docx", issuer="局办公室", issued_on=ISSUED, fast_rows=False
    )

    def shape(path: Path) -> list[list[tuple[str, bytes]]]:
        rows = []
        for tr in Document(str(path)).tables[0]._tbl.findall(qn("w:tr")):
            rows.append(
                [
                    (
                        "".join(tc.itertext()) + str(len(tc.findall(f".//{qn('w:br')}"))),
                        etree.tostring(tc.find(qn("w:tcPr")))
                        + etree.tostring(tc.find(f"{qn('w:p')}/{qn('w:pPr')}")),
                    )
                    for tc in tr.findall(qn("w:tc"))
                ]
            )
        return rows

    assert shape(fast) == shape(slow)
    assert [p.text for p in Document(str(fast)).paragraphs] == [
        p.text for p in Document(str(slow)).paragraphs
    ]


def test_a_template_whose_row_does_more_than_print_is_rendered_by_jinja(no_soffice, engine, tmp_path):
    template = edited_template(
        no_soffice,
        tmp_path,
        "{{ t.status }}",
        "{% if t.status == '未报送' %}【未报送】{% else %}{{ t.status }}{% endif %}",
    )
    with atomic(engine) as s:
        data = notice_data(s, seed_june(s).june)
    out = render_notice(template, data, tmp_path / "out.docx", issuer="局办公室", issued_on=ISSUED)
    rows = table_rows(Document(str(out)))
    assert rows[15][5] == "【未报送】" and rows[1][5] == "按时报送"


def test_a_template_needing_unknown_data_is_refused(no_soffice, engine, tmp_path):
    template = edited_template(no_soffice, tmp_path, "{{ annex_note }}", "{{ signer_phone }}")
    with atomic(engine) as s:
        data = notice_data(s, seed_june(s).june)
    with pytest.raises(TemplateError, match="signer_phone"):
        render_notice(template, data, tmp_path / "out.docx", issuer="局办公室", issued_on=ISSUED)
    assert not (tmp_path / "out.docx").exists()


def test_a_broken_template_is_a_template_error(no_soffice, engine, tmp_path):
    bad = tmp_path / "bad.docx"
    bad.write_text("not a docx", encoding="utf-8")
    with atomic(engine) as s:
        data = notice_data(s, seed_june(s).june)
    with pytest.raises(TemplateError, match=r"bad\.docx"):
        render_notice(bad, data, tmp_path / "out.docx", issuer="局办公室", issued_on=ISSUED)


def test_the_homes_own_template_wins(no_soffice, engine):
    """Design principle 7: the bureau replaces templates/consolidated_notice.docx without touching code."""
    own = no_soffice.templates / TEMPLATE_NAME
    shutil.copyfile(template_path(Path("/nonexistent"), TEMPLATE_NAME), own)
    doc = Document(str(own))
    doc.paragraphs[2].runs[0].text = "各股室、各中心：{{ addressee }}"
    doc.save(str(own))
    texts = [p.text for p in Document(str(assemble_june(no_soffice, engine).docx)).paragraphs]
    assert texts[2] == "各股室、各中心：局机关各股室、各直属单位"


# --- publishing ---------------------------------------------------------------------------------------------------


def test_publish_copies_under_the_final_name(no_soffice, engine):
    a = assemble_june(no_soffice, engine, version=3)
    pdf = a.docx.with_suffix(".pdf")
    pdf.write_bytes(b"%PDF-1.4 stand-in")
    dest = no_soffice.outbox / "published" / "2022-06"
    files = publish_notice(a.docx, pdf, dest)
    assert [f.name for f in files] == [f"{TITLE}.docx", f"{TITLE}.pdf"]
    assert files[0].read_bytes() == a.docx.read_bytes()
    assert publish_notice(a.docx, None, dest) == [dest / f"{TITLE}.docx"]  # again: harmless
    assert final_name(Path("关于x的通报（第12稿）.docx")) == "关于x的通报.docx"
    with pytest.raises(FileNotFoundError):
        publish_notice(a.docx.with_name("missing（第1稿）.docx"), None, dest)


def test_missing_libreoffice_gives_no_pdf_and_says_why(no_soffice, engine):
    a = assemble_june(no_soffice, engine)
    assert a.pdf is None
    assert a.pdf_error is not None and "LibreOffice" in a.pdf_error and "service.libreoffice" in a.pdf_error
    assert a.docx.exists()
    assert not list(a.docx.parent.glob("*.pdf"))


def test_no_empty_container_elements(no_soffice, engine):
    """Word's repair prompt follows e.g. an empty w:trPr or w:tblPr; none of the parts has one."""
    containers = {
        "pPr",
        "rPr",
        "trPr",
        "tcPr",
        "tblPr",
        "tblGrid",
        "sectPr",
        "rFonts",
        "tabs",
        "tblBorders",
        "ind",
        "spacing",
        "style",
        "font",
        "tbl",
        "tr",
        "tc",
        "ftr",
        "body",
    }
    docx = assemble_june(no_soffice, engine).docx
    with zipfile.ZipFile(docx) as z:
        for name in [n for n in z.namelist() if n.startswith("word/") and n.endswith(".xml")]:
            for el in etree.fromstring(z.read(name)).iter():
                if isinstance(el.tag, str) and etree.QName(el).localname in containers:
                    assert len(el) or el.attrib, f"empty <w:{etree.QName(el).localname}> in {name}"


def test_the_shipped_template_is_what_its_generator_builds(tmp_path):
    """templates/src/make_consolidated_notice.py stays the source of templates/consolidated_notice.docx."""
    import importlib.util

    src = Path(__file__).resolve().parent.parent / "templates" / "src" / "make_consolidated_notice.py"
    spec = importlib.util.spec_from_file_location("make_consolidated_notice", src)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build(tmp_path / "built.docx")
    shipped = src.parent.parent / TEMPLATE_NAME
    with zipfile.ZipFile(built) as a, zipfile.ZipFile(shipped) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        changed = [n for n in a.namelist() if a.read(n) != b.read(n)]
    assert changed == [], "run: .venv/bin/python templates/src/make_consolidated_notice.py"
