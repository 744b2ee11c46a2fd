"""Findings and change summaries in Chinese and English: titles for every problem key, the text of a report, audit words."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.geo import audit
from app.geo.changes import format_summary
from app.geo.findings import LAYER_TITLES, PROBLEMS, SEVERITIES, Finding, Report, layer_title, problem_title
from app.geo.schema import LAYERS

GEO = Path(__file__).resolve().parents[2] / "app" / "geo"


def _is_report(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "report") or (
        isinstance(node, ast.Attribute) and node.attr == "report")


def _strings(node: ast.expr) -> list[str]:
    """The string constants an argument can be: a literal, or either branch of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def used_problem_keys() -> dict[str, str]:
    """Every problem key app/geo reports, found in its source: key -> the file that uses it."""
    keys: dict[str, str] = {}
    for path in sorted(GEO.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            found: list[str] = []
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_report(node.func.value):
                if node.func.attr in ("error", "warning") and node.args:
                    found = _strings(node.args[0])
                elif node.func.attr == "add" and len(node.args) > 1:
                    found = _strings(node.args[1])
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_copy_findings":
                found = _strings(node.args[1]) if len(node.args) > 1 else []
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "problem"
                                                      for t in node.targets):
                found = _strings(node.value)
            for key in found:
                if key.isidentifier() and key.islower():
                    keys.setdefault(key, path.name)
    return keys


def test_every_problem_key_has_a_chinese_and_an_english_title():
    used = used_problem_keys()
    assert {"duplicate_code", "overlap", "gap", "unreadable", "invalid_geometry"} <= set(used)
    missing = {k: f for k, f in used.items() if k not in PROBLEMS}
    assert not missing, f"add these to app.geo.findings.PROBLEMS: {missing}"
    for key, (zh, en) in PROBLEMS.items():
        assert zh and en and zh != key and any("\u4e00" <= ch <= "\u9fff" for ch in zh), key
    for key in ("unknown_layer_file", "ambiguous_encoding", "no_coordinates", "missing_code", "missing_field",
                "ambiguous_layer", "unknown_category"):
        assert key in PROBLEMS


def test_problem_title_falls_back_to_the_key():
    assert problem_title("duplicate_code") == "重复编码" and problem_title("duplicate_code", "en") == "duplicate code"
    assert problem_title("no_coordinates") == "表格无坐标或地址"
    assert problem_title("something_new") == "something_new" == problem_title("something_new", "en")
    assert layer_title("facilities") == "设施" and layer_title("committees") == "社区(村)"
    assert layer_title("roads", "en") == "roads" and layer_title("x") == "x"
    assert set(LAYER_TITLES) == set(LAYERS)


def test_a_finding_names_severity_title_key_file_feature_field_and_place():
    f = Finding("error", "duplicate_code", "code G-07 is also used by #2", "#4", "98.1, 39.7", field="code")
    assert f.format("grids.zip") == ("错误 ERROR 重复编码 duplicate_code [grids.zip #4] 字段 field code: "
                                     "code G-07 is also used by #2 @ 98.1, 39.7")
    assert f.format("/data/office/grids.zip").startswith("错误 ERROR 重复编码 duplicate_code [grids.zip #4]")
    assert Finding("warning", "mystery", "m").format() == "警告 WARNING mystery: m"
    assert Finding("repaired", "invalid_geometry", "m", "#1").format().startswith("已修复 REPAIRED 几何无效")
    d = f.to_dict()
    assert d == {"severity": "error", "problem": "duplicate_code", "title_zh": "重复编码",
                 "title_en": "duplicate code", "message": "code G-07 is also used by #2", "feature": "#4",
                 "field": "code", "place": "98.1, 39.7"}
    assert f.section_dict()["field"] == "code"
    assert set(SEVERITIES) == {"error", "warning", "repaired"}


def test_report_add_error_warning_take_the_field():
    r = Report("grids.zip", layer="grids", format="shapefile", crs="EPSG:4542", features=12)
    r.error("missing_code", "no code", "#3", field="code")
    r.warning("encoding", "read as GB18030")
    r.add("repaired", "invalid_geometry", "fixed", "#5", "98.1, 39.7", "geometry")
    assert [f.field for f in r.findings] == ["code", None, "geometry"]
    text = r.format_text()
    lines = text.splitlines()
    assert lines[0].startswith("grids.zip: 图层 layer 网格 grids, 格式 format shapefile, 坐标系 CRS EPSG:4542")
    assert "1 个错误 errors, 2 个警告 warnings" in lines[0]
    assert "  错误 ERROR 缺少编码 missing_code [grids.zip #3] 字段 field code: no code" in lines
    assert "  警告 WARNING 文字编码 encoding [grids.zip]: read as GB18030" in lines
    assert lines[-1] == "导入被拒绝：1 个错误，未保存任何内容 / REFUSED: import refused, 1 error; nothing was stored."


def test_report_text_summarises_many_findings_of_one_kind_and_says_ok():
    r = Report("g.geojson", layer="grids")
    for i in range(5):
        r.error("overlap", f"overlaps #{i + 1} by 3.00 m²", f"#{i}")
    text = r.format_text(limit=2)
    assert text.count("错误 ERROR 网格重叠 overlap [g.geojson #") == 2
    assert "  错误 ERROR 网格重叠 overlap: 另有 3 条 … and 3 more" in text
    ok = Report("f.csv", layer="facilities")
    ok.warning("assumed_crs", "assumed WGS84")
    assert ok.format_text().splitlines()[-1] == "检查通过：0 个错误，1 个警告 / OK: 0 errors, 1 warning"


SUMMARY = {"layers": {"grids": {"before": 10, "after": 11}, "facilities": {"before": None, "after": 5},
                      "committees": {"before": 3, "after": 3}},
           "grids": {"added": ["G-11", "G-12"], "removed": [], "reshaped": ["G-01"]}}


def test_change_summaries_name_layers_in_words_in_both_languages():
    zh = format_summary(SUMMARY)
    assert zh == "网格：新增 2 个（G-11、G-12），删除 0 个，形状改变 1 个（G-01） | 设施：无 → 5 | 社区(村)：3 → 3"
    en = format_summary(SUMMARY, lang="en")
    assert en == "grids: 2 added (G-11, G-12); 0 removed; 1 reshaped (G-01) | facilities: none → 5 | " \
                 "communities and villages: 3 → 3"
    assert format_summary(SUMMARY, lang="both") == f"{zh} / {en}"
    assert format_summary({}) == "无变化" and format_summary({}, lang="en") == "no change"
    many = {"grids": {"added": [f"G{i}" for i in range(12)], "removed": [], "reshaped": []}}
    assert format_summary(many, limit=3).startswith("网格：新增 12 个（G0、G1、G2、…）")
    for text in (zh, en):
        assert "layer." not in text


def test_audit_words_and_local_time():
    assert set(audit.ACTIONS) <= set(audit.ACTION_TITLES)
    assert audit.action_title("import") == "导入" and audit.action_title("rollback") == "回滚"
    assert audit.action_title("user_add") == "添加用户" and audit.action_title("user_add", "en") == "user added"
    assert audit.action_title("new_thing") == "new_thing"
    entry = audit.Entry(1, "2026-12-01T10:30:05.123Z", "li", "import", "grids,facilities",
                        {"change": "0002-x", "file": "g.zip", "version": "0002-x", "summary": SUMMARY,
                         "warnings": 0}, "")
    assert audit.target_text(entry) == "网格 (grids), 设施 (facilities)"
    text = audit.describe(entry)
    assert text.startswith("文件：g.zip；版本：0002-x；变更：网格：新增 2 个") and "0002-x" in text
    assert "change" not in text and "layer." not in text
    assert audit.describe(entry, "en").startswith("file: g.zip; version: 0002-x; changes: grids: 2 added")
    refused = audit.Entry(2, "t", "li", "import_refused", "grids", {"problems": ["overlap", "gap"]}, "")
    assert audit.describe(refused) == "问题：网格重叠 (overlap)、网格间隙 (gap)"
    assert audit.describe(audit.Entry(3, "t", "a", "user_add", "li", {"role": "staff"}, "")) == "角色：工作人员"
    assert audit.format_time("2026-12-01T10:30:05.123Z") == "2026-12-01 18:30"
    assert audit.format_time("2026-12-01T22:30:00Z", "Asia/Shanghai") == "2026-12-02 06:30"
    assert audit.format_time("2026-07-01T10:30:00Z", "Europe/Helsinki") == "2026-07-01 13:30"
    assert audit.format_time("2026-12-01T10:30:00Z", "No/Such_Zone") == "2026-12-01 10:30 UTC"
    assert audit.format_time("not a time") == "not a time"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_summary_of_a_first_version(lang):
    first = {"layers": {name: {"before": None, "after": 1} for name in LAYERS}}
    text = format_summary(first, lang=lang)
    assert all(layer_title(name, lang) in text for name in LAYERS)
