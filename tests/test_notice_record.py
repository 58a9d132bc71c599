"""The published notice as a 公文 (issue 9.8): 版记 (抄送, 印发机关和印发日期) and 公开方式 from ``[notice]`` in
duban.toml, laid out per GB/T 9704-2012; the PDF shows 仿宋/小标宋, 黑体 and 楷体 in distinct faces; `duban
check` names the 公文 fonts that are missing and what stands in for them."""

from __future__ import annotations

import dataclasses
import re
import shutil

import pytest
from conftest import IN_CI, has_soffice
from docx import Document
from docx.enum.section import WD_SECTION
from docx.oxml.ns import qn
from notice_factory import seed_june
from test_notice import ISSUED, assemble_june, mm
from test_notice_pdf import pdf_fonts, pdf_text

from mailer.common.config import ConfigError, NoticeSettings, Settings, load_settings
from mailer.registry.store import atomic
from mailer.render.notice import assemble_notice
from mailer.service.checks import check_fonts
from mailer.word.fonts import fontconfig_xml, stand_in

CC = ("县委教育工委", "县政府督查室", "县人大教科文卫工委")


def _with_record(settings: Settings, **kw: object) -> Settings:
    return dataclasses.replace(settings, notice=NoticeSettings(**kw))  # type: ignore[arg-type]


@pytest.fixture
def quiet(home: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    """LibreOffice out of reach (fast): the .docx only."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return dataclasses.replace(home, service=dataclasses.replace(home.service, libreoffice="no-such-soffice"))


def _record_section(doc):  # type: ignore[no-untyped-def]
    return doc.sections[-1]


def _record_table(doc):  # type: ignore[no-untyped-def]
    return doc.tables[-1]


def test_the_record_names_cc_issuer_and_print_date_at_the_foot_of_an_even_page(quiet, engine):
    """
    GIVEN [notice] cc = three offices, issuer = 台山市教育局办公室
    WHEN  the notice is assembled (成文日期 2022-06-24)
    THEN  its last section starts on an even page, portrait, its text bottom-aligned, with no page number;
          the 版记 table is the type area's full width, first and last lines thick, the one between thin,
          no vertical lines; "抄送：A，B，C。" and "台山市教育局办公室 … 2022年6月24日印发", 4号仿宋
    """
    settings = _with_record(quiet, cc=CC, issuer="台山市教育局办公室")
    doc = Document(str(assemble_june(settings, engine).docx))
    sect = _record_section(doc)
    assert sect.start_type == WD_SECTION.EVEN_PAGE
    assert (mm(sect.page_width), mm(sect.page_height)) == (210.0, 297.0)
    assert sect._sectPr.find(qn("w:vAlign")).get(qn("w:val")) == "bottom"
    assert not sect.footer.is_linked_to_previous and not sect.even_page_footer.is_linked_to_previous
    assert "PAGE" not in sect.footer._element.xml and "PAGE" not in sect.even_page_footer._element.xml

    table = _record_table(doc)
    rows = [r.cells[0].text for r in table.rows]
    assert rows == ["抄送：县委教育工委，县政府督查室，县人大教科文卫工委。", "台山市教育局办公室\t2022年6月24日印发"]
    tbl_pr = table._tbl.tblPr
    assert tbl_pr.find(qn("w:tblW")).get(qn("w:w")) == str(int(156 / 25.4 * 1440))
    borders = {el.tag.split("}")[1]: (el.get(qn("w:val")), el.get(qn("w:sz"))) for el in tbl_pr.find(qn("w:tblBorders"))}
    assert borders["top"] == borders["bottom"] == ("single", "8")
    assert borders["insideH"] == ("single", "6")
    assert borders["left"][0] == borders["right"][0] == borders["insideV"][0] == "nil"
    style = doc.styles["版记"]
    assert style.font.size.pt == 14
    assert style.element.find(f"{qn('w:rPr')}/{qn('w:rFonts')}").get(qn("w:eastAsia")) == "仿宋_GB2312"
    for row in table.rows:
        assert row.cells[0].paragraphs[0].style.name == "版记"
    # The last thing in the body is the 版记 (and the 1 pt paragraph a body must end with).
    body = doc.element.body
    assert body[-3] is table._tbl and not "".join(body[-2].itertext())


def test_without_cc_the_record_has_only_the_issuer_line_defaulting_to_the_signature(quiet, engine):
    doc = Document(str(assemble_june(quiet, engine).docx))
    rows = [r.cells[0].text for r in _record_table(doc).rows]
    assert len(rows) == 1 and rows[0].endswith("\t2022年6月24日印发")
    issuer = rows[0].split("\t")[0]
    assert issuer and issuer in "\n".join(p.text for p in doc.paragraphs)  # the 发文机关署名
    assert "此件" not in "\n".join(p.text for p in doc.paragraphs)  # no 公开方式 unless configured


def test_disclosure_stands_under_the_date_in_brackets_two_characters_in(quiet, engine):
    doc = Document(str(assemble_june(_with_record(quiet, disclosure="此件主动公开"), engine).docx))
    texts = [p.text for p in doc.paragraphs]
    i = texts.index("（此件主动公开）")
    assert texts[i - 1] == "2022年6月24日"  # right under the 成文日期
    p = doc.paragraphs[i]
    assert p.style.name == "附注"
    ind = p.style.element.find(f"{qn('w:pPr')}/{qn('w:ind')}")
    assert ind.get(qn("w:firstLineChars")) == "200"
    # It closes the body's section: the annex still starts on a landscape page of its own.
    assert p._p.find(f"{qn('w:pPr')}/{qn('w:sectPr')}") is not None


def test_markup_in_the_settings_is_text(quiet, engine):
    doc = Document(str(assemble_june(_with_record(quiet, cc=("<b>县委</b>&办",), issuer="局办<公室>"), engine).docx))
    rows = [r.cells[0].text for r in _record_table(doc).rows]
    assert rows[0] == "抄送：<b>县委</b>&办。" and rows[1].startswith("局办<公室>\t")


# --- settings -------------------------------------------------------------------------------------------


def _toml(home: Settings, text: str) -> None:
    (home.home / "duban.toml").write_text(text, encoding="utf-8")


def test_notice_settings_are_read_from_duban_toml(home):
    _toml(home, '[notice]\ncc = ["县委教育工委", "县政府督查室"]\nissuer = "台山市教育局办公室"\ndisclosure = "此件依申请公开"\n')
    n = load_settings(home.home).notice
    assert n == NoticeSettings(cc=("县委教育工委", "县政府督查室"), issuer="台山市教育局办公室", disclosure="此件依申请公开")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[notice]\ndisclosure = "公开"\n', ('duban.toml 中 notice.disclosure = "公开" 不是公开方式的规范写法。'
         "请写为以下之一：“此件公开发布”、“此件主动公开”、“此件依申请公开”、“此件不予公开”，或删去此项（不标注）。")),
        ('[notice]\ncc = ["县委", " "]\n', 'duban.toml 中 notice.cc 的第2项为空。请删去空项，例如 cc = ["县委教育工委", "县政府督查室"]。'),
        ('[notice]\ncc = "县委"\n', 'duban.toml 中“notice.cc”的值 \'县委\' 类型不对，应写成列表，如 ["…", "…"]。'),
    ],
    ids=["disclosure", "blank-cc", "cc-not-a-list"],
)
def test_bad_notice_settings_name_the_key_and_the_fix(home, text, message):
    _toml(home, text)
    with pytest.raises(ConfigError) as e:
        load_settings(home.home)
    assert str(e.value) == message


def test_the_default_toml_documents_the_notice_section(tmp_path):
    from mailer.common.config import DEFAULT_TOML, init_home

    assert "[notice]" in DEFAULT_TOML and "disclosure" in DEFAULT_TOML
    assert load_settings(init_home(tmp_path / "h")).notice == NoticeSettings()


# --- fonts -------------------------------------------------------------------------------------------------


def test_each_missing_face_gets_a_stand_in_of_its_kind_and_installed_faces_are_left_alone():
    families = {"Noto Serif CJK SC", "Noto Sans CJK SC", "AR PL UKai CN", "仿宋_GB2312"}
    xml = fontconfig_xml(families)
    assert "<family>仿宋_GB2312</family><prefer>" not in xml  # the licensed font is installed: no alias
    assert "<family>方正小标宋简体</family><prefer><family>Noto Serif CJK SC</family>" in xml
    assert "<family>黑体</family><prefer><family>Noto Sans CJK SC</family>" in xml
    assert "<family>楷体_GB2312</family><prefer><family>AR PL UKai CN</family>" in xml
    assert stand_in("kai", {"Noto Serif CJK SC"}) == "Noto Serif CJK SC"  # no Kai face: serif


@pytest.mark.skipif(shutil.which("fc-match") is None and not IN_CI, reason="fontconfig is not installed")
def test_check_names_each_missing_official_font_and_its_stand_in():
    """On this machine (Noto CJK and AR PL UKai, none of the licensed faces) all four are reported."""
    messages = [p.message for p in check_fonts()]
    assert messages == [
        "公文字体“方正小标宋简体”未安装，PDF 中以“Noto Serif CJK SC”代替（宋体类（衬线））。如需与正式印发件一致，请在生成 PDF 的电脑上安装该字体。",
        "公文字体“仿宋_GB2312”未安装，PDF 中以“Noto Serif CJK SC”代替（宋体类（衬线））。如需与正式印发件一致，请在生成 PDF 的电脑上安装该字体。",
        "公文字体“黑体”未安装，PDF 中以“Noto Sans CJK SC”代替（黑体类（无衬线））。如需与正式印发件一致，请在生成 PDF 的电脑上安装该字体。",
        "公文字体“楷体_GB2312”未安装，PDF 中以“AR PL UKai CN”代替（楷体类）。如需与正式印发件一致，请在生成 PDF 的电脑上安装该字体。",
    ]


def test_duban_check_prints_the_font_warnings(home):
    from click.testing import CliRunner

    from mailer.cli import cli

    result = CliRunner().invoke(cli, ["--home", str(home.home), "check", "--no-mail"])
    assert "公文字体“黑体”未安装，PDF 中以“Noto Sans CJK SC”代替" in result.output


@pytest.mark.libreoffice
@pytest.mark.skipif(not has_soffice() and not IN_CI, reason="LibreOffice is not installed")
def test_the_pdf_shows_serif_sans_and_kai_faces_and_the_record(home, engine):
    """
    GIVEN the June notice with a 版记 and 公开方式
    WHEN  LibreOffice converts it
    THEN  the PDF embeds a serif CJK face (仿宋/小标宋), a sans one (黑体 headings) and the Kai face
          (楷体 run-in headings), and its text ends with the 版记
    """
    settings = _with_record(home, cc=CC, issuer="台山市教育局办公室", disclosure="此件主动公开")
    with atomic(engine) as s:
        a = assemble_notice(settings, s, seed_june(s).june, version=1, issued_on=ISSUED)
    assert a.pdf is not None, a.pdf_error
    base = {re.sub(r"^[A-Z]{6}\+", "", f["name"]) for f in pdf_fonts(a.pdf)}
    assert any("SerifCJK" in n for n in base), base
    assert any("SansCJK" in n for n in base), base
    assert any("UKai" in n for n in base), base
    text = pdf_text(a.pdf)
    assert "（此件主动公开）" in text
    assert text.endswith("抄送：县委教育工委，县政府督查室，县人大教科文卫工委。台山市教育局办公室2022年6月24日印发")
