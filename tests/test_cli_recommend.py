"""Tests for `gridmap recommend`: each output format, a preset, and refusals with exit 1."""

from __future__ import annotations

import json

import pytest
from openpyxl import load_workbook

from app.cli import main


@pytest.mark.parametrize("suffix", ["geojson", "xlsx", "pdf"])
def test_writes_each_format(runner, data_dir, tmp_path, suffix):
    out = tmp_path / f"bus.{suffix}"
    r = runner.invoke(main, ["recommend", "--category", "bus_stop", "--radius", "300", "--add", "2",
                             "--spacing", "50", "--out", str(out), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert "公交站 300 米" in r.output
    data = out.read_bytes()
    if suffix == "geojson":
        doc = json.loads(data)
        sites = [f for f in doc["features"] if f["properties"]["kind"] == "site"]
        assert 1 <= len(sites) <= 2
        assert all(f["geometry"]["type"] == "Point" and "residents_new" in f["properties"] for f in sites)
    elif suffix == "xlsx":
        wb = load_workbook(out)
        assert {"参数", "推荐站点", "按社区", "按网格"} <= set(wb.sheetnames)
    else:
        assert data.startswith(b"%PDF")


def test_preset_per_kind(runner, data_dir, tmp_path):
    out = tmp_path / "c15.xlsx"
    r = runner.invoke(main, ["recommend", "--preset", "circle_15min", "--add", "1", "--spacing", "80",
                             "--lang", "en", "--out", str(out), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert r.output.count(" new sites") == 3  # one line per required kind


@pytest.mark.parametrize("args, text", [
    (["--category", "nope", "--radius", "500"], "unknown category"),
    (["--category", "bus_stop", "--radius", "0"], "radius must be"),
    (["--category", "bus_stop", "--radius", "500", "--add", "0"], "add must be"),
    (["--category", "bus_stop", "--radius", "500", "--out-suffix"], None),
])
def test_refusals_exit_1(runner, data_dir, tmp_path, args, text):
    if text is None:  # a bad --out suffix
        args = ["--category", "bus_stop", "--radius", "500", "--out", str(tmp_path / "x.txt")]
        text = "unknown output format"
    else:
        args = [*args, "--out", str(tmp_path / "x.geojson")]
    r = runner.invoke(main, ["recommend", *args, "--data-dir", str(data_dir)])
    assert r.exit_code == 1, r.output
    assert text in r.output
    assert "Traceback" not in r.output


def test_empty_candidate_file(runner, data_dir, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("lon,lat\n", encoding="utf-8")
    r = runner.invoke(main, ["recommend", "--category", "park", "--radius", "500", "--candidates", str(f),
                             "--out", str(tmp_path / "x.geojson"), "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and "no points" in r.output
    assert not (tmp_path / "x.geojson").exists()
