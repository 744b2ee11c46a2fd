"""Tests for app.geo.gridindex: raster point-in-grid lookup, border rule, nearest grid, file loading."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from app.geo.gridindex import DEFAULT_BORDER_TOL_M, GridIndex, LocateResult, Location

LON0, LAT0 = 98.28, 39.76  # Jiayuguan
U = 0.001  # one layout unit in degrees (about 86 m east-west, 111 m north-south here)
_GEOD = pyproj.Geod(ellps="WGS84")
_TO_4542 = pyproj.Transformer.from_crs(4326, 4542, always_xy=True)


def _ll(ux: float, vy: float) -> tuple[float, float]:
    """Layout units -> lon/lat."""
    return LON0 + ux * U, LAT0 + vy * U


def _poly(*rings_units) -> Polygon:
    shell, *holes = rings_units
    return Polygon([_ll(*p) for p in shell], [[_ll(*p) for p in h] for h in holes])


def _box(x0, y0, x1, y1) -> Polygon:
    return box(*_ll(x0, y0), *_ll(x1, y1))


def _layout() -> gpd.GeoDataFrame:
    """A 3x3 tiling, an L shape sharing the tiling's east edge, a concave U, a square with a hole and
    an island-plus-square multipolygon. Codes deliberately do not follow row order."""
    rows = []
    for i in range(3):
        for j in range(3):
            rows.append((f"t{i}{j}", _box(i, j, i + 1, j + 1)))
    rows.append(("l0", _poly([(3, 0), (5, 0), (5, 1), (4, 1), (4, 2), (3, 2), (3, 0)])))
    rows.append(("u0", _poly([(0, 4), (3, 4), (3, 6), (2, 6), (2, 5), (1, 5), (1, 6), (0, 6), (0, 4)])))
    rows.append(("h0", _poly([(6, 0), (9, 0), (9, 3), (6, 3), (6, 0)], [(7, 1), (8, 1), (8, 2), (7, 2), (7, 1)])))
    rows.append(("m0", MultiPolygon([_box(7.25, 1.25, 7.75, 1.75), _box(10, 0, 11, 1)])))
    order = [11, 3, 0, 8, 12, 5, 1, 10, 7, 2, 9, 4, 6]
    rows = [rows[k] for k in order]
    return gpd.GeoDataFrame({"code": [c for c, _ in rows]}, geometry=[g for _, g in rows], crs="EPSG:4326")


@pytest.fixture(scope="module")
def grids() -> gpd.GeoDataFrame:
    return _layout()


@pytest.fixture(scope="module")
def gi(grids) -> GridIndex:
    return GridIndex(grids)


def _codes_at(gi: GridIndex, pts_units) -> list[str | None]:
    lon, lat = np.array([_ll(*p) for p in pts_units]).T
    return list(gi.locate(lon, lat).code)


def _offset(lon: float, lat: float, az: float, metres: float) -> tuple[float, float]:
    lon2, lat2, _ = _GEOD.fwd(lon, lat, az, metres)
    return lon2, lat2


def _metres_to(grids: gpd.GeoDataFrame, lon: float, lat: float) -> np.ndarray:
    """Distance from a point to every grid in EPSG:4542 metres (a reference, independent of the index)."""
    m = grids.to_crs(4542).geometry.values
    return shapely.distance(m, shapely.Point(*_TO_4542.transform(lon, lat)))


def test_inside_points(gi):
    got = _codes_at(gi, [(0.5, 0.5), (2.5, 1.5), (1.5, 2.5), (4.5, 0.5), (3.5, 1.5), (0.5, 5.5), (2.5, 5.5),
                         (1.5, 4.5), (6.5, 0.5), (7.5, 1.5), (10.5, 0.5)])
    assert got == ["t00", "t21", "t12", "l0", "l0", "u0", "u0", "u0", "h0", "m0", "m0"]
    lon, lat = _ll(0.5, 0.5)
    r = gi.locate([lon], [lat])
    assert isinstance(r, LocateResult) and len(r) == 1
    assert r.index[0] == list(gi.grids["code"]).index("t00")
    assert not r.on_border[0] and r.distance_m[0] == 0 and r.nearest_index[0] == r.index[0]
    assert r.inside.all()


def test_shared_border_is_deterministic_and_flagged(grids):
    # Edge between t00 and t10, edge between t20 and l0, a 4-way vertex, an L-shape reflex vertex.
    pts = [(1.0, 0.5), (3.0, 1.5), (1.0, 1.0), (2.0, 2.0), (3.0, 1.0), (0.5, 1.0)]
    expected = ["t00", "l0", "t00", "t11", "l0", "t00"]
    lon, lat = np.array([_ll(*p) for p in pts]).T
    for seed in range(4):
        shuffled = grids.sample(frac=1, random_state=seed).reset_index(drop=True)
        gi = GridIndex(shuffled)
        r = gi.locate(lon, lat)
        assert list(r.code) == expected
        assert r.on_border.all()
        assert (r.distance_m == 0).all()
        for k, (x, y) in enumerate(zip(lon, lat, strict=True)):
            one = gi.locate_one(x, y)
            assert (one.code, one.on_border, one.index) == (expected[k], True, r.index[k])


def test_lowest_code_rule_at_a_vertex(gi):
    # 4-way vertex of t11, t12, t21, t22: "t11" is lowest.
    assert _codes_at(gi, [(2, 2), (1, 2), (2, 1)]) == ["t11", "t01", "t10"]


def test_outer_boundary_belongs_to_its_grid(gi):
    lon, lat = np.array([_ll(0, 0.5), _ll(1.5, 0), _ll(0, 0), _ll(5, 0.5), _ll(7, 1.5), _ll(7.25, 1.5)]).T
    r = gi.locate(lon, lat)
    # A point on the rim of a hole belongs to the holed grid; on the island's rim to the island (m0).
    assert list(r.code) == ["t00", "t10", "t00", "l0", "h0", "m0"]
    assert r.on_border.all()


def test_border_tolerance_in_metres(gi):
    lon, lat = _ll(1.0, 0.5)  # on the t00 | t10 edge
    near = _offset(lon, lat, 90.0, 0.6 * DEFAULT_BORDER_TOL_M)  # east, into t10 but within tolerance
    far = _offset(lon, lat, 90.0, 0.2)
    r = gi.locate(*np.array([near, far]).T)
    assert list(r.on_border) == [True, False]
    assert list(r.code) == ["t00", "t10"]  # within the tolerance the lowest code wins
    outside = _offset(*_ll(0.0, 0.5), 270.0, 0.6 * DEFAULT_BORDER_TOL_M)  # just west of the outer edge
    beyond = _offset(*_ll(0.0, 0.5), 270.0, 0.2)
    r = gi.locate(*np.array([outside, beyond]).T)
    assert list(r.code) == ["t00", None]
    assert list(r.on_border) == [True, False]
    assert r.distance_m[1] == pytest.approx(0.2, abs=0.005)


def test_outside_points_nearest_and_distance(gi, grids):
    cases = [
        (_ll(-1.0, 1.5), "t01"),  # west of the tiling, level with t01
        (_ll(1.5, 5.5), "u0"),  # in the U's notch
        (_ll(7.1, 1.1), "h0"),  # in the hole, nearer the hole's rim than the island
        (_ll(7.5, 1.8), "m0"),  # in the hole, nearer the island
        (_ll(13.0, 0.5), "m0"),  # east of the multipolygon's second part
        (_ll(5.3, 0.5), "l0"),
    ]
    lon, lat = np.array([p for p, _ in cases]).T
    r = gi.locate(lon, lat)
    assert (r.index == -1).all() and all(c is None for c in r.code)
    codes = list(gi.grids["code"])
    for k, (pt, expected) in enumerate(cases):
        ref = _metres_to(grids, *pt)
        assert codes[r.nearest_index[k]] == expected == codes[int(np.argmin(ref))]
        # The index measures in a local transverse Mercator; EPSG:4542 differs by its own scale (~1e-4).
        assert r.distance_m[k] == pytest.approx(ref.min(), rel=2e-3)
        one = gi.locate_one(*pt)
        assert (one.index, one.nearest_code, one.inside) == (-1, expected, False)
        assert one.distance_m == pytest.approx(r.distance_m[k], rel=1e-9)
    # 1 unit west of the tiling is about 85 m.
    assert 80 < r.distance_m[0] < 90


def test_nearest_tie_takes_lowest_code(gi):
    # Due south of the t00|t10 vertex at (1, 0): t00 and t10 are equally near.
    r = gi.locate(*np.array([_ll(1.0, -0.5)]).T)
    assert gi.codes[r.nearest_index[0]] == "t00"


def test_nearest_false_and_non_finite(gi):
    lon = np.array([_ll(-1, 1)[0], np.nan, _ll(0.5, 0.5)[0], np.inf])
    lat = np.array([_ll(-1, 1)[1], LAT0, _ll(0.5, 0.5)[1], LAT0])
    r = gi.locate(lon, lat, nearest=False)
    assert list(r.index[[0, 1, 3]]) == [-1, -1, -1] and r.code[2] == "t00"
    assert list(r.nearest_index[[0, 1, 3]]) == [-1, -1, -1]
    assert np.isnan(r.distance_m[[0, 1, 3]]).all() and r.distance_m[2] == 0
    r = gi.locate(lon, lat)
    assert r.nearest_index[0] >= 0 and r.nearest_index[1] == -1 and np.isnan(r.distance_m[1])
    one = gi.locate_one(math.nan, LAT0)
    assert one == Location(-1, None, False, -1, None, one.distance_m) and math.isnan(one.distance_m)


def test_empty_and_mismatched_input(gi):
    r = gi.locate(np.array([]), np.array([]))
    assert len(r) == 0 and r.code.shape == (0,)
    with pytest.raises(ValueError, match="different lengths"):
        gi.locate(np.zeros(3), np.zeros(2))


def _brute(grids: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray, tol: float):
    """Reference answer from shapely alone: (index, on_border, ambiguous) per point."""
    geoms = grids.geometry.values
    mx, my = _TO_4542.transform(lon, lat)
    mpts = shapely.points(mx, my)
    mbound = shapely.boundary(grids.to_crs(4542).geometry.values)
    codes = np.asarray(grids["code"], dtype=object)
    index = np.full(len(lon), -1)
    border = np.zeros(len(lon), dtype=bool)
    ambiguous = np.zeros(len(lon), dtype=bool)
    best = np.full(len(lon), None, dtype=object)
    for j in range(len(grids)):
        d = shapely.distance(mbound[j], mpts)
        cover = shapely.contains_xy(geoms[j], lon, lat) | (d <= tol)
        border |= d <= tol
        ambiguous |= np.abs(d - tol) < 0.01  # too close to the tolerance to judge across projections
        better = cover & np.array([b is None or codes[j] < b for b in best])
        best[better] = codes[j]
        index[better] = j
    return index, border, ambiguous


@pytest.mark.parametrize("resolution", [None, 3, 40])
def test_agrees_with_shapely_brute_force(grids, resolution):
    gi = GridIndex(grids, resolution=resolution)
    rng = np.random.default_rng(20240601)
    n = 4000
    lon = rng.uniform(LON0 - 1.2 * U, LON0 + 12 * U, n)
    lat = rng.uniform(LAT0 - 1.2 * U, LAT0 + 7 * U, n)
    # Add points on and near boundaries: vertices and edge points jittered by a few centimetres.
    bnd = shapely.boundary(grids.geometry.values)
    on = shapely.line_interpolate_point(bnd[rng.integers(0, len(bnd), 1500)], rng.uniform(0, 1, 1500), normalized=True)
    verts = shapely.get_coordinates(bnd)
    jit = rng.normal(0, 1e-6, (1500, 2)) * rng.integers(0, 2, (1500, 1))  # half exact, half ~ +-0.1 m
    extra = np.vstack([shapely.get_coordinates(on) + jit, verts])
    lon = np.concatenate([lon, extra[:, 0]])
    lat = np.concatenate([lat, extra[:, 1]])
    r = gi.locate(lon, lat)
    ref, border, ambiguous = _brute(grids, lon, lat, DEFAULT_BORDER_TOL_M)
    ok = ~ambiguous
    assert ok.sum() > 0.95 * len(lon)
    np.testing.assert_array_equal(r.index[ok], ref[ok])
    np.testing.assert_array_equal(r.on_border[ok], border[ok])
    assert r.on_border.sum() > 1000
    # locate_one agrees with locate.
    for k in rng.choice(len(lon), 300, replace=False):
        one = gi.locate_one(lon[k], lat[k])
        assert (one.index, one.on_border, one.nearest_index) == (r.index[k], r.on_border[k], r.nearest_index[k])
        assert one.distance_m == pytest.approx(r.distance_m[k], abs=1e-9)


def test_overlapping_grids_take_lowest_code():
    g = gpd.GeoDataFrame({"code": ["b", "a", "c"]},
                         geometry=[_box(0, 0, 2, 2), _box(1, 1, 3, 3), _box(0.2, 0.2, 2.8, 2.8)], crs=4326)
    gi = GridIndex(g, resolution=50)
    rng = np.random.default_rng(3)
    lon = rng.uniform(LON0 - 0.5 * U, LON0 + 3.5 * U, 3000)
    lat = rng.uniform(LAT0 - 0.5 * U, LAT0 + 3.5 * U, 3000)
    r = gi.locate(lon, lat)
    ref, _, ambiguous = _brute(g, lon, lat, DEFAULT_BORDER_TOL_M)
    np.testing.assert_array_equal(r.index[~ambiguous], ref[~ambiguous])
    assert _codes_at(gi, [(1.5, 1.5), (0.5, 0.5), (0.1, 0.1), (2.5, 2.5)]) == ["a", "b", "b", "a"]


def test_code_field_none_and_errors(grids):
    gi = GridIndex(grids, code_field=None)
    r = gi.locate(*np.array([_ll(0.5, 0.5), _ll(1.0, 0.5)]).T)
    assert r.code is None
    rows = list(grids["code"])
    assert list(r.index) == [rows.index("t00"), min(rows.index("t00"), rows.index("t10"))]  # lowest row on a border
    assert gi.locate_one(*_ll(0.5, 0.5)).code is None
    with pytest.raises(ValueError, match="'name'"):
        GridIndex(grids, code_field="name")
    with pytest.raises(ValueError, match="Polygon"):
        GridIndex(gpd.GeoDataFrame({"code": ["x"]}, geometry=[shapely.Point(LON0, LAT0)], crs=4326))
    with pytest.raises(TypeError):
        GridIndex(grids.drop(columns="geometry").assign(x=1))  # a plain DataFrame


def test_missing_geometry_rows_never_match(grids):
    g = grids.copy()
    g.loc[len(g)] = ["zz", None]
    gi = GridIndex(g)
    assert gi.n == len(g)
    assert _codes_at(gi, [(0.5, 0.5), (20, 20)]) == ["t00", None]


def test_empty_grids():
    gi = GridIndex(gpd.GeoDataFrame({"code": []}, geometry=[], crs=4326))
    r = gi.locate(np.array([LON0]), np.array([LAT0]))
    assert r.index[0] == -1 and r.nearest_index[0] == -1
    assert gi.locate_one(LON0, LAT0).index == -1


def test_from_file_geopackage_in_metric_crs(tmp_path, grids, gi):
    path = tmp_path / "grids.gpkg"
    grids.to_crs(4542).to_file(path, driver="GPKG")
    other = GridIndex.from_file(path)
    assert other.grids.crs.to_epsg() == 4326
    pts = [(0.5, 0.5), (2.5, 1.5), (4.5, 0.5), (7.5, 1.5), (1.5, 5.5), (1.0, 0.5), (-1, 1)]
    lon, lat = np.array([_ll(*p) for p in pts]).T
    a, b = gi.locate(lon, lat), other.locate(lon, lat)
    assert list(a.code) == list(b.code)
    np.testing.assert_allclose(a.distance_m, b.distance_m, rtol=1e-6)


def test_from_file_geojson_and_missing_file(tmp_path, grids):
    path = tmp_path / "grids.geojson"
    grids.to_file(path, driver="GeoJSON")
    gi = GridIndex.from_file(path)
    assert gi.locate_one(*_ll(0.5, 0.5)).code == "t00"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        GridIndex.from_file(tmp_path / "nowhere.gpkg")


def test_repr_and_build_stats(gi):
    assert gi.build_seconds >= 0 and gi.n_boundary_cells > 0
    assert "13 grids" in repr(gi)


def test_shared_between_threads(grids):
    from concurrent.futures import ThreadPoolExecutor

    gi = GridIndex(grids)
    rng = np.random.default_rng(7)
    lon = rng.uniform(LON0 - U, LON0 + 12 * U, 5000)
    lat = rng.uniform(LAT0 - U, LAT0 + 7 * U, 5000)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: gi.locate(lon, lat), range(8)))
    for r in results[1:]:
        np.testing.assert_array_equal(r.index, results[0].index)
        np.testing.assert_array_equal(r.nearest_index, results[0].nearest_index)


def test_state_round_trip_gives_the_same_answers():
    """An index saved as plain arrays (numpy.savez, no pickle) and restored answers every point the same."""
    import io

    idx = GridIndex(_layout())
    buf = io.BytesIO()
    np.savez(buf, **idx.state())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        again = GridIndex.from_state({k: z[k] for k in z.files})
    assert again.grids is None and list(again.codes) == list(idx.codes)
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = idx.bounds
    lon, lat = rng.uniform(x0 - 0.01, x1 + 0.01, 20000), rng.uniform(y0 - 0.01, y1 + 0.01, 20000)
    a, b = idx.locate(lon, lat), again.locate(lon, lat)
    for name in ("index", "on_border", "nearest_index", "distance_m"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    out = a.index < 0
    assert all(np.array_equal(p, q, equal_nan=True) for p, q in zip(idx.nearest_outside(lon[out], lat[out]),
                                                                    again.nearest_outside(lon[out], lat[out]),
                                                                    strict=True))


def test_single_lookups_project_only_their_candidates(grids):
    """locate_one before the index holds every metric boundary answers as after, and as locate does."""
    lazy, full = GridIndex(grids), GridIndex(grids)
    full._metric_boundary  # noqa: B018 - builds every boundary
    coords = shapely.get_coordinates(grids.geometry.values)
    rng = np.random.default_rng(5)
    pts = [_offset(lon, lat, float(az), float(m)) for (lon, lat), az, m in
           zip(coords, rng.uniform(0, 360, len(coords)), rng.choice([0.0, 0.03, 0.049, 0.051, 0.2, 3.0], len(coords)),
               strict=True)]
    pts += [tuple(p) for p in rng.uniform(coords.min(0), coords.max(0), (300, 2))]
    got = [lazy.locate_one(x, y) for x, y in pts]
    assert lazy._all_boundaries is None or any(not g.inside for g in got)  # only outside points need them all
    assert got == [full.locate_one(x, y) for x, y in pts]
    batch = full.locate(*np.array(pts).T)
    assert [g.code for g in got] == list(batch.code) and [g.on_border for g in got] == list(batch.on_border)
