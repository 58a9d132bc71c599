"""A directory workbook whose formulas were never calculated (written by a program): refused, the cells
named, nothing changed; the same workbook once calculated is imported."""

from __future__ import annotations

import zipfile

from make_notice import build_directory
from openpyxl import load_workbook
from test_import_bad import loaded, refused, registry_rows  # noqa: F401

from mailer.plan.importer import import_file


def with_formula(tmp_path, name: str = "名录.xlsx"):
    path = build_directory(tmp_path / name)
    wb = load_workbook(path)
    ws = wb["股室"]
    ws["H1"] = "前缀"
    ws["H3"] = ws["C3"].value.split("@")[0]
    ws["C3"] = '=H3&"@jyj.example.gov.cn"'  # openpyxl writes the formula and no cached value
    wb.save(path)
    return path


def test_a_formula_without_a_value_is_refused_with_the_cell_named(home, engine, tmp_path, loaded):  # noqa: F811
    """GIVEN the directory with one office's address as a formula never calculated
    WHEN  it is imported
    THEN  the import is refused naming 股室!C3 and the fix, and the registry is unchanged"""
    message = refused(home, engine, with_formula(tmp_path), loaded)
    assert "1 cell(s) hold a formula that was never calculated" in message
    assert "股室!C3" in message and "请用 Excel 或 WPS 打开该文件并保存" in message


def saved_by_excel(path, cell: str, value: str):
    """What Excel or WPS writes on saving: the formula's computed text kept beside it (``t="str"``)."""
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    name = next(n for n in parts if n.startswith("xl/worksheets/") and f'r="{cell}"'.encode() in parts[n])
    xml = parts[name].decode()
    start = xml.index(f'<c r="{cell}"')
    end = xml.index("</c>", start)
    formula = xml[xml.index("<f>", start) : xml.index("</f>", start) + 4]
    parts[name] = (xml[:start] + f'<c r="{cell}" t="str">{formula}<v>{value}</v>' + xml[end:]).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)
    return path


def test_a_calculated_formula_is_read_as_its_value(home, engine, tmp_path, loaded):  # noqa: F811
    """GIVEN the same workbook once saved by a spreadsheet program (the formula's value cached beside it)
    WHEN  it is imported
    THEN  the formula's value is read, and nothing is refused"""
    path = with_formula(tmp_path)
    first = load_workbook(path)["股室"]["H3"].value
    saved_by_excel(path, "C3", f"{first}@jyj.example.gov.cn")
    assert load_workbook(path, data_only=True)["股室"]["C3"].value == f"{first}@jyj.example.gov.cn"
    report = import_file(home, engine, path)
    assert report.kind == "directory"
    assert f"{first}@jyj.example.gov.cn" in {r[2] for r in registry_rows(engine)["office_addresses"]}
