"""`gridmap --lang zh …` prints validate's report, the commands' result lines and the settings in Chinese; English
stays as it was."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from app import messages_validate, settings
from app.cli import main
from app.geo import validate as validation
from app.geo._validate_text import hidden_problem
from tests.helpers import MINI, copy_mini, store_settings
from tests.test_cli_help_zh import english_sentences

pytestmark = pytest.mark.usefixtures("cheap_hashes")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _bad_city(folder: Path) -> Path:
    """The mini city with errors and warnings in several sections, and without its roads (a skipped section)."""
    copy_mini(folder)
    path = folder / "grids.geojson"
    grids = json.loads(path.read_text(encoding="utf-8"))
    grids["features"][0]["properties"]["code"] = "12"
    grids["features"][1]["properties"]["population"] = -5
    grids["features"][2]["properties"]["name"] = "第\u200b三网格"
    path.write_text(json.dumps(grids, ensure_ascii=False), encoding="utf-8")
    path = folder / "facilities.geojson"
    fac = json.loads(path.read_text(encoding="utf-8"))
    fac["features"][0]["properties"]["category"] = "spaceport"
    path.write_text(json.dumps(fac, ensure_ascii=False), encoding="utf-8")
    (folder / "roads.geojson").unlink()
    return folder


def _marks(text: str) -> list[str]:
    """Each line's leading symbol (✓ ⚠ ✗ – or the finding's ``[``), the shape both languages share."""
    return [line.strip()[:1] for line in text.splitlines()[1:-1]]


def test_validate_report_is_chinese_with_the_same_checks_marks_and_exit_codes(runner, tmp_path):
    for folder in (MINI, _bad_city(tmp_path / "bad")):
        en = runner.invoke(main, ["validate", str(folder)])
        zh = runner.invoke(main, ["--lang", "zh", "validate", str(folder)])
        assert zh.exit_code == en.exit_code == (0 if folder == MINI else 1), zh.output
        assert zh.output.startswith(f"检查 {folder}\n") and en.output.startswith(f"Validating {folder}\n")
        assert english_sentences(zh.output) == [], zh.output
        assert _marks(zh.output) == _marks(en.output) and len(zh.output.splitlines()) == len(en.output.splitlines())
    assert zh.output.splitlines()[-1] == "未通过：17 个错误，3 个警告"
    for line in ("– 道路，以及地址和设施距道路不超过 150 米：已跳过（缺少图层：道路）",
                 "    [错误] 网格 12：编码 '12' 不是 15 位",
                 "    [警告] 道路：缺少文件 roads.geojson（可选图层）",
                 "    [错误] 设施 F00001：category 'spaceport' 不是可选值之一：bus_stop、park、"):
        assert any(out.startswith(line) for out in zh.output.splitlines()), line
    assert "name '第\\u200b三网格' 的第 2 个字符是隐藏字符 U+200B" in zh.output
    assert en.output.splitlines()[-1] == "FAILED: 17 errors, 3 warnings"  # the English report as it was
    assert "    [error] grids 12: code '12' is not 15 digits\n" in en.output
    assert "– Roads, and points within 150 m of a road: skipped (needs roads)\n" in en.output


def _sample(node: ast.expr) -> str:
    """A message written in the code, with sample values for the parts it fills in (``2``, ``2 features``)."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(_sample(v) for v in node.values)
    if isinstance(node, ast.BinOp):  # "missing values were filled with defaults: " + ", ".join(...)
        return _sample(node.left) + _sample(node.right)
    if isinstance(node, ast.FormattedValue):
        inner = node.value
        if isinstance(inner, ast.IfExp):
            return _sample(inner.body)
        if isinstance(inner, ast.Call) and getattr(inner.func, "id", "") == "_plural":
            return f"2 {_sample(inner.args[1])}s"
        if isinstance(inner, ast.Call) and getattr(inner.func, "id", "") == "hidden_problem":
            return str(hidden_problem("name", "a\u200bb"))
    return "2"


def _messages(pattern: str, calls: dict[str, int]) -> list[str]:
    """The literal messages of the calls named in ``calls`` (name -> the message's argument) in app/geo/PATTERN."""
    found = []
    for path in sorted(Path(validation.__file__).parent.glob(pattern)):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            at = calls.get(name)
            if at is None or len(node.args) <= at or not isinstance(node.args[at], ast.Constant | ast.JoinedStr
                                                                         | ast.BinOp):
                continue
            worded = {n.id for n in ast.walk(node.args[at]) if isinstance(n, ast.Name)} & _WORDED
            if not worded:  # messages with text made elsewhere are among :data:`_MADE`
                found.append(_sample(node.args[at]))
    return found


#: Variables that hold text the messages are made of, and messages made with them, as the code writes them.
_WORDED = {"why", "what", "hint", "where"}
_MADE = [
    "refused: its name holds a NUL character", "refused: its path is absolute and would leave the archive",
    "refused: its path climbs out of the archive (..)", "refused: it is a symbolic link", "refused: it is encrypted",
    "overlaps #2 (G2) by 1.25 m² (measured in EPSG:4542)",
    "overlaps #2 (G2) by 1.25 m² (measured in EPSG:4542); a sliver: run with --repair to leave it to one of them",
    "overlaps #2 (G2) by 1.25 m² (measured in EPSG:4542); the repair would leave no valid area",
    "removed the 1.25 m² (measured in EPSG:4542) it overlapped #2 (G2) by; that part stays in #2 (G2)",
    "gap of 1.25 m² between grids (measured in EPSG:4542)",
    "gap of 1.25 m² between grids (measured in EPSG:4542); a sliver: run with --repair to give it to a neighbour",
    "gap of 1.25 m² between grids (measured in EPSG:4542); the repair would leave no valid area",
    "added the gap of 1.25 m² between grids (measured in EPSG:4542) to it, the area that borders the gap longest",
    "the grid names no committee", "the grid names no division",
    "the grid names committee '新城社区', which the committees layer holds more than once",
    "the grid names division '新城街道', which the divisions layer does not hold",
    "mapping file: code = '网格号' names no column of the file; its columns are 编号, 名称",
    "--field: code = '网格号' names no column of the file; its columns are 编号, 名称",
    "address 新华路1号 is also #3 (A1); units (单元) are not addresses of their own: give one row per building",
    "the columns 经度/纬度 say GCJ-02; using EPSG:4326 WGS 84 as given",
    "the file says EPSG:4326 WGS 84; using GCJ-02 as given",
    "probable lat/lon swap: the coordinates fall in the area of use of EPSG:4542 only with x and y exchanged",
]


def _samples() -> list[str]:
    """Every finding message the validator's, the importer's and init-city's modules write."""
    found = _messages("*validate*.py", {"_issue": 3})
    calls = {"error": 1, "warning": 1, "add": 2}
    imported = [m for pattern in ("importer.py", "_import_*.py", "initcity.py", "_initcity_*.py")
                for m in _messages(pattern, calls)]
    assert len(found) > 30 and len(imported) > 120
    return [*found, *imported, *_MADE, "has no grids", "gap of 2.00 m² not covered by any of its grids",
            hidden_problem("code", "62\u200b02\x00"), hidden_problem("name", "a\u202eb")]


@pytest.mark.parametrize("message", _samples())
def test_every_finding_message_of_the_checks_has_chinese(message):
    zh = messages_validate.text(message)
    assert _CJK.search(zh) and english_sentences(zh) == [], (message, zh)


def test_every_section_of_the_validator_has_chinese(tmp_path):
    """Titles, what each section checked and why it was skipped, under both code schemes."""
    free = copy_mini(tmp_path / "free")
    meta = json.loads((free / "metadata.json").read_text(encoding="utf-8"))
    meta["city"]["code_scheme"] = "free"
    (free / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    for folder in (MINI, free, _bad_city(tmp_path / "bad")):
        for section in validation.validate_folder(folder).sections:
            for text in (section.title, section.checked, section.skipped):
                assert not text or _CJK.search(messages_validate.text(text)), text


@pytest.fixture
def env(tmp_path, monkeypatch):
    """GRIDMAP_* variables for a versioned store of the mini city under tmp_path."""
    monkeypatch.delenv("GRIDMAP_STORE_DIR", raising=False)
    for name, value in store_settings(tmp_path, str(tmp_path / "store")).items():
        monkeypatch.setenv(f"GRIDMAP_{name}", value)
    return tmp_path


def _zh(runner, *args: str, code: int = 0) -> str:
    """The output of ``gridmap --lang zh ARGS``, which has no English sentence."""
    r = runner.invoke(main, ["--lang", "zh", *args])
    assert r.exit_code == code, r.output
    assert english_sentences(r.output) == [], r.output
    return r.output


def test_import_rollback_users_store_and_city_results_are_chinese(env, runner):
    grids = json.loads((MINI / "grids.geojson").read_text(encoding="utf-8"))
    grids["features"][0]["properties"]["name"] = "新城社区第1网格"
    path = env / "grids.geojson"
    path.write_text(json.dumps(grids, ensure_ascii=False), encoding="utf-8")
    out = _zh(runner, "import", "grids", str(path), "--dry-run")
    assert "grids.geojson：图层 网格，格式 geojson" in out and "试运行：文件通过检查，未保存任何内容" in out
    out = _zh(runner, "import", "grids", str(path))
    assert "检查通过：0 个错误，0 个警告\n已保存为版本 0002-" in out
    assert "没有变化：与当前版本（0002-" in _zh(runner, "import", "grids", str(path))
    assert "现在提供版本 0001-" in _zh(runner, "rollback", "1")
    bad = env / "bad.geojson"  # a point where grids are polygons, without committee, name or a 15-digit code
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "code": "1"}, "geometry": {"type": "Point", "coordinates": [98.28, 39.77]}}]}), encoding="utf-8")
    out = _zh(runner, "import", "grids", str(bad), code=1)
    assert "几何类型是 Point，但网格图层只能是 Polygon 或 MultiPolygon" in out and "该要素没有 name" in out
    assert "导入被拒绝：3 个错误，未保存任何内容。" in out and "ERROR" not in out
    password = ["--password", "Xq7#mplo-vv92k"]
    assert _zh(runner, "users", "add", "lin", "--role", "admin", *password) == "已添加账户 lin（角色 admin）\n"
    assert _zh(runner, "users", "add", "wu", *password) == "已添加账户 wu（角色 staff）\n"
    assert _zh(runner, "users", "role", "wu", "department") == "账户 wu 的角色现在是 department\n"
    assert _zh(runner, "users", "passwd", "wu", "--password", "Yt5#mplo-vv92k") == "已更改账户 wu 的密码\n"
    out = _zh(runner, "users", "list")
    assert "账户数据库：" in out and re.search(r"wu +department +创建于 \S+  更新于 \S+", out)
    assert _zh(runner, "users", "remove", "wu") == "已删除账户 wu\n"
    assert "错误：不能删除最后一个管理员账户。" in _zh(runner, "users", "remove", "lin", code=1)
    out = _zh(runner, "store", "migrate", str(env / "store"), str(env / "copy"), "--current-only")
    assert re.search(r"已迁移 1 个版本：\S+ → \S+；当前版本 0001-", out)
    out = _zh(runner, "init-city", str(MINI), "--store", str(env / "city"), "--dry-run")
    assert "检测到：\n  addresses.geojson → 地址（按名称，geojson，" in out
    assert out.endswith("检查通过：可以建立\n试运行：检查通过，未写入任何内容\n")
    twice = copy_mini(env / "twice")  # the first grid's code given to the second too
    grids = json.loads((twice / "grids.geojson").read_text(encoding="utf-8"))
    grids["features"][1]["properties"]["code"] = grids["features"][0]["properties"]["code"]
    (twice / "grids.geojson").write_text(json.dumps(grids, ensure_ascii=False), encoding="utf-8")
    out = _zh(runner, "init-city", str(twice), "--store", str(env / "city"), code=1)
    assert "问题：1 个错误，0 个警告\n  错误 重复编码 [grids.geojson #2" in out and "也被 #1 (" in out
    assert "已拒绝：1 个错误；未写入任何内容" in out and "init-city 已拒绝：未写入任何内容" in out
    out = _zh(runner, "init-city", str(MINI), "--store", str(env / "city"))
    assert "已建立数据存储" in out and "网格 10" in out and "下一步：GRIDMAP_STORE_URL=" in out


def test_import_result_lines_in_english_are_unchanged(env, runner):
    """The English result lines (tests/test_cli_data.py checks more of them) are the ones they were."""
    r = runner.invoke(main, ["import", "grids", str(MINI / "grids.geojson")])
    assert r.exit_code == 0 and re.search(r"\n检查通过：0 个错误，0 个警告 / OK: 0 errors, 0 warnings\n"
                                          r"no change: identical to the current version \(0001-\w+\); "
                                          r"nothing was stored\n$", r.output), r.output
    r = runner.invoke(main, ["users", "add", "lin", "--role", "admin", "--password", "Xq7#mplo-vv92k"])
    assert r.output == "added admin lin\n"


def test_settings_are_listed_in_chinese(runner):
    out = _zh(runner, "settings")
    for s in settings.SETTINGS:
        assert f"{s.env}=" in out and f"    {s.help_zh}\n" in out
    assert "GRIDMAP_SECRET_KEY=（未设置）" in out or "GRIDMAP_SECRET_KEY=（已设置）" in out
    en = runner.invoke(main, ["settings"]).output
    assert f"    {settings.SETTINGS_BY_NAME['PORT'].help}\n" in en and not _CJK.search(en.split("GRIDMAP_LANGUAGE")[0])


def test_every_setting_has_chinese_help_naming_what_the_english_names():
    names = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b|`[^`]+`|\b\d+\b")
    for s in settings.SETTINGS:
        assert _CJK.search(s.help_zh), s.name
        assert set(names.findall(s.help)) - {"HTTP", "CPU", "MiB", "IANA", "LAN"} <= set(names.findall(s.help_zh)), s.name


def test_a_commands_own_lang_zh_switches_its_help_and_refusals(runner, tmp_path):
    for cmd in ("coverage", "recommend", "rebalance"):
        out = runner.invoke(main, [cmd, "--lang", "zh", "--help"], prog_name="gridmap", terminal_width=80).output
        assert out.startswith(f"用法：gridmap {cmd} [选项]") and english_sentences(out) == [], cmd
        en = runner.invoke(main, [cmd, "--help"], prog_name="gridmap").output
        assert en.startswith(f"Usage: gridmap {cmd} [OPTIONS]")
    r = runner.invoke(main, ["coverage", "--lang=zh", "--out", str(tmp_path / "x.pdf")])
    assert r.exit_code == 1 and r.output == "错误：请给出 --category（一个或多个）、--require 或 --preset\n"
    r = runner.invoke(main, ["coverage", "--lang", "en", "--out", str(tmp_path / "x.pdf")])
    assert r.exit_code == 1 and "Error: give --category" in r.output


def test_serve_lines_are_worded_in_chinese():
    """`gridmap --lang zh serve` runs until stopped: its lines are checked through the catalog that words them."""
    from app.cli._base import text_zh

    lines = ["gridmap: 嘉峪关市 · instance/store (version 0001-81acf90): 2 divisions, 3 committees, 10 grids",
             "gridmap: serving on http://127.0.0.1:5000/ with 4 worker processes (granian)  (Ctrl+C to stop)",
             "gridmap: serving on http://127.0.0.1:5000/ with 1 process (waitress)  (Ctrl+C to stop)"]
    zh = [text_zh(line) for line in lines]
    assert zh[0] == "gridmap：嘉峪关市 · instance/store（版本 0001-81acf90）：2 街道(镇)，3 社区(村)，10 网格"
    assert all(_CJK.search(line) and english_sentences(line) == [] for line in zh), zh


def test_geos_reasons_and_lists_are_worded_in_chinese():
    assert messages_validate.text("invalid geometry: Self-intersection[98.27 39.78]") == "几何无效：自相交[98.27 39.78]"
    assert messages_validate.text("geometry is Point, expected Polygon or MultiPolygon") == \
        "几何类型是 Point，应为 Polygon 或 MultiPolygon"
    assert messages_validate.text("needs roads, addresses") == "缺少图层：道路、地址"
    assert messages_validate.text("something the catalog does not know") == "something the catalog does not know"


def test_assets_list_says_installed_or_missing_in_chinese(runner):
    out = _zh(runner, "assets", "list")
    assert "installed" not in out and "MISSING" not in out and ("已安装" in out or "缺失" in out)
    en = runner.invoke(main, ["assets", "list"]).output
    assert len(en.splitlines()) == len(out.splitlines()) and re.search(r" (installed|MISSING)\n", en)


def test_the_groups_lang_sets_a_reports_language_unless_the_command_names_its_own(runner, tmp_path, data_dir):
    """`gridmap --lang en coverage …` writes English; the command's own --lang wins; with neither it is Chinese."""
    args = ["coverage", "--category", "bus_stop", "--radius", "300", "--data-dir", str(data_dir)]
    r = runner.invoke(main, ["--lang", "en", *args, "--out", str(tmp_path / "a.csv")])
    assert r.exit_code == 0, r.output
    assert "residents" in r.output and "居民" not in r.output
    r = runner.invoke(main, ["--lang", "en", *args, "--lang", "zh", "--out", str(tmp_path / "b.csv")])
    assert r.exit_code == 0 and "居民覆盖率" in r.output
    r = runner.invoke(main, [*args, "--out", str(tmp_path / "c.csv")])
    assert r.exit_code == 0 and "居民覆盖率" in r.output
