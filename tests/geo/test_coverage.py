"""Tests for app.geo.coverage: metrics against an independent brute-force computation."""

from __future__ import annotations

import json

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from app.geo import coverage
from app.geo._coverage_sources import prepared_city
from app.geo.schema import METRIC_CRS, PERSONAL_FIELDS
from tests import helpers

X0, Y0 = 439003.7, 4404001.3
CELL = 200.0


def toy_city(seed: int = 7, nx_cells: int = 4, ny_cells: int = 3, n_addr: int = 160) -> dict[str, gpd.GeoDataFrame]:
    """A small city in EPSG:4542: 4x3 grids of 200 m, a 100 m street lattice, random addresses."""
    rng = np.random.default_rng(seed)
    grids, codes = [], []
    for j in range(ny_cells):
        for i in range(nx_cells):
            grids.append(shapely.box(X0 + i * CELL, Y0 - (j + 1) * CELL, X0 + (i + 1) * CELL, Y0 - j * CELL))
            com = "620201001001" if i < nx_cells // 2 else "620201001002"
            codes.append((com, len(codes) + 1))
    g = gpd.GeoDataFrame({
        "code": [f"{c}{k:03d}" for c, k in codes],
        "name": [f"网格{k}" for _, k in codes],
        "committee_code": [c for c, _ in codes],
        "division_code": ["620201001"] * len(codes),
        "households": 0, "population": 0, "area_m2": CELL * CELL,
        "leader_name": "张三", "leader_phone": "13900000000",
    }, geometry=grids, crs=METRIC_CRS)
    # irregular last grid: an L shape, so areas are not all squares
    g.loc[len(g) - 1, "geometry"] = shapely.box(X0 + (nx_cells - 1) * CELL, Y0 - ny_cells * CELL,
                                                X0 + nx_cells * CELL, Y0 - (ny_cells - 1) * CELL).difference(
        shapely.box(X0 + (nx_cells - 0.5) * CELL, Y0 - ny_cells * CELL, X0 + nx_cells * CELL, Y0 - (ny_cells - 0.5) * CELL))
    xmax, ymin = X0 + nx_cells * CELL, Y0 - ny_cells * CELL
    pts = np.column_stack([rng.uniform(X0 + 1, xmax - 1, n_addr), rng.uniform(ymin + 1, Y0 - 1, n_addr)])
    inside = shapely.contains_xy(shapely.union_all(g.geometry.values), pts[:, 0], pts[:, 1])
    pts = pts[inside]
    a = gpd.GeoDataFrame({
        "id": [f"A{i:06d}" for i in range(len(pts))],
        "address": [f"新华路{i + 1}号" for i in range(len(pts))],
        "kind": "road", "street": "新华路", "number": np.arange(1, len(pts) + 1),
        "residents": rng.integers(0, 60, len(pts)),
        "households": rng.integers(1, 20, len(pts)),
        "grid_code": "",
    }, geometry=shapely.points(pts), crs=METRIC_CRS)
    gi = shapely.STRtree(g.geometry.values).query(a.geometry.values, predicate="within")
    a.loc[gi[0], "grid_code"] = g["code"].to_numpy()[gi[1]]
    fac_xy = np.array([[X0 + 90, Y0 - 113], [X0 + 530, Y0 - 260], [X0 + 330, Y0 - 520],  # bus stops
                       [X0 + 700, Y0 - 80], [X0 + 150, Y0 - 465],  # parks
                       [X0 + 420, Y0 - 300], [X0 + 60, Y0 - 570]])  # parking
    cats = ["bus_stop"] * 3 + ["park"] * 2 + ["parking"] * 2
    f = gpd.GeoDataFrame({
        "id": [f"F{i:05d}" for i in range(len(cats))], "name": [f"设施{i}" for i in range(len(cats))],
        "category": cats, "capacity": [None] * 5 + [40, 25], "grid_code": "",
    }, geometry=shapely.points(fac_xy), crs=METRIC_CRS)
    fi = shapely.STRtree(g.geometry.values).query(f.geometry.values, predicate="within")
    f.loc[fi[0][::-1], "grid_code"] = g["code"].to_numpy()[fi[1][::-1]]
    # street lattice every 100 m, as segments meeting at shared end points
    segs = []
    for k in range(nx_cells * 2 + 1):
        x = X0 + k * 100
        segs += [shapely.LineString([(x, Y0 - m * 100), (x, Y0 - (m + 1) * 100)]) for m in range(ny_cells * 2)]
    for m in range(ny_cells * 2 + 1):
        y = Y0 - m * 100
        segs += [shapely.LineString([(X0 + k * 100, y), (X0 + (k + 1) * 100, y)]) for k in range(nx_cells * 2)]
    r = gpd.GeoDataFrame({"id": [f"R{i:04d}" for i in range(len(segs))], "name": "新华路", "kind": "local"},
                         geometry=segs, crs=METRIC_CRS)
    com = gpd.GeoDataFrame({"code": ["620201001001", "620201001002"], "name": ["建设社区", "朝晖社区"],
                            "kind": "community", "division_code": "620201001"},
                           geometry=[shapely.union_all(g.geometry[g.committee_code == c].values)
                                     for c in ["620201001001", "620201001002"]], crs=METRIC_CRS)
    div = gpd.GeoDataFrame({"code": ["620201001"], "name": ["雄关街道"], "kind": "subdistrict"},
                           geometry=[shapely.union_all(g.geometry.values)], crs=METRIC_CRS)
    layers = {"grids": g, "addresses": a, "facilities": f, "roads": r, "committees": com, "divisions": div}
    return {k: v.to_crs("EPSG:4326") for k, v in layers.items()}


def _metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.to_crs(METRIC_CRS)


def brute_straight(layers: dict, cats: list[str], radius: float) -> pd.DataFrame:
    """Residents share from a full distance matrix; area share from a global union of fine disks."""
    g, a, f = _metric(layers["grids"]), _metric(layers["addresses"]), _metric(layers["facilities"])
    f = f[f.category.isin(cats)]
    axy = shapely.get_coordinates(a.geometry.values)
    fxy = shapely.get_coordinates(f.geometry.values)
    d = np.sqrt(((axy[:, None, :] - fxy[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    union = shapely.union_all(f.geometry.buffer(radius, quad_segs=512).values)
    rows = []
    for _, grid in g.iterrows():
        m = (a.grid_code == grid.code).to_numpy()
        res = a.residents.to_numpy()[m]
        rows.append({"code": grid.code,
                     "residents_pct": 100 * res[d[m] <= radius].sum() / res.sum() if res.sum() else np.nan,
                     "area_pct": 100 * grid.geometry.intersection(union).area / grid.geometry.area})
    return pd.DataFrame(rows)


def brute_walk(layers: dict, cats: list[str], radius: float, sample_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walking distances with networkx: every point becomes a node on its nearest road (brute-force search)."""
    r = _metric(layers["roads"])
    lines = list(r.geometry.values)
    f = _metric(layers["facilities"])
    f = f[f.category.isin(cats)]
    a = _metric(layers["addresses"])
    points = np.concatenate([shapely.get_coordinates(f.geometry.values), shapely.get_coordinates(a.geometry.values),
                             sample_xy])
    on_line: dict[int, list[tuple[float, str]]] = {i: [] for i in range(len(lines))}
    G = nx.Graph()
    for k, (x, y) in enumerate(points):
        p = shapely.Point(x, y)
        dists = [ln.distance(p) for ln in lines]
        i = int(np.argmin(dists))
        t = lines[i].project(p)
        on_line[i].append((t, f"s{k}"))
        G.add_edge(f"p{k}", f"s{k}", weight=dists[i])
    for i, ln in enumerate(lines):
        c = list(ln.coords)
        chain = [(0.0, tuple(np.round(c[0], 3)))] + sorted(on_line[i]) + [(ln.length, tuple(np.round(c[-1], 3)))]
        for (t1, n1), (t2, n2) in zip(chain[:-1], chain[1:], strict=True):
            if n1 != n2:
                w = t2 - t1
                if not G.has_edge(n1, n2) or G[n1][n2]["weight"] > w:
                    G.add_edge(n1, n2, weight=w)
    best = np.full(len(points), np.inf)
    for k in range(len(f)):
        lengths = nx.single_source_dijkstra_path_length(G, f"p{k}")
        best = np.minimum(best, [lengths.get(f"p{j}", np.inf) for j in range(len(points))])
    return best[len(f):len(f) + len(a)], best[len(f) + len(a):]


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    return toy_city()


@pytest.mark.parametrize("cats,radius", [(["bus_stop"], 300), (["bus_stop"], 150), (["park", "parking"], 250),
                                         (["park"], 1000)])
def test_straight_matches_brute_force(layers, cats, radius):
    res = coverage.analyse(layers, cats, radius, target_pct=None)
    ref = brute_straight(layers, cats, radius)
    m = res.grids.merge(ref, on="code", suffixes=("", "_ref"))
    assert len(m) == len(ref)
    assert np.nanmax(np.abs(m.residents_pct - m.residents_pct_ref)) < 0.1
    assert np.nanmax(np.abs(m.area_pct - m.area_pct_ref)) < 0.1
    g = _metric(layers["grids"])
    city_area = 100 * (g.area.to_numpy() * ref.area_pct.to_numpy() / 100).sum() / g.area.sum()
    assert abs(res.summary()["area_pct"] - city_area) < 0.1


@pytest.mark.parametrize("cats,radius", [(["bus_stop"], 300), (["park", "parking"], 200)])
def test_walk_matches_brute_force(layers, cats, radius):
    res = coverage.analyse(layers, cats, radius, mode="walk", target_pct=None)
    city = prepared_city(coverage.as_dataset(layers))
    xy, rows, _ = city.samples()
    d_addr, d_samp = brute_walk(layers, cats, radius, xy)
    a = _metric(layers["addresses"])
    ok = d_addr <= radius
    for code, row in res.grids.set_index("code").iterrows():
        m = (a.grid_code == code).to_numpy()
        res_total = a.residents.to_numpy()[m].sum()
        expect = 100 * a.residents.to_numpy()[m & ok].sum() / res_total
        assert abs(row.residents_pct - expect) < 0.1
        i = city.grids.index[city.grids.code == code][0]
        assert abs(row.area_pct - 100 * (d_samp[rows == i] <= radius).mean()) < 0.1
    # distances themselves agree
    w = a.residents.to_numpy().astype(float)
    assert abs(res.summary()["dist_mean_m"] - (d_addr * w).sum() / w.sum()) < 0.1
    assert abs(res.summary()["dist_max_m"] - d_addr[w > 0].max()) < 0.1


def test_walk_is_never_shorter_than_straight(layers):
    s = coverage.analyse(layers, ["bus_stop"], 300)
    w = coverage.analyse(layers, ["bus_stop"], 300, mode="walk")
    assert (w.grids.dist_mean_m >= s.grids.dist_mean_m - 0.1).all()
    assert w.summary()["residents_pct"] <= s.summary()["residents_pct"]


def test_weighted_stats_against_repeat():
    rng = np.random.default_rng(1)
    group = rng.integers(-1, 4, 300)
    value = rng.uniform(0, 1000, 300)
    weight = rng.integers(0, 5, 300)
    out = coverage.weighted_stats(group, value, weight.astype(float), 5)
    for k in range(4):
        m = (group == k) & (weight > 0)
        rep = np.repeat(value[m], weight[m])
        rep.sort()
        assert out["mean"][k] == pytest.approx(rep.mean())
        assert out["max"][k] == pytest.approx(rep.max())
        assert out["median"][k] == pytest.approx(rep[int(np.ceil(0.5 * len(rep))) - 1])
        assert out["p90"][k] == pytest.approx(rep[int(np.ceil(0.9 * len(rep))) - 1])
    assert np.isnan(out["mean"][4])


def test_levels_add_up(layers):
    res = coverage.analyse(layers, ["bus_stop"], 300)
    for level in ("committee", "division", "city"):
        t = res.table(level)
        assert t.residents.sum() == res.grids.residents.sum()
        assert t.residents_covered.sum() == res.grids.residents_covered.sum()
        assert t.area_m2.sum() == pytest.approx(res.grids.area_m2.sum(), rel=1e-9)
    com = res.table("committee")
    assert list(com.name) == ["建设社区", "朝晖社区"]
    assert res.table("division").name[0] == "雄关街道"
    assert res.summary()["facilities"] == 3


def test_capacity_and_supply_ratio(layers):
    res = coverage.analyse(layers, ["parking"], 300)
    city = res.summary()
    assert city["capacity"] == 65
    assert city["spaces_per_100_households"] == pytest.approx(100 * 65 / city["households"], abs=0.01)
    assert "capacity" not in coverage.analyse(layers, ["bus_stop"], 300).grids


def test_targets_and_underserved(layers):
    res = coverage.analyse(layers, ["bus_stop"], 500)
    assert res.params.target_pct == 90.0 and not res.params.strict
    under = res.underserved()
    g = res.grids
    assert set(under.code) == set(g.code[(g.residents_pct < 90) & (g.residents > 0)])
    assert list(under.residents_uncovered) == sorted(under.residents_uncovered, reverse=True)
    park = coverage.analyse(layers, ["park"], 500)
    assert park.params.target_pct == 80.0 and park.params.strict
    none = coverage.analyse(layers, ["park"], 400)
    assert none.params.target_pct is None and none.underserved().empty
    mine = coverage.analyse(layers, ["park"], 400, target_pct=99.5)
    assert (mine.underserved().residents_pct < 99.5).all()


def test_repeated_query_is_cached(layers):
    ds = coverage.as_dataset(layers)
    first = coverage.analyse(ds, ["bus_stop"], 300)
    second = coverage.analyse(ds, ["bus_stop"], 300, level="committee")
    assert second.tables is first.tables
    assert second.table() is first.table("committee")


def test_no_personal_fields(layers):
    res = coverage.analyse(layers, ["bus_stop"], 300)
    for level in coverage.LEVELS:
        assert not PERSONAL_FIELDS & set(res.table(level).columns)
        assert not PERSONAL_FIELDS & set(res.records(level)[0])


def test_no_facilities_means_no_coverage(layers):
    res = coverage.analyse(layers, ["tcm_clinic"], 500)
    assert res.summary()["residents_pct"] == 0
    assert res.summary()["area_pct"] == 0
    assert res.summary()["dist_mean_m"] is None
    assert res.service_area().is_empty


def test_union_of_categories(layers):
    both = coverage.analyse(layers, ["park", "bus_stop"], 300).summary()
    for cat in ("park", "bus_stop"):
        assert both["area_pct"] >= coverage.analyse(layers, [cat], 300).summary()["area_pct"]
    assert both["facilities"] == 5


def test_service_area(layers):
    s = coverage.analyse(layers, ["bus_stop"], 300)
    area = s.service_area(METRIC_CRS)
    assert area.geom_type in ("Polygon", "MultiPolygon")
    assert area.area == pytest.approx(3 * np.pi * 300**2, rel=0.2)
    w = coverage.analyse(layers, ["bus_stop"], 300, mode="walk")
    assert w.service_area().geom_type in ("LineString", "MultiLineString")


@pytest.mark.parametrize("kwargs,message", [
    ({"categories": ["nope"], "radius_m": 300}, "unknown category"),
    ({"categories": [], "radius_m": 300}, "at least one"),
    ({"categories": ["park"], "radius_m": -5}, "radius"),
    ({"categories": ["park"], "radius_m": "abc"}, "number"),
    ({"categories": ["park"], "radius_m": 300, "mode": "fly"}, "unknown mode"),
    ({"categories": ["park"], "radius_m": 300, "level": "street"}, "unknown level"),
    ({"categories": ["park"], "radius_m": 300, "target_pct": 120}, "target"),
])
def test_bad_parameters(layers, kwargs, message):
    with pytest.raises(coverage.CoverageError, match=message):
        coverage.analyse(layers, **kwargs)


def test_walk_needs_roads(layers):
    no_roads = {k: v for k, v in layers.items() if k != "roads"}
    with pytest.raises(coverage.CoverageError, match="roads"):
        coverage.analyse(no_roads, ["park"], 300, mode="walk")


def test_presets_are_editable_data():
    p = coverage.PRESETS["bus_stop"]
    assert p.radii == (300.0, 500.0) and p.targets[500.0] == 90.0
    assert coverage.PRESETS["circle_15min"].radii == (1000.0,)
    assert coverage.PRESETS["park"].to_dict()["targets"] == {"500": 80.0}


def test_metric_crs_follows_the_data(tmp_path):
    import pyproj

    from app.geo.export import parameters_rows

    here = coverage.analyse(helpers.MINI, ["bus_stop"], 500)
    assert here.metric_crs == METRIC_CRS and here.parameters()["metric_crs"] == METRIC_CRS
    # the same city 5° further east (about Lanzhou's longitude) is measured in GK zone CM 102E
    shifted = helpers.shifted_mini(5.0)
    east = coverage.analyse(shifted, ["bus_stop"], 500)
    assert east.metric_crs == "EPSG:4543" and east.parameters()["metric_crs"] == "EPSG:4543"
    assert ("度量坐标系 metric CRS", "EPSG:4543") in parameters_rows(east)
    geod = pyproj.Geod(ellps="WGS84")
    true = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in shifted["grids"].geometry])
    assert np.allclose(east.grids["area_m2"].to_numpy(), true, rtol=1e-3)
    assert not np.allclose(shifted["grids"].to_crs(METRIC_CRS).area.to_numpy(), true, rtol=2e-3)
    # shifting east changes where things are, not how far apart: residents covered stay the same
    assert east.summary()["residents_covered"] == here.summary()["residents_covered"]
    assert east.service_area().bounds[0] == pytest.approx(here.service_area().bounds[0] + 5.0, abs=1e-4)


# -- living circles: the per-category rule on a hand-made city ----------------------------------

#: Five 100 m square grids in a row along y = 0..100 (offsets from X0, Y0); committee A holds G1 and G2.
HAND_GRIDS = [("G1", 0, "A"), ("G2", 100, "A"), ("G3", 200, "B"), ("G4", 300, "B"), ("G5", 400, "B")]
#: Addresses (x, y, residents, households): one per grid, two in G2, none in G5.
HAND_ADDRESSES = [(50, 50, 10, 5), (150, 50, 18, 5), (190, 50, 2, 1), (250, 50, 10, 5), (350, 50, 10, 5)]
#: A library in G1's centre, a TCM clinic in G4's centre, a 30-space car park in G3.
HAND_FACILITIES = [(50, 50, "library", None), (350, 50, "tcm_clinic", None), (250, 80, "parking", 30)]
#: The question: each kind within its own distance.
HAND_REQUIREMENTS = {"library": 120, "tcm_clinic": 220}


def hand_city() -> dict[str, gpd.GeoDataFrame]:
    """The hand-made city, with a street along y = 50 for walk mode.

    Distances along the street equal straight-line ones, so both modes give the same verdicts:

    ====  ================  =================  =====================================
    grid  library (120 m)   TCM clinic (220 m)  verdict (≥ 90% of residents per kind)
    ====  ================  =================  =====================================
    G1    0 m: 100%         300 m: 0%           lacks tcm_clinic
    G2    100/140 m: 90%    200/160 m: 100%     served (90% reaches the target)
    G3    200 m: 0%         100 m: 100%         lacks library
    G4    300 m: 0%         0 m: 100%           lacks library
    G5    no residents                          no verdict
    ====  ================  =================  =====================================
    """
    box = [shapely.box(X0 + x, Y0, X0 + x + 100, Y0 + 100) for _, x, _ in HAND_GRIDS]
    g = gpd.GeoDataFrame({"code": [c for c, _, _ in HAND_GRIDS], "name": [f"网格{c}" for c, _, _ in HAND_GRIDS],
                          "committee_code": [k for _, _, k in HAND_GRIDS], "division_code": "D",
                          "households": 0, "population": 0, "area_m2": 10000.0}, geometry=box, crs=METRIC_CRS)
    a = gpd.GeoDataFrame({"id": [f"A{i}" for i in range(len(HAND_ADDRESSES))],
                          "address": [f"新华路{i + 1}号" for i in range(len(HAND_ADDRESSES))],
                          "residents": [r for _, _, r, _ in HAND_ADDRESSES],
                          "households": [h for _, _, _, h in HAND_ADDRESSES]},
                         geometry=[shapely.Point(X0 + x, Y0 + y) for x, y, _, _ in HAND_ADDRESSES], crs=METRIC_CRS)
    f = gpd.GeoDataFrame({"id": [f"F{i}" for i in range(len(HAND_FACILITIES))],
                          "name": [c for _, _, c, _ in HAND_FACILITIES], "category": [c for _, _, c, _ in HAND_FACILITIES],
                          "capacity": [k for _, _, _, k in HAND_FACILITIES]},
                         geometry=[shapely.Point(X0 + x, Y0 + y) for x, y, _, _ in HAND_FACILITIES], crs=METRIC_CRS)
    roads = gpd.GeoDataFrame({"id": ["R1"], "name": ["新华路"], "kind": "local"},
                             geometry=[shapely.LineString([(X0, Y0 + 50), (X0 + 500, Y0 + 50)])], crs=METRIC_CRS)
    com = gpd.GeoDataFrame({"code": ["A", "B"], "name": ["甲社区", "乙社区"], "division_code": "D"},
                           geometry=[shapely.box(X0, Y0, X0 + 200, Y0 + 100), shapely.box(X0 + 200, Y0, X0 + 500, Y0 + 100)],
                           crs=METRIC_CRS)
    layers = {"grids": g, "addresses": a, "facilities": f, "roads": roads, "committees": com}
    return {k: v.to_crs("EPSG:4326") for k, v in layers.items()}


def _by_code(result: coverage.CoverageResult, level: str = "grid") -> dict[str, dict]:
    return {r["code"]: r for r in result.records(level)}


@pytest.mark.parametrize("mode", ["straight", "walk"])
def test_each_required_kind_within_its_own_distance(mode: str) -> None:
    result = coverage.analyse(hand_city(), requirements=HAND_REQUIREMENTS, mode=mode)
    assert result.params.rule == "all" and result.params.target_pct == coverage.KIND_TARGET_PCT == 90.0
    rows = _by_code(result)
    assert {c: r["missing"] for c, r in rows.items()} == {
        "G1": ["tcm_clinic"], "G2": [], "G3": ["library"], "G4": ["library"], "G5": []}
    assert {c: r["below_target"] for c, r in rows.items()} == {
        "G1": True, "G2": False, "G3": True, "G4": True, "G5": False}
    assert {c: (r["pct_library"], r["pct_tcm_clinic"]) for c, r in rows.items()} == {
        "G1": (100.0, 0.0), "G2": (90.0, 100.0), "G3": (0.0, 100.0), "G4": (0.0, 100.0), "G5": (None, None)}
    # residents with every kind in reach: only G2's first address (18 of 20)
    assert {c: r["residents_pct"] for c, r in rows.items()} == {
        "G1": 0.0, "G2": 90.0, "G3": 0.0, "G4": 0.0, "G5": None}
    assert rows["G2"]["residents_uncovered"] == 2 and rows["G2"]["dist_max_m"] == pytest.approx(200.0, abs=0.2)  # farthest kind: the clinic
    assert list(result.underserved()["code"]) == ["G1", "G3", "G4"]
    # committees: A has 28 of 30 near the library but 20 of 30 near the clinic; B has no library
    com = _by_code(result, "committee")
    assert (com["A"]["missing"], com["B"]["missing"]) == (["tcm_clinic"], ["library"])
    assert com["A"]["pct_library"] == pytest.approx(93.33) and com["A"]["pct_tcm_clinic"] == pytest.approx(66.67)
    city = result.summary()
    assert (city["pct_library"], city["pct_tcm_clinic"], city["residents_pct"]) == (56.0, 80.0, 36.0)
    assert city["missing"] == ["library", "tcm_clinic"]
    assert [(k["category"], k["distance_m"], k["residents_pct"], k["units_missing"]) for k in result.kinds()] == [
        ("library", 120.0, 56.0, 2), ("tcm_clinic", 220.0, 80.0, 1)]
    body = json.loads(result.map_json())
    assert body["underserved_count"] == 3 and body["underserved"][0]["missing"] in (["tcm_clinic"], ["library"])
    assert body["parameters"]["requirements"] == [{"category": "library", "distance_m": 120.0},
                                                  {"category": "tcm_clinic", "distance_m": 220.0}]
    assert {f["properties"]["code"]: f["properties"]["missing"] for f in body["units"]["features"]}["G1"] == ["tcm_clinic"]


def test_the_pooled_rule_would_call_the_same_city_served() -> None:
    """The old "any of" reading: every grid has one of the two within 220 m, so nothing is underserved."""
    pooled = coverage.analyse(hand_city(), ["library", "tcm_clinic"], 220, target_pct=90)
    assert pooled.params.rule == "any" and pooled.underserved().empty
    assert all(r["missing"] == [] for r in pooled.records())
    assert pooled.kinds() == [] and pooled.kind_columns == []
    below = coverage.analyse(hand_city(), ["library"], 120, target_pct=90)
    assert {c: r["missing"] for c, r in _by_code(below).items()} == {
        "G1": [], "G2": [], "G3": ["library"], "G4": ["library"], "G5": []}


def test_target_rule_and_no_target() -> None:
    strict = coverage.analyse(hand_city(), requirements=HAND_REQUIREMENTS, strict=True)
    assert _by_code(strict)["G2"]["missing"] == ["library"]  # 90% is not above 90%
    lenient = coverage.analyse(hand_city(), requirements=HAND_REQUIREMENTS, target_pct=50)
    assert _by_code(lenient, "city")["city"]["missing"] == []  # 56% and 80% both reach 50%
    none = coverage.analyse(hand_city(), requirements="library:120,tcm_clinic:220", target_pct=None)
    assert none.underserved().empty and all(r["missing"] == [] for r in none.records())
    assert _by_code(none)["G1"]["pct_tcm_clinic"] == 0.0


def test_area_within_reach_of_every_kind() -> None:
    result = coverage.analyse(hand_city(), requirements=HAND_REQUIREMENTS)
    lib = shapely.Point(X0 + 50, Y0 + 50).buffer(120, quad_segs=512)
    tcm = shapely.Point(X0 + 350, Y0 + 50).buffer(220, quad_segs=512)
    both = lib.intersection(tcm)
    for code, x in ((c, x) for c, x, _ in HAND_GRIDS):
        cell = shapely.box(X0 + x, Y0, X0 + x + 100, Y0 + 100)
        got = result.grids.set_index("code").loc[code, "area_covered_m2"]
        assert got == pytest.approx(cell.intersection(both).area, abs=5.0), code
    assert result.service_area(result.metric_crs).area == pytest.approx(both.area, rel=2e-3)


def test_parking_spaces_per_100_households_are_kept() -> None:
    result = coverage.analyse(hand_city(), preset="circle_10min")
    rows = _by_code(result)
    assert rows["G3"]["capacity"] == 30 and rows["G3"]["spaces_per_100_households"] == 600.0
    assert rows["G1"]["spaces_per_100_households"] == 0.0 and rows["G5"]["spaces_per_100_households"] is None
    assert result.summary()["spaces_per_100_households"] == 142.86  # 30 spaces for 21 households
    # the car park is within 500 m of everyone; no bus stop or study room anywhere
    assert {c: r["missing"] for c, r in rows.items()} == {
        "G1": ["bus_stop", "study_room"], "G2": ["bus_stop", "study_room"], "G3": ["bus_stop", "study_room"],
        "G4": ["bus_stop", "study_room"], "G5": []}
    assert result.summary()["pct_parking"] == 100.0 and result.summary()["pct_bus_stop"] == 0.0


def test_presets_name_their_kinds_distances_and_standards() -> None:
    circle = coverage.PRESETS["circle_15min"].to_dict()
    assert [(r["category"], r["distance_m"]) for r in circle["requirements"]] == [
        ("library", 1000.0), ("senior_university", 1000.0), ("tcm_clinic", 1000.0)]
    assert [(r["category"], r["distance_m"]) for r in coverage.PRESETS["circle_10min"].to_dict()["requirements"]] == [
        ("bus_stop", 500.0), ("parking", 500.0), ("study_room", 500.0)]
    assert {s["key"] for s in circle["standards"]} >= {"gb50180_circles", "gridmap_kind_target"}
    for p in coverage.PRESETS.values():
        assert p.requirements and set(p.standards) <= set(coverage.STANDARDS)
        assert all(r.standard in coverage.STANDARDS for r in p.requirements)
    for s in coverage.STANDARDS.values():
        assert s.zh and s.en and s.document and (s.gridmap_choice == (s.document == "gridmap"))
    assert coverage.STANDARDS["gb50180_circles"].values["circle_15min_m"] == 1000.0
    params = coverage.make_params(preset="circle_15min")
    assert params.label("zh") == "15分钟生活圈 直线" and params.label("en") == "15-minute living circle straight line"
    assert coverage.make_params(requirements={"library": 1000, "senior_university": 1000,
                                              "tcm_clinic": 1000}).preset == "circle_15min"


@pytest.mark.parametrize("bad", ["library", "library:0", "library:100,library:200", "nope:100", ""])
def test_bad_requirements_are_refused(bad: str) -> None:
    with pytest.raises(coverage.CoverageError):
        coverage.make_params(requirements=bad)
    with pytest.raises(coverage.CoverageError):
        coverage.make_params(preset="circle_99min")


def test_missing_names() -> None:
    assert coverage.missing_names("library,tcm_clinic") == "图书馆分馆、中医馆"
    assert coverage.missing_names(["library"], "en") == "Library branch"
    assert coverage.missing_names("") == ""
