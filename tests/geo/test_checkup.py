"""Start-up checks (app.geo.checkup): missing layers and fields, repeated codes and broken references, by layer and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, box

from app.geo.checkup import DataCheckError, check_data, check_dataset, require_servable
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from app.geo.schema import FIELDS
from tests import helpers

#: Columns of a grid every test city has, except area_m2 (computed by the service).
GRID_FIELDS = [f.name for f in FIELDS["grids"] if f.name != "area_m2"]


def write_city(folder: Path, *, lon: float = 24.93, lat: float = 60.17, n: int = 4, drop: tuple[str, ...] = (),
               city: dict[str, Any] | None = None, layers: tuple[str, ...] = ("divisions", "committees", "facilities",
                                                                                 "addresses", "roads"),
               **grid_values: list[Any]) -> Path:
    """Write a small plain folder of another city: ``n`` grids in a row (about 500 m each) in one committee.

    Parameters
    ----------
    folder : Path
        Where to write ``<layer>.geojson`` and ``metadata.json``.
    lon, lat : float
        South-west corner of the first grid.
    n : int
        Number of grids.
    drop : tuple of str
        Grid fields to leave out (``area_m2`` is never written: the service computes it).
    city : dict, optional
        ``metadata.json``'s ``"city"``; Riverton (English names only, free codes) by default.
    layers : tuple of str
        The layers besides the grids to write: one division D1 and one committee C1 covering the
        grids, a bus stop and an address per grid, one road along them.
    **grid_values
        Column values to use instead of the defaults (one per grid).
    """
    folder.mkdir(parents=True, exist_ok=True)
    step = 0.009

    def write(name: str, rows: list[dict[str, Any]]) -> None:
        gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").to_file(
            folder / f"{name}.geojson", driver="GeoJSON", engine="pyogrio")

    rows = []
    for i in range(n):
        row: dict[str, Any] = {"code": f"G-{i + 1:02d}", "name": f"Grid {i + 1}", "committee_code": "C1",
                               "division_code": "D1", "households": 100 + i, "population": 250 + i,
                               "parttime_count": 2}
        row.update({f: "" for f in GRID_FIELDS if f not in row})
        row = {k: v for k, v in row.items() if k not in drop}
        for key, values in grid_values.items():
            row[key] = values[i]
        row["geometry"] = box(lon + i * step, lat, lon + (i + 1) * step, lat + step / 2)
        rows.append(row)
    write("grids", rows)
    outline = box(lon, lat, lon + n * step, lat + step / 2)
    middle = [(lon + (i + 0.5) * step, lat + step / 4) for i in range(n)]
    if "divisions" in layers:
        write("divisions", [{"code": "D1", "name": "Old Town", "kind": "subdistrict", "geometry": outline}])
    if "committees" in layers:
        write("committees", [{"code": "C1", "name": "Harbour", "kind": "community", "division_code": "D1",
                              "geometry": outline}])
    if "facilities" in layers:
        write("facilities", [{"id": f"F{i}", "name": f"Stop {i}", "category": "bus_stop", "grid_code": f"G-{i + 1:02d}",
                              "geometry": Point(x, y - step / 8)} for i, (x, y) in enumerate(middle)])
    if "addresses" in layers:
        write("addresses", [{"id": f"A{i}", "address": f"Main Street {i + 1}", "kind": "road", "street": "Main Street",
                             "number": i + 1, "residents": 250 + i, "households": 100 + i,
                             "grid_code": f"G-{i + 1:02d}", "geometry": Point(x, y)} for i, (x, y) in enumerate(middle)])
    if "roads" in layers:
        write("roads", [{"id": "R1", "name": "Main Street", "kind": "local",
                         "geometry": LineString([middle[0], middle[-1]] if n > 1 else [(lon, lat), middle[0]])}])
    meta = {"name": "Riverton (test)", "city": city if city is not None else
            {"name": "", "name_en": "Riverton", "code_scheme": "free"}}
    (folder / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return folder


def _by(findings, problem: str):
    return [f for f in findings if f.problem == problem]


def test_the_mini_and_demo_cities_pass():
    assert check_data(FolderStore(helpers.MINI)) == []
    if (helpers.DEMO / "grids.geojson").exists():
        assert [f for f in check_data(FolderStore(helpers.DEMO)) if f.is_error] == []


def test_a_city_without_area_passes_and_gets_its_area(tmp_path):
    folder = write_city(tmp_path / "riverton")
    store = FolderStore(folder)
    assert check_data(store) == []
    grids = Dataset(store).grids
    assert grids["area_m2"].between(2.2e5, 2.6e5).all()  # 0.009° x 0.0045° at 60°N: about 500 m x 500 m
    assert Dataset(store).metric_crs == "EPSG:32635"
    # a column with gaps keeps its values and gets the missing ones
    partly = write_city(tmp_path / "partly", area_m2=[1000.0, None, None, 4000.0])
    area = Dataset(FolderStore(partly)).layer("grids")["area_m2"].tolist()
    assert area[0] == 1000.0 and area[3] == 4000.0 and area[1] == pytest.approx(grids["area_m2"].iloc[1], abs=0.1)


def test_missing_grids_layer_or_grids(tmp_path):
    folder = write_city(tmp_path / "c")
    (folder / "grids.geojson").unlink()
    findings = check_data(FolderStore(folder))
    assert [(f.problem, f.layer) for f in findings if f.is_error] == [("missing_layer", "grids")]
    write_city(tmp_path / "e", layers=())
    (tmp_path / "e" / "grids.geojson").write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    findings = check_data(FolderStore(tmp_path / "e"))
    assert ("no_features", "grids") in [(f.problem, f.layer) for f in findings if f.is_error]


def test_missing_field_names_layer_and_field(tmp_path):
    folder = write_city(tmp_path / "c", drop=("name", "population"))
    errors = [f for f in check_data(FolderStore(folder)) if f.is_error]
    assert {(f.problem, f.layer, f.field) for f in errors} == {("missing_field", "grids", "name"),
                                                             ("missing_field", "grids", "population")}
    with pytest.raises(DataCheckError) as info:
        require_servable(errors, "somewhere")
    message = info.value.message
    assert "somewhere" in message and "grids" in message and "字段 field name" in message
    assert "缺少字段 missing_field" in message and info.value.status == 503


def test_duplicate_and_missing_codes(tmp_path):
    folder = write_city(tmp_path / "c", code=["G-01", "G-02", "G-01", ""])
    errors = [f for f in check_data(FolderStore(folder)) if f.is_error]
    dup = _by(errors, "duplicate_code")
    assert len(dup) == 1 and dup[0].layer == "grids" and dup[0].field == "code" and "G-01" in dup[0].message
    assert dup[0].feature == "#1 (G-01)"
    missing = _by(errors, "missing_code")
    assert len(missing) == 1 and missing[0].feature == "#4"


def test_references_to_committees_and_divisions(tmp_path):
    folder = helpers.copy_mini(tmp_path / "mini")
    grids = gpd.read_file(folder / "grids.geojson")
    grids.loc[0, "committee_code"] = "999999999999"
    grids.loc[1, "division_code"] = "888888888"
    grids.to_file(folder / "grids.geojson", driver="GeoJSON", engine="pyogrio")
    facilities = gpd.read_file(folder / "facilities.geojson")
    facilities.loc[0, "grid_code"] = "no-such-grid"
    facilities.to_file(folder / "facilities.geojson", driver="GeoJSON", engine="pyogrio")
    findings = check_data(FolderStore(folder))
    refs = {(f.severity, f.layer, f.field) for f in _by(findings, "unknown_parent")}
    assert refs == {("error", "grids", "committee_code"), ("error", "grids", "division_code"),
                    ("warning", "facilities", "grid_code")}
    assert any("999999999999" in f.message for f in findings)
    assert findings[0].is_error and not findings[-1].is_error  # errors first


def test_missing_layers_name_themselves(tmp_path):
    folder = write_city(tmp_path / "c", layers=("facilities",))
    findings = check_data(FolderStore(folder))
    assert {(f.severity, f.layer) for f in findings if f.problem == "missing_layer"} == {
        ("error", "committees"), ("error", "divisions"), ("warning", "addresses"), ("warning", "roads")}
    assert not _by(findings, "unknown_parent")  # references to a missing layer are not checked


def test_optional_layers_read_as_empty(tmp_path):
    ds = Dataset(FolderStore(write_city(tmp_path / "c", layers=("divisions", "committees"))))
    for layer in ("facilities", "addresses", "roads"):
        gdf = ds.layer(layer)
        assert len(gdf) == 0 and {f.name for f in FIELDS[layer]} <= set(gdf.columns)
    assert ds.address_matcher.match("Main Street 1").status == "not_found"
    assert [f.severity for f in check_dataset(ds)] == ["warning"] * 3


def test_wrong_geometry_and_unreadable_layer(tmp_path):
    folder = write_city(tmp_path / "c")
    points = gpd.read_file(folder / "facilities.geojson")
    points[["geometry"]].to_file(folder / "roads.geojson", driver="GeoJSON", engine="pyogrio")  # points, no fields
    (folder / "addresses.geojson").write_text("{ not json", encoding="utf-8")
    findings = check_data(FolderStore(folder))
    got = {(f.problem, f.layer, f.field) for f in findings if f.is_error}
    assert ("wrong_geometry_type", "roads", "geometry") in got
    assert ("missing_field", "roads", "kind") in got
    assert ("unreadable", "addresses", None) in got


def test_bad_metric_crs_in_metadata_is_a_warning(tmp_path):
    folder = write_city(tmp_path / "c", city={"name_en": "Riverton", "metric_crs": "EPSG:4326"})
    findings = check_data(FolderStore(folder))
    assert [(f.severity, f.problem, f.field) for f in findings] == [("warning", "unknown_crs", "metric_crs")]
    assert Dataset(FolderStore(folder)).metric_crs == "EPSG:32635"  # chosen from the data


def test_check_dataset_reads_through_the_dataset(tmp_path):
    ds = Dataset(FolderStore(write_city(tmp_path / "c")))
    assert check_dataset(ds) == []
    assert "grids" in ds._layers and "area_m2" in ds._layers["grids"].columns
