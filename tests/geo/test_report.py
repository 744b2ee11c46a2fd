"""Tests for app.geo.report: one language per PDF, the city and local date, the map's classes, repeating headers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from app.geo import _report_text, coverage, report
from app.geo._coverage_params import CoverageError
from app.geo._report_map import core_bounds, nice_length
from app.geo._report_pdf import table

MINI = Path(__file__).resolve().parent.parent / "data" / "mini"
WEB = Path(__file__).resolve().parents[2] / "app" / "web"
#: Where the coverage page's colour function may live (the template's inline script or its own file).
PAGE_SCRIPTS = (WEB / "templates" / "coverage.html", WEB / "static" / "gridmap" / "coverage.js")

pytestmark = pytest.mark.skipif(not any(Path(p).exists() for p in report.FONT_CANDIDATES)
                                and not shutil.which("fc-match"), reason="no CJK font installed")
needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) not installed")


def _text(pdf: Path | bytes, first: int | None = None, last: int | None = None) -> str:
    data = pdf if isinstance(pdf, bytes) else pdf.read_bytes()
    pages = [] if first is None else ["-f", str(first), "-l", str(last or first)]
    return subprocess.run(["pdftotext", *pages, "-", "-"], input=data, capture_output=True, check=True
                          ).stdout.decode("utf-8")


@pytest.fixture(scope="module")
def result():
    return coverage.analyse(MINI, ["bus_stop"], 500)


@pytest.fixture(scope="module")
def pdf(result, tmp_path_factory) -> Path:
    return report.write_pdf(result, tmp_path_factory.mktemp("pdf") / "r.pdf", tz="Asia/Shanghai")


@pytest.fixture(scope="module")
def pdf_en(result) -> bytes:
    return report.build_pdf(result, lang="en", tz="Asia/Shanghai")


def test_font_found():
    font = report.find_cjk_font()
    assert "CJK" in font.name


@needs_poppler
def test_pdf_text(pdf, result):
    assert pdf.read_bytes().startswith(b"%PDF")
    text = _text(pdf)
    for needle in ("嘉峪关覆盖分析报告", "公交站点覆盖", "数据版本", "按社区/村汇总", "未达标网格", "覆盖地图", "500 m",
                   "EPSG:4542", "报告日期", "依据标准", "GB 50220-95"):
        assert needle in text, needle
    assert result.data_version in text


@needs_poppler
def test_cover_has_city_and_local_date(result):
    cover = _text(report.build_pdf(result, tz="Pacific/Kiritimati"), 1)  # UTC+14: the local date is the next day
    assert "嘉峪关" in cover
    assert _report_text.local_date(result.computed_at, "Pacific/Kiritimati") in cover
    assert "UTC" not in cover


def test_local_date():
    assert _report_text.local_date("2026-12-01T18:30:00Z", "Asia/Shanghai") == "2026年12月2日"
    assert _report_text.local_date("2026-12-01T18:30:00Z", "Asia/Shanghai", "en", with_time=True) == \
        "2 December 2026 02:30"
    assert _report_text.local_date("2026-12-01T18:30:00Z", "Europe/Helsinki") == "2026年12月1日"


@needs_poppler
def test_one_language_per_report(pdf, pdf_en):
    zh, en = _text(pdf), _text(pdf_en)
    for key in ("report", "parameters", "map", "by_committee", "method", "legend_classes", "date"):
        zh_word, en_word = _report_text.TEXT[key]
        assert zh_word in zh and en_word not in zh, key
        assert en_word in en and zh_word not in en, key
    # the English report's only Chinese is the data's own names (committees, grids) and standard titles
    assert "Jiayuguan coverage report" in en and "Bus stop coverage" in en
    assert not re.search(r"[a-z]{4,} [\u4e00-\u9fff]|[\u4e00-\u9fff] [A-Za-z]{4,}", zh.replace("gridmap", ""))


def test_classes_match_the_coverage_page():
    script = "\n".join(p.read_text(encoding="utf-8") for p in PAGE_SCRIPTS if p.exists())
    body = re.search(r"function color\(p\) \{(.*?)\n\s*\}", script, re.S).group(1)
    steps = [(float(a), c) for a, c in re.findall(r'p >= (\d+) \? "(#[0-9a-f]{6})"', body)]
    last = re.findall(r'"(#[0-9a-f]{6})";', body)[-1]
    assert steps + [(0.0, last)] == list(_report_text.CLASSES)
    assert _report_text.class_colour(None) == re.search(r'return "(#[0-9a-f]{6})"', body).group(1)
    assert _report_text.class_colour(90) == "#1a9850" and _report_text.class_colour(19.9) == "#d73027"
    assert [label for label, _ in _report_text.class_labels()] == ["≥ 90%", "80–90%", "60–80%", "40–60%",
                                                                   "20–40%", "< 20%"]


def test_core_bounds_finds_the_dense_grids():
    small = [shapely.box(x, y, x + 100, y + 100) for x in range(0, 1000, 100) for y in range(0, 1000, 100)]
    big = [shapely.box(-20000, -20000, 0, 0), shapely.box(1000, 1000, 21000, 21000)]
    gdf = gpd.GeoDataFrame({"residents": [500] * len(small) + [50, 50]}, geometry=small + big, crs="EPSG:4542")
    x0, y0, x1, y1 = core_bounds(gdf)
    assert x0 > -100 and x1 < 1100 and y0 > -100 and y1 < 1100  # inside the dense block
    assert x1 - x0 > 500 and y1 - y0 > 500  # and most of it
    assert core_bounds(gdf.iloc[: len(small)]) is None  # the core is the whole map: no inset


def test_nice_length():
    assert nice_length(25_000) == 5000 and nice_length(3_000) == 500 and nice_length(800) == 100


@needs_poppler
def test_table_header_repeats_on_every_page():
    import pandas as pd

    pdf = report.ReportPdf("t", "zh")
    pdf.add_font("cjk", fname=str(report.find_cjk_font()), collection_font_number=2)
    pdf.add_page()
    df = pd.DataFrame({"code": [f"G{i:04d}" for i in range(150)], "residents": range(150)})
    table(pdf, df, [("code", "网格编码", 40, str), ("residents", "居民人数", 30, str)])
    data = bytes(pdf.output())
    pages = pdf.page_no()
    assert pages >= 3
    for page in range(1, pages + 1):
        assert "网格编码" in _text(data, page), page


@needs_poppler
def test_unit_reports(result):
    com = result.table("committee").iloc[0]
    text = _text(report.build_unit_pdf(result, "committee", com["code"], tz="UTC"))
    assert f"{com['name']}覆盖分析报告" in text and "按网格汇总" in text and "嘉峪关" in text
    div = result.table("division").iloc[0]
    text = _text(report.build_pdf(result, lang="en", unit=("division", div["code"]), tz="UTC"))
    assert f"Coverage report: {div['name']}" in text and "Summary by committee" in text
    with pytest.raises(CoverageError, match="no committee"):
        report.build_pdf(result, unit=("committee", "nope"))
    with pytest.raises(CoverageError):
        report.build_pdf(result, unit=("grid", "x"))


@needs_poppler
def test_living_circle_names_each_kind_and_its_standard():
    res = coverage.analyse(MINI, preset="circle_15min")
    text = _text(report.build_pdf(res, tz="UTC"))
    assert "15分钟生活圈" in text and "各类设施的距离要求" in text and "GB 50180-2018" in text
    for cat in ("图书馆", "老年大学", "中医馆"):
        assert cat in text
    if len(res.underserved()):
        assert "缺少的设施" in text


def test_font_is_embedded(pdf):
    if not shutil.which("pdffonts"):
        pytest.skip("pdffonts (poppler-utils) not installed")
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "NotoSansCJK" in fonts and " yes yes " in fonts


def test_missing_font_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(report, "FONT_CANDIDATES", ("/nonexistent.ttc",))
    monkeypatch.setattr(report.shutil, "which", lambda name: None)
    with pytest.raises(report.ReportError, match="fonts-noto-cjk"):
        report.find_cjk_font()
