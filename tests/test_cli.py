"""The `gridmap` command line."""

from __future__ import annotations

import pytest

from app.cli import main
from tests.helpers import DEMO, MINI, inside_point


def test_demo_data_writes_layers(runner, tmp_path, monkeypatch):
    from app.geo import demo

    monkeypatch.setattr(demo, "generate", demo.generate_mini)  # same code path, tiny city
    out = tmp_path / "city"
    result = runner.invoke(main, ["demo-data", "--out", str(out), "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "10 grids" in result.output
    for name in ("divisions", "committees", "grids", "facilities", "addresses", "roads"):
        assert (out / f"{name}.geojson").read_bytes() == (MINI / f"{name}.geojson").read_bytes()


def test_demo_data_requires_out(runner):
    result = runner.invoke(main, ["demo-data"])
    assert result.exit_code != 0 and "--out" in result.output


@pytest.mark.skipif(not (DEMO / "grids.geojson").exists(), reason="demo data not generated")
def test_validate_demo_data_is_clean(runner):
    result = runner.invoke(main, ["validate", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("OK: 0 errors, 0 warnings")


def test_validate_fails_with_report(runner):
    result = runner.invoke(main, ["validate", str(MINI), "--expected-grids", "613"])  # the mini city has 10
    assert result.exit_code == 1
    assert "expected 613" in result.output and "FAILED" in result.output


def test_validate_missing_folder(runner, tmp_path):
    result = runner.invoke(main, ["validate", str(tmp_path / "nope")])
    assert result.exit_code != 0 and "is not a folder" in result.output


# --- locate and locate-batch -------------------------------------------------------------------------------

def _inside_point(data_dir):
    """(lon, lat, code) of a point inside the first grid."""
    import geopandas as gpd

    grids = gpd.read_file(data_dir / "grids.geojson")
    return (*inside_point(grids), grids["code"].iloc[0])


def test_locate_point_prints_json(runner, data_dir):
    import json

    lon, lat, code = _inside_point(data_dir)
    r = runner.invoke(main, ["locate", "--lon", str(lon), "--lat", str(lat), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["grid"]["code"] == code


def test_locate_outside_has_null_code(runner, data_dir):
    import json

    r = runner.invoke(main, ["locate", "--lon", "100.5", "--lat", "41", "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert body["grid"]["code"] is None and body["nearest"]["distance_m"] > 0


def test_locate_address(runner, data_dir):
    import json

    import geopandas as gpd

    addr = gpd.read_file(data_dir / "addresses.geojson").iloc[2]
    r = runner.invoke(main, ["locate", "--address", "嘉峪关市" + addr["address"], "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["grid"]["code"] == addr["grid_code"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--lon", "abc", "--lat", "39"], "must be a number"),
        (["--lon", "98", "--lat", "39", "--crs", "EPSG:123456789"], "123456789"),
        (["--address", "  "], "empty"),
        (["--lon", "98"], "give --lon and --lat"),
    ],
)
def test_locate_bad_input_exits_nonzero(runner, data_dir, args, needle):
    r = runner.invoke(main, ["locate", *args, "--data-dir", str(data_dir)])
    assert r.exit_code != 0
    assert needle in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".geojson"])
def test_locate_batch_encodings_and_formats(runner, data_dir, tmp_path, encoding, suffix):
    lon, lat, code = _inside_point(data_dir)
    src = tmp_path / "in.csv"
    src.write_bytes(f"名称,经度,纬度\n甲,{lon},{lat}\n乙,坏,39\n".encode(encoding))
    out = tmp_path / f"out{suffix}"
    r = runner.invoke(main, ["locate-batch", str(src), "--out", str(out), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert "ok 1" in r.output and "invalid 1" in r.output
    from app.geo.tabular import read_table

    if suffix == ".geojson":
        import json

        feats = json.loads(out.read_text(encoding="utf-8"))["features"]
        assert feats[0]["properties"]["grid_code"] == code and feats[1]["geometry"] is None
    else:
        df = read_table(out)
        assert list(df["名称"]) == ["甲", "乙"] and df["grid_code"].iloc[0] == code


def test_locate_batch_with_other_grids_file(runner, data_dir, tmp_path):
    import geopandas as gpd

    grids = gpd.read_file(data_dir / "grids.geojson")[["code", "name", "geometry"]].to_crs("EPSG:4542")
    gpkg = tmp_path / "grids.gpkg"
    grids.to_file(gpkg, driver="GPKG")
    lon, lat, code = _inside_point(data_dir)
    src = tmp_path / "in.csv"
    src.write_text(f"lon,lat\n{lon},{lat}\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    r = runner.invoke(main, ["locate-batch", str(src), "--out", str(out), "--grids", str(gpkg),
                             "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    from app.geo.tabular import read_table

    assert read_table(out)["grid_code"].iloc[0] == code


def test_locate_batch_bad_file(runner, data_dir, tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(b"")
    r = runner.invoke(main, ["locate-batch", str(src), "--out", str(tmp_path / "o.csv"), "--data-dir", str(data_dir)])
    assert r.exit_code != 0 and "empty" in r.output


def test_validate_mini_city_with_its_own_grid_count(runner):
    r = runner.invoke(main, ["validate", str(MINI), "--expected-grids", "0"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["validate", str(MINI)])  # the count its metadata.json records (10)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["validate", str(MINI), "--expected-grids", "11"])
    assert r.exit_code == 1 and "expected 11" in r.output


def test_serve_on_a_port_in_use_says_so(tmp_path):
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        exe = Path(sys.executable).with_name("gridmap")
        env = {"PATH": "/usr/bin:/bin", "GRIDMAP_INSTANCE_DIR": str(tmp_path / "inst")}
        r = subprocess.run([str(exe), "serve", "--port", str(port), "--data-dir", str(MINI)],
                           env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr


def test_lang_zh_prints_refusals_in_chinese(runner):
    en = runner.invoke(main, ["locate", "--lon", "abc", "--lat", "1", "--data-dir", str(MINI)])
    zh = runner.invoke(main, ["--lang", "zh", "locate", "--lon", "abc", "--lat", "1", "--data-dir", str(MINI)])
    assert en.exit_code == zh.exit_code == 1
    assert en.output != zh.output and any("\u4e00" <= ch <= "\u9fff" for ch in zh.output.split("Error:")[-1])


def test_locate_address_and_point_explain_the_answer(runner, data_dir):
    import json

    import geopandas as gpd

    addr = gpd.read_file(data_dir / "addresses.geojson").iloc[3]
    r = runner.invoke(main, ["locate", "--address", "嘉峪关市" + addr["address"], "--data-dir", str(data_dir)])
    body = json.loads(r.output)
    assert body["matched_address"] == addr["address"] and body["match_kind"] == "normalised" and body["score"] == 100
    p = addr.geometry
    r = runner.invoke(main, ["locate", "--lon", str(p.x), "--lat", str(p.y), "--data-dir", str(data_dir)])
    assert json.loads(r.output)["nearest_address"]["address"] == addr["address"]


def test_locate_batch_flags_swapped_rows_in_chinese(runner, data_dir, tmp_path):
    lon, lat, code = _inside_point(data_dir)
    src = tmp_path / "in.csv"
    src.write_text(f"名称,经度,纬度\n甲,{lat},{lon}\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    r = runner.invoke(main, ["--lang", "zh", "locate-batch", str(src), "--out", str(out), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert "第 2 行（已定位）：经纬度顺序颠倒，已按 纬度,经度 解读" in r.output and "已写入" in r.output and "已定位 1，" in r.output and "用时" in r.output
    from app.geo.tabular import read_table

    df = read_table(out)
    assert df["grid_code"].iloc[0] == code and df["nearest_address"].iloc[0]
    assert {"matched_address", "match_kind", "nearest_address_m"} <= set(df.columns)
