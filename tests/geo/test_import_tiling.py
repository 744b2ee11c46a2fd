"""Area layers checked in the file's own CRS: a clean Gauss-Krüger tiling stays clean as stored; slivers repaired."""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from app.geo import geojson, importer, validate
from app.geo._import_checks import _check_areas
from app.geo._import_tiling import node_coverage, prepare_areas
from app.geo.crs import parse_crs
from app.geo.findings import Report
from app.geo.schema import COORD_PRECISION

GK = "EPSG:4545"  # CGCS2000 / 3-degree Gauss-Kruger CM 108E
_DIVISION = "620201001"
_COMMITTEE = _DIVISION + "001"


def office_grid(n: int = 100, seed: int = 1, cell: float = 275.0, angle: float = 17.0) -> np.ndarray:
    """A grid as an office draws it: bands across the city split again and again into ~``n`` cells.

    Each cell holds only its own four corners, so the corner of one lies on the middle of its
    neighbours' edges (T-junctions), and bands leave kilometre-long straight edges. The whole is
    turned by ``angle`` so that no edge runs along an axis, and lies near 107.9°E 36°N in EPSG:4545.
    """
    rnd = random.Random(seed)
    width, height = cell * math.sqrt(n) * 1.1, cell * math.sqrt(n) / 1.1
    bands = max(2, round(math.sqrt(n) / 2))
    ys = sorted([0.0, height] + [rnd.uniform(0.1, 0.9) * height for _ in range(bands - 1)])
    cells: list[tuple[float, float, float, float]] = []

    def split(x0: float, y0: float, x1: float, y1: float, k: int, vertical: bool) -> None:
        if k <= 1:
            cells.append((x0, y0, x1, y1))
            return
        f, k1 = rnd.uniform(0.35, 0.65), k // 2
        if vertical:
            xm = x0 + (x1 - x0) * f
            split(x0, y0, xm, y1, k1, False)
            split(xm, y0, x1, y1, k - k1, False)
        else:
            ym = y0 + (y1 - y0) * f
            split(x0, y0, x1, ym, k1, True)
            split(x0, ym, x1, y1, k - k1, True)

    for y0, y1 in zip(ys[:-1], ys[1:], strict=True):
        split(0.0, y0, width, y1, round(n / bands), True)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def at(x: float, y: float) -> tuple[float, float]:
        return 487654.321 + c * x - s * y, 3987654.321 + s * x + c * y

    return np.array([shapely.Polygon([at(a, b), at(x, b), at(x, y), at(a, y)]) for a, b, x, y in cells],
                    dtype=object)


def _frame(geoms: np.ndarray, crs: str = GK) -> gpd.GeoDataFrame:
    n = len(geoms)
    return gpd.GeoDataFrame({"code": [f"{_COMMITTEE}{k + 1:03d}" for k in range(n)],
                             "name": [f"第{k + 1}网格" for k in range(n)],
                             "committee_code": [_COMMITTEE] * n, "division_code": [_DIVISION] * n},
                            geometry=list(geoms), crs=crs)


def _as_stored(geoms: np.ndarray, crs: str = GK) -> gpd.GeoDataFrame:
    """The grids converted to WGS84 and rounded as the importer stores them."""
    gdf = _frame(geoms, crs).to_crs("EPSG:4326")
    gdf["geometry"] = shapely.set_precision(gdf.geometry.values, 10.0 ** -COORD_PRECISION, mode="pointwise")
    return gdf


def _tiling_findings(gdf: gpd.GeoDataFrame, tolerance: float = 0.01) -> list:
    return validate.check_overlaps(gdf, "grids", tolerance) + validate.check_city_gaps(gdf, "grids", tolerance)


def _prepare(geoms: np.ndarray, repair: bool = False, layer: str = "grids",
             crs: str = GK) -> tuple[np.ndarray, Report]:
    report = Report(layer=layer, source="grids.gpkg")
    out = prepare_areas(layer, np.asarray(geoms, dtype=object), parse_crs(crs), [f"#{k}" for k in range(len(geoms))],
                        report, repair)
    return out, report


def _of(report: Report, *problems: str) -> list:
    return [f for f in report.findings if f.problem in problems]


@pytest.fixture(scope="module")
def grid() -> np.ndarray:
    return office_grid(100)


def test_the_office_grid_is_clean_in_its_own_crs_but_not_once_rounded_without_noding(grid):
    gdf = _frame(grid)
    assert len(grid) == 100
    assert validate.check_overlaps(gdf, "grids", 1e-6, crs=GK) == []
    assert validate.check_city_gaps(gdf, "grids", 1e-6, crs=GK) == []
    # the problem of the issue: T-junctions rounded on their own make overlaps and gaps of 1-7 m²
    raw = _as_stored(grid)
    assert len(validate.check_overlaps(raw, "grids", 1.0)) > 10
    assert len(validate.check_city_gaps(raw, "grids", 1.0)) > 3


def test_prepared_grid_stays_clean_when_converted_rounded_stored_and_read_back(grid):
    out, report = _prepare(grid)
    assert report.findings == []
    assert shapely.is_valid(out).all()
    assert len(out) == len(grid)
    # noding only inserts neighbours' vertices: every cell keeps its shape
    assert np.allclose(shapely.area(out), shapely.area(grid), rtol=0, atol=1e-6)
    assert shapely.area(shapely.symmetric_difference(out, grid)).max() < 1e-6
    stored = _as_stored(out)
    assert _tiling_findings(stored) == []
    after = Report(layer="grids", source="grids.gpkg")
    rows = [{"code": c} for c in stored["code"]]
    _check_areas("grids", rows, np.asarray(stored.geometry.values, dtype=object), list(stored["code"]), after, None)
    assert _of(after, "overlap", "gap") == []
    assert all(r["area_m2"] > 0 for r in rows)
    back = gpd.read_file(io.BytesIO(geojson.dump_geojson(stored)))
    assert _tiling_findings(back) == []
    assert validate.check_overlaps(back, "grids", 0.01) == []
    assert validate.check_city_gaps(back, "grids", 0.01) == []


def test_importing_the_gauss_krueger_grid_finds_no_overlaps_or_gaps(grid, tmp_path: Path):
    path = tmp_path / "网格.gpkg"
    _frame(grid).to_file(path, driver="GPKG")
    plan = importer.prepare(path, "grids")
    assert _of(plan.report, "overlap", "gap") == [], [f.format() for f in plan.report.findings]
    assert plan.report.ok, [f.format() for f in plan.report.errors]
    assert _tiling_findings(plan.gdf) == []
    back = gpd.read_file(io.BytesIO(geojson.dump_geojson(plan.gdf)))
    assert validate.check_overlaps(back, "grids", 0.01) == []
    assert validate.check_city_gaps(back, "grids", 0.01) == []
    # the area is measured in the metric CRS (here the file's own) as before: the office's own, but for
    # the rounding to 6 decimals (0.1 m at most along the edges)
    assert (np.abs(plan.gdf["area_m2"] - shapely.area(grid)) < 0.1 * shapely.length(grid)).all()


def _blocks(n: int = 4, size: float = 100.0) -> list[list[float]]:
    """An n × n grid of squares as [x0, y0, x1, y1] (10,000 m² each), row by row."""
    return [[i * size, j * size, (i + 1) * size, (j + 1) * size] for j in range(n) for i in range(n)]


def _placed(boxes: list[list[float]]) -> np.ndarray:
    """The boxes as polygons near 108.1°E 36°N in EPSG:4545."""
    return np.array([shapely.box(x0 + 512345.678, y0 + 3991234.567, x1 + 512345.678, y1 + 3991234.567)
                     for x0, y0, x1, y1 in boxes], dtype=object)


def _slivered() -> np.ndarray:
    boxes = _blocks()
    boxes[5][2] += 0.2  # cell (1, 1) reaches 0.2 m into (2, 1): an overlap of 20 m²
    boxes[9][2] -= 0.3  # cell (1, 2) stops 0.3 m short of (2, 2): a gap of 30 m²
    return _placed(boxes)


def test_slivers_are_errors_that_name_repair():
    _, report = _prepare(_slivered())
    (overlap,) = _of(report, "overlap")
    (gap,) = _of(report, "gap")
    assert overlap.severity == gap.severity == "error"
    assert "by 20.00 m²" in overlap.message and overlap.feature == "#5" and "#6" in overlap.message
    assert "gap of 30.00 m²" in gap.message
    assert "--repair" in overlap.message and "--repair" in gap.message
    assert "EPSG:4545" in overlap.message
    assert overlap.place and gap.place


def test_repair_moves_the_slivers_and_says_what_moved():
    geoms = _slivered()
    out, report = _prepare(geoms, repair=True)
    assert report.errors == []
    (overlap,) = _of(report, "overlap")
    (gap,) = _of(report, "gap")
    assert overlap.severity == gap.severity == "repaired"
    assert "20.00 m²" in overlap.message and overlap.feature in ("#5", "#6")
    assert ({"#5", "#6"} - {overlap.feature}).pop() in overlap.message
    assert "30.00 m²" in gap.message and gap.feature in ("#9", "#10")
    assert shapely.is_valid(out).all()
    assert shapely.area(shapely.intersection(out[5], out[6])) < 1e-6
    assert math.isclose(shapely.area(shapely.union_all(out)), 160000.0, abs_tol=1e-3)
    assert math.isclose(shapely.area(out).sum(), 160000.0, abs_tol=1e-3)
    stored = _as_stored(out)
    assert _tiling_findings(stored) == []
    # deterministic: the same file is repaired the same way
    again, report2 = _prepare(geoms, repair=True)
    assert [f.format() for f in report2.findings] == [f.format() for f in report.findings]
    assert all(shapely.equals_exact(a, b, 0) for a, b in zip(out, again, strict=True))


def test_importing_with_repair_stores_a_clean_tiling(tmp_path: Path):
    path = tmp_path / "grids.gpkg"
    _frame(_slivered()).to_file(path, driver="GPKG")
    refused = importer.prepare(path, "grids")
    assert sorted(f.problem for f in refused.report.errors) == ["gap", "overlap"]
    assert all("--repair" in f.message for f in refused.report.errors)
    plan = importer.prepare(path, "grids", repair=True)
    assert plan.report.ok, [f.format() for f in plan.report.errors]
    assert sorted(f.problem for f in plan.report.findings if f.severity == "repaired") == ["gap", "overlap"]
    back = gpd.read_file(io.BytesIO(geojson.dump_geojson(plan.gdf)))
    assert _tiling_findings(back) == []
    assert math.isclose(plan.gdf["area_m2"].sum(), 160000.0, rel_tol=1e-3)


def test_overlaps_too_small_to_report_are_still_repaired():
    geoms = _placed(_blocks())
    (x0, y0), (x1, y1) = shapely.get_coordinates(geoms[5]).min(axis=0), shapely.get_coordinates(geoms[5]).max(axis=0)
    # its north-east corner 1.5 cm into the neighbour (more than noding merges): a triangle of 0.75 m², below
    # what an import reports, above what the validator allows
    geoms[5] = shapely.Polygon([(x0, y0), (x1, y0), (x1 + 0.015, y1), (x0, y1)])
    _, quiet = _prepare(geoms)
    assert quiet.findings == []
    out, report = _prepare(geoms, repair=True)
    assert [(f.severity, f.problem) for f in report.findings] == [("repaired", "overlap")]
    assert _tiling_findings(_as_stored(out)) == []


def test_a_real_overlap_is_refused_even_with_repair():
    boxes = _blocks()
    boxes[5][2] += 40.0  # 4,000 m²: no sliver
    _, report = _prepare(_placed(boxes), repair=True)
    (overlap,) = _of(report, "overlap")
    assert overlap.severity == "error" and "4000.00 m²" in overlap.message and "--repair" not in overlap.message


def test_a_long_thin_overlap_is_a_sliver():
    boxes = _blocks(n=3, size=1000.0)
    boxes[4][2] += 0.1  # 0.1 m × 1 km = 100 m², above 50 m² but 10 cm wide
    out, report = _prepare(_placed(boxes), repair=True)
    (overlap,) = _of(report, "overlap")
    assert overlap.severity == "repaired" and "100.00 m²" in overlap.message
    assert _tiling_findings(_as_stored(out)) == []


def test_committee_overlaps_are_warnings():
    _, report = _prepare(_slivered(), layer="committees")
    assert report.errors == []
    assert {f.severity for f in _of(report, "overlap", "gap")} == {"warning"}


def test_a_lonlat_file_is_measured_in_metres():
    lonlat = _frame(_slivered()).to_crs("EPSG:4490").geometry.values
    _, report = _prepare(np.asarray(lonlat, dtype=object), crs="EPSG:4490")
    (overlap,) = _of(report, "overlap")
    (gap,) = _of(report, "gap")
    area = float(overlap.message.split(" by ")[1].split(" m²")[0])
    assert math.isclose(area, 20.0, rel_tol=0.01)
    assert "gap of 30" in gap.message or "gap of 29" in gap.message
    # and a lon/lat grid with T-junctions, noded in degrees, stays clean once rounded
    grid = np.asarray(_frame(office_grid(100)).to_crs("EPSG:4326").geometry.values, dtype=object)
    out, report = _prepare(grid, crs="EPSG:4326")
    assert report.findings == []
    assert len(_tiling_findings(_as_stored(grid, "EPSG:4326"), 1.0)) > 10
    assert _tiling_findings(_as_stored(out, "EPSG:4326")) == []


def test_noding_inserts_t_junctions_and_merges_near_vertices():
    left = shapely.box(0, 0, 10, 10)
    right_low = shapely.box(10, 0, 20, 5)
    right_high = shapely.Polygon([(10.0004, 5), (20, 5), (20, 10), (10, 10)])  # 0.4 mm off the edge
    out, changed = node_coverage(np.array([left, right_low, right_high], dtype=object), 1e-3)
    assert changed.tolist() == [True, False, True]
    assert [10.0, 5.0] in shapely.get_coordinates(out[0]).tolist()
    assert [10.0, 5.0] in shapely.get_coordinates(out[2]).tolist()
    assert out[1] is right_low
    assert shapely.coverage_is_valid(out)
    # nothing within the tolerance: nothing changes, the same objects come back
    same, none = node_coverage(np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], dtype=object), 1e-3)
    assert not none.any()


def test_missing_invalid_and_multi_geometries_pass_through():
    bow = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    multi = shapely.MultiPolygon([shapely.box(20, 0, 30, 5), shapely.box(20, 6, 25, 10)])
    geoms = np.array([None, bow, multi, shapely.box(30, 0, 40, 10), shapely.MultiPolygon([shapely.box(40, 0, 50, 10), shapely.box(60, 0, 70, 10)]),
                      shapely.box(50, 0, 60, 5)], dtype=object)
    out, report = _prepare(geoms)
    assert out[0] is None and out[1] is bow
    assert out[2].geom_type == "MultiPolygon"
    assert [30.0, 5.0] in shapely.get_coordinates(out[3]).tolist()
    assert out[2] is multi
    assert out[4].geom_type == "MultiPolygon" and [50.0, 5.0] in shapely.get_coordinates(out[4]).tolist()
    assert [60.0, 5.0] in shapely.get_coordinates(out[4]).tolist() and shapely.equals(out[4], geoms[4])
    assert report.errors == []


@pytest.mark.parametrize("n", [613])
def test_a_city_sized_grid_prepares_cleanly(n):
    geoms = office_grid(n, seed=7)
    out, report = _prepare(geoms)
    assert report.findings == []
    assert _tiling_findings(_as_stored(out)) == []
