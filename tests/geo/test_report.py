"""Tests for app.geo.report: the PDF holds readable Chinese, the parameters and the tables."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app.geo import coverage, report

MINI = Path(__file__).resolve().parent.parent / "data" / "mini"

pytestmark = pytest.mark.skipif(not any(Path(p).exists() for p in report.FONT_CANDIDATES)
                                and not shutil.which("fc-match"), reason="no CJK font installed")


@pytest.fixture(scope="module")
def pdf(tmp_path_factory) -> Path:
    res = coverage.analyse(MINI, ["bus_stop"], 500)
    return report.write_pdf(res, tmp_path_factory.mktemp("pdf") / "r.pdf")


def test_font_found():
    font = report.find_cjk_font()
    assert "CJK" in font.name


def test_pdf_text(pdf):
    assert pdf.read_bytes().startswith(b"%PDF")
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) not installed")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for needle in ("公交站覆盖分析报告", "数据版本", "按社区/村汇总", "未达标网格", "覆盖地图", "500 m", "EPSG:4542"):
        assert needle in text
    assert coverage.analyse(MINI, ["bus_stop"], 500).data_version in text


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

