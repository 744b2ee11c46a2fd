"""`gridmap rebalance`: the table, the files and their import steps, and refusals with exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd

from app.cli import main

BIG, SMALL = "620201001001", "620201102200"


def test_rebalance_writes_files_and_steps(runner, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.geojson"
    r = runner.invoke(main, ["rebalance", "--committee", BIG, "--households", "100-200", "--out", str(out),
                             "--lang", "en", "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert "Every new grid lies in the band." in r.output
    assert f"gridmap import grids {out}" in r.output
    assert f"gridmap import addresses {tmp_path / 'p.addresses.geojson'}" in r.output
    grids = json.loads(out.read_text(encoding="utf-8"))
    assert len(grids["features"]) >= 8
    addresses = gpd.read_file(tmp_path / "p.addresses.geojson")
    assert len(addresses) == len(gpd.read_file(data_dir / "addresses.geojson"))


def test_honest_miss(runner, data_dir: Path) -> None:
    r = runner.invoke(main, ["rebalance", "--committee", SMALL, "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert "未能全部达标" in r.output and "少于下限 300 户" in r.output


def test_refusals(runner, data_dir: Path, tmp_path: Path) -> None:
    for args in (["--committee", BIG, "--households", "500-300"], ["--committee", BIG, "--households", "abc"],
                 ["--committee", "999"], ["--committee", BIG, "--out", str(tmp_path / "p.docx")], []):
        r = runner.invoke(main, ["rebalance", *args, "--data-dir", str(data_dir)])
        assert r.exit_code in (1, 2), (args, r.output)
        assert "Traceback" not in r.output
    r = runner.invoke(main, ["--lang", "zh", "rebalance", "--committee", BIG, "--households", "500-300",
                             "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and "下限不能大于上限" in r.output
    addr = gpd.read_file(data_dir / "addresses.geojson")
    addr[~addr["grid_code"].str.startswith(SMALL)].to_file(data_dir / "addresses.geojson", driver="GeoJSON")
    r = runner.invoke(main, ["rebalance", "--committee", SMALL, "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and "no addresses" in r.output
