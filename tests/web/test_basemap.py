"""The local basemap file (BASEMAP=local, BASEMAP_FILE): tiles served with y flipped, 404s, start-up refusals, offline in Chromium."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from app import create_app, messages
from app.geo.mbtiles import BasemapFileError, open_tile_file
from tests import helpers


def _png(rgb: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), rgb).save(buf, format="PNG")
    return buf.getvalue()


def colour(z: int, x: int, y: int) -> tuple[int, int, int]:
    """The colour of XYZ tile z/x/y in the test file: each tile says where it is."""
    return (40 + 50 * z, 10 + 60 * x, 10 + 60 * y)


def make_mbtiles(path: Path, maxzoom: int = 2, fmt: str = "png") -> Path:
    """Write a tiny MBTiles of every tile of zooms 0..maxzoom, stored with TMS rows as the spec says."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [
        ("name", "测绘院底图"), ("format", fmt), ("minzoom", "0"), ("maxzoom", str(maxzoom)),
        ("bounds", "-180,-85,180,85"), ("attribution", "市测绘院 <b>2026</b>")])
    for z in range(maxzoom + 1):
        for x in range(2 ** z):
            for y in range(2 ** z):
                con.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, 2 ** z - 1 - y, _png(colour(z, x, y))))
    con.commit()
    con.close()
    return path


def make_pmtiles(path: Path, maxzoom: int = 2) -> Path:
    """Write the same tiles as :func:`make_mbtiles` into a PMTiles archive (XYZ numbering, no flip)."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    with path.open("wb") as fh:
        writer = Writer(fh)
        tiles = sorted((zxy_to_tileid(z, x, y), (z, x, y)) for z in range(maxzoom + 1)
                       for x in range(2 ** z) for y in range(2 ** z))
        for tid, zxy in tiles:
            writer.write_tile(tid, _png(colour(*zxy)))
        writer.finalize({"tile_type": TileType.PNG, "tile_compression": Compression.NONE, "min_zoom": 0,
                         "max_zoom": maxzoom, "min_lon_e7": -1800000000, "min_lat_e7": -850000000,
                         "max_lon_e7": 1800000000, "max_lat_e7": 850000000, "center_zoom": 0,
                         "center_lon_e7": 0, "center_lat_e7": 0},
                        {"name": "测绘院底图", "attribution": "市测绘院 <b>2026</b>"})
    return path


@pytest.fixture(params=["mbtiles", "pmtiles"])
def mbtiles(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The test basemap as an MBTiles file and as a PMTiles archive."""
    if request.param == "pmtiles":
        pytest.importorskip("pmtiles")
        return make_pmtiles(tmp_path / "base.pmtiles")
    return make_mbtiles(tmp_path / "base.mbtiles")


@pytest.fixture
def local_app(mbtiles: Path):
    return helpers.folder_app(helpers.MINI, BASEMAP="local", BASEMAP_FILE=str(mbtiles))


def test_tiles_served_with_rows_flipped(local_app) -> None:
    client = local_app.test_client()
    for z, x, y in ((0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 3), (2, 3, 0)):
        resp = client.get(f"/basemap/{z}/{x}/{y}.png")
        assert resp.status_code == 200 and resp.mimetype == "image/png"
        assert Image.open(io.BytesIO(resp.data)).convert("RGB").getpixel((5, 5)) == colour(z, x, y)
    resp = client.get("/basemap/2/1/3.png")
    assert resp.cache_control.public and resp.cache_control.max_age == 86400 and resp.headers["ETag"]
    assert client.get("/basemap/2/1/3.png", headers={"If-None-Match": resp.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("url", ["/basemap/3/0/0.png", "/basemap/1/2/0.png", "/basemap/1/0/5.png",
                                 "/basemap/1/0/0.jpg", "/basemap/30/0/0.png"])
def test_outside_is_a_json_404(local_app, url: str) -> None:
    resp = local_app.test_client().get(url, headers={"Accept": "image/avif,image/webp,image/*,*/*;q=0.8"})
    assert resp.status_code == 404 and resp.is_json
    assert resp.get_json()["code"] == "basemap.tile"


def test_no_local_basemap_is_a_404(app) -> None:
    resp = app.test_client().get("/basemap/0/0/0.png")
    assert resp.status_code == 404 and resp.get_json()["code"] == "basemap.tile"


def test_pages_draw_the_local_basemap(local_app) -> None:
    client = local_app.test_client()
    code = json.loads((helpers.MINI / "grids.geojson").read_text("utf-8"))["features"][0]["properties"]["code"]
    for path in ("/", f"/grids/{code}"):
        html = client.get(path).get_data(as_text=True)
        assert "/basemap/{z}/{x}/{y}.png" in html
        assert '"maxNativeZoom": 2' in html  # tiles past the file's deepest zoom are stretched, not asked for
        assert "<b>2026" not in html  # the file's attribution is text, not markup
    assert "本地底图" in client.get("/").get_data(as_text=True)
    assert "Local basemap" in client.get("/?lang=en").get_data(as_text=True)


def test_open_reads_metadata(mbtiles: Path) -> None:
    tf = open_tile_file(mbtiles)
    assert (tf.format, tf.minzoom, tf.maxzoom, tf.name) == ("png", 0, 2, "测绘院底图")
    assert tf.bounds == (-180.0, -85.0, 180.0, 85.0)


def _refusal(tmp_path: Path, file: str) -> BasemapFileError:
    with pytest.raises(BasemapFileError) as info:
        create_app({"TESTING": True, "DATA_DIR": str(helpers.MINI), "SECRET_KEY": "test", "BASEMAP": "local",
                    "BASEMAP_FILE": file})
    assert info.value.status == 503 and info.value.key == "basemap.file"
    zh = messages.translate(info.value.key, info.value.message, "zh")
    assert zh and any("\u4e00" <= ch <= "\u9fff" for ch in zh)
    return info.value


def test_bad_files_stop_the_start_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mbtiles"
    assert str(missing) in _refusal(tmp_path, str(missing)).message
    text = tmp_path / "notes.mbtiles"
    text.write_text("not a database")
    assert "neither an MBTiles" in _refusal(tmp_path, str(text)).message
    empty = tmp_path / "empty.mbtiles"
    sqlite3.connect(empty).execute("CREATE TABLE t (a)").connection.commit()
    assert "not a readable MBTiles" in _refusal(tmp_path, str(empty)).message
    vector = make_mbtiles(tmp_path / "vector.mbtiles", maxzoom=0, fmt="pbf")
    assert "vector tiles" in _refusal(tmp_path, str(vector)).message
    assert "BASEMAP_FILE" in _refusal(tmp_path, "").message


def test_serve_refuses_a_bad_file_with_its_name(runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import main

    missing = tmp_path / "survey.mbtiles"
    monkeypatch.setenv("GRIDMAP_BASEMAP", "local")
    monkeypatch.setenv("GRIDMAP_BASEMAP_FILE", str(missing))
    monkeypatch.setenv("GRIDMAP_INSTANCE_DIR", str(tmp_path / "inst"))
    result = runner.invoke(main, ["--lang", "zh", "serve", "--data-dir", str(helpers.MINI), "--port", "1"])
    assert result.exit_code == 1
    assert str(missing) in result.output and "底图文件不存在" in result.output
    assert "Traceback" not in result.output


@pytest.mark.browser
@pytest.mark.parametrize("tiled", [False, True], ids=["geojson", "vector-tiles"])
def test_offline_in_chromium(browser, tmp_path: Path, tiled: bool) -> None:
    """The home map draws the file's tiles from this server, and no request leaves the host.

    Run on both map paths: the one-payload GeoJSON map and the vector-tiled map (tiles from 1 grid up), whose
    grids, committees, divisions and the city's own roads come as vector tiles from this server.
    """
    from tests.web.browsing import CHROMIUM, Page

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    tiles = make_mbtiles(tmp_path / "survey.mbtiles", maxzoom=3)
    extra = {"VECTOR_TILES_MIN_GRIDS": "1"} if tiled else {}
    with helpers.Server(tmp_path / "inst", helpers.MINI, BASEMAP="local", BASEMAP_FILE=str(tiles), **extra) as srv:
        page = Page(browser, srv.base)
        try:
            page.open_map("/")
            page.until("document.querySelectorAll('img.leaflet-tile-loaded[src*=\"/basemap/3/\"]').length > 0")
            assert bool(page.page.evaluate("gridmap.data.tiled")) is tiled
            if tiled:  # the vector tiles of the first view arrived from this server and were drawn on canvas
                page.until("performance.getEntriesByType('resource').some(e => e.name.includes('/tiles/'))")
                page.until("document.querySelectorAll('.leaflet-pane canvas').length > 0")
                assert all(u.startswith(srv.base) for u in page.requests if "/tiles/" in u)
            assert page.off_host() == []
            assert any("/basemap/3/" in u for u in page.requests)
            assert [e for e in page.errors if "404" not in e] == []
            assert page.page.locator(".leaflet-control-attribution").inner_text().find("市测绘院") >= 0
            page.shot("basemap-local-tiled.png" if tiled else "basemap-local.png")
        finally:
            page.close()
