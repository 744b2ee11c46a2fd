"""Shared-border topology of the home-map payload: exact round trip, borders stored once, derived outlines."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from app.geo import mapdata
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore

ORIGIN = (98.2, 39.7)
STEP = 0.001  # lattice cell, degrees (about 85 m x 111 m)


def _vertex(i: int, j: int) -> tuple[float, float]:
    # a little wobble on the lattice, identical for neighbours since it depends on the indices only
    return ORIGIN[0] + 0.004 + i * STEP + 3e-6 * np.sin(j), ORIGIN[1] + 0.004 + j * STEP + 2e-6 * np.cos(i)


def _cell(i: int, j: int) -> shapely.Polygon:
    return shapely.Polygon([_vertex(i, j), _vertex(i + 1, j), _vertex(i + 1, j + 1), _vertex(i, j + 1)])


def _city() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """16 grids (2 x 2 cells each, one L-shaped pair) on an 8 x 8 lattice; 4 committees; 2 divisions."""
    grids, committee = [], []
    for gi in range(4):
        for gj in range(4):
            cells = [_cell(2 * gi + a, 2 * gj + b) for a in range(2) for b in range(2)]
            grids.append(shapely.coverage_union_all(cells))
            committee.append((gi // 2) * 2 + gj // 2)
    geoms = np.asarray(grids, dtype=object)
    committee = np.asarray(committee)
    return geoms, committee, committee // 2


def _rings_area(rings: list[np.ndarray]) -> shapely.Geometry:
    return mapdata.rings_geometry(rings, ORIGIN)


def _quantised(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda c: np.rint((c - ORIGIN) / mapdata.QUANTUM) * mapdata.QUANTUM + ORIGIN)


def _assert_same_area(a: shapely.Geometry, b: shapely.Geometry) -> None:
    assert shapely.hausdorff_distance(a, b) <= mapdata.QUANTUM
    assert shapely.symmetric_difference(a, b).area <= 1e-4 * max(b.area, 1e-12)


def test_round_trip_gives_back_the_simplified_quantised_grids() -> None:
    grids, _, _ = _city()
    simple = mapdata.simplify_coverage(grids)
    topo = mapdata.build_topology(simple, ORIGIN)
    wire = json.loads(json.dumps(mapdata.encode_topology(topo)))
    back = mapdata.decode_topology(wire)
    assert len(back.arcs) == len(topo.arcs)
    assert all(np.array_equal(a, b) for a, b in zip(back.arcs, topo.arcs, strict=True))
    assert np.array_equal(back.left, topo.left) and np.array_equal(back.right, topo.right)
    rings = mapdata.assemble_rings(back, np.arange(len(grids)))
    for geom, own in zip(simple, rings, strict=True):
        _assert_same_area(_rings_area(own), _quantised(geom))


def test_shared_borders_are_stored_once() -> None:
    grids, _, _ = _city()
    topo = mapdata.build_topology(mapdata.simplify_coverage(grids), ORIGIN)
    edges = [tuple(sorted((tuple(p), tuple(q)))) for arc in topo.arcs for p, q in zip(arc[:-1], arc[1:], strict=True)]
    assert len(edges) == len(set(edges)), "an edge is stored in more than one arc"
    shared = topo.right >= 0
    assert shared.sum() > 0 and np.all(topo.right[shared] != topo.left[shared])
    # interior borders are shared: stored vertices are far fewer than in per-polygon rings
    per_polygon = int(shapely.get_num_coordinates(grids).sum())
    assert sum(len(a) for a in topo.arcs) < 0.75 * per_polygon


@pytest.mark.parametrize("level", [1, 2])
def test_derived_outlines_are_the_union_boundaries(level: int) -> None:
    grids, committee, division = _city()
    groups = committee if level == 1 else division
    simple = mapdata.simplify_coverage(grids)
    topo = mapdata.build_topology(simple, ORIGIN)
    per_grid = [_rings_area(r) for r in mapdata.assemble_rings(topo, np.arange(len(grids)))]
    outlines = mapdata.assemble_rings(topo, groups, int(groups.max()) + 1)
    for k, rings in enumerate(outlines):
        union = shapely.coverage_union_all([g for g, grp in zip(per_grid, groups, strict=True) if grp == k])
        lines = shapely.multilinestrings([shapely.linearrings(np.vstack([r, r[:1]]) * mapdata.QUANTUM + ORIGIN)
                                          for r in rings])
        assert shapely.equals(lines, union.boundary)
        _assert_same_area(_rings_area(rings), union)


def test_holes_islands_and_multipolygons_round_trip() -> None:
    outer = shapely.box(98.21, 39.71, 98.22, 39.72)
    island = shapely.box(98.213, 39.713, 98.216, 39.716)
    ring_grid = outer.difference(island)
    two_parts = shapely.MultiPolygon([shapely.box(98.22, 39.71, 98.225, 39.715),
                                      shapely.box(98.23, 39.71, 98.235, 39.715)])
    geoms = np.asarray([ring_grid, island, two_parts], dtype=object)
    topo = mapdata.build_topology(geoms, ORIGIN)
    closed = [a for a in topo.arcs if (a[0] == a[-1]).all()]
    assert any(len(a) == 5 for a in closed), "the island border is one closed arc"
    island_arcs = [i for i, a in enumerate(topo.arcs) if len(a) == 5 and topo.right[i] >= 0]
    assert len(island_arcs) == 1, "the island's border is stored once, shared by both grids"
    for geom, rings in zip(geoms, mapdata.assemble_rings(topo, np.arange(3)), strict=True):
        _assert_same_area(_rings_area(rings), geom)


def test_gaps_overlaps_and_unshared_vertices_are_encoded_exactly() -> None:
    a = shapely.box(98.21, 39.71, 98.22, 39.72)
    b = shapely.box(98.22003, 39.71, 98.23, 39.72)  # a 3 m gap
    c = shapely.box(98.225, 39.715, 98.235, 39.725)  # overlaps b
    # an extra vertex on a border its neighbour does not have
    d = shapely.Polygon([(98.21, 39.72), (98.215, 39.72), (98.22, 39.72), (98.22, 39.73), (98.21, 39.73)])
    geoms = np.asarray([a, b, c, d, a], dtype=object)  # and a duplicate of a
    topo = mapdata.build_topology(geoms, ORIGIN)
    back = mapdata.decode_topology(json.loads(json.dumps(mapdata.encode_topology(topo))))
    for geom, rings in zip(geoms, mapdata.assemble_rings(back, np.arange(len(geoms))), strict=True):
        _assert_same_area(_rings_area(rings), geom)


def test_empty_and_degenerate_input() -> None:
    topo = mapdata.build_topology(np.asarray([], dtype=object), ORIGIN)
    assert topo.arcs == () and mapdata.encode_topology(topo)["n"] == []
    tiny = shapely.box(98.21, 39.71, 98.210001, 39.710001)  # collapses when quantised
    topo = mapdata.build_topology(np.asarray([tiny, shapely.box(98.21, 39.71, 98.22, 39.72)], dtype=object), ORIGIN)
    rings = mapdata.assemble_rings(topo, np.arange(2))
    assert rings[0] == [] and len(rings[1]) == 1


# --- the payload ---------------------------------------------------------------------------------


def test_payload_boundaries_come_from_the_grids(ds: Dataset) -> None:
    payload = json.loads(mapdata.payload_bytes(ds)[0])
    assert "topology" not in payload["committees"] and "topology" not in payload["divisions"]
    assert "geom" not in payload["grids"] and "fac_park" not in payload["grids"]["fields"]
    grids = payload["grids"]
    column = dict(zip(grids["fields"], grids["columns"], strict=True))
    topo = mapdata.decode_topology(grids["topology"])
    origin = tuple(payload["origin"])
    coms = ds.layer("committees")
    outlines = mapdata.assemble_rings(topo, np.asarray(column["committee"]), len(coms))
    for own, rings in zip(coms.geometry.values, outlines, strict=True):
        derived = mapdata.rings_geometry(rings, origin)
        assert shapely.hausdorff_distance(derived, own) < 5 * mapdata.QUANTUM
    # codes and names extending their committee's are sent as the extension
    assert payload["grids"]["prefixed"] == ["code", "name"]
    com = dict(zip(payload["committees"]["fields"], payload["committees"]["columns"], strict=True))
    codes = [com["code"][c] + s for c, s in zip(column["committee"], column["code"], strict=True)]
    names = [com["name"][c] + s for c, s in zip(column["committee"], column["name"], strict=True)]
    table = ds.layer("grids")
    assert codes == table["code"].tolist() and names == table["name"].tolist()
    # facilities point at their grid's row
    fac = dict(zip(payload["facilities"]["fields"], payload["facilities"]["columns"], strict=True))
    expected = ds.layer("facilities")["grid_code"].astype(str).tolist()
    assert [codes[g] if isinstance(g, int) else g for g in fac["grid"]] == expected


def test_payload_sends_full_codes_and_names_when_one_grid_breaks_the_rule(data_dir: Path) -> None:
    path = data_dir / "grids.geojson"
    grids = gpd.read_file(path)
    grids.loc[0, "name"] = '<b>"A&B"</b>'
    grids.to_file(path, driver="GeoJSON")
    payload = mapdata.home_payload(Dataset(FolderStore(data_dir)))
    assert payload["grids"]["prefixed"] == ["code"]
    assert payload["grids"]["columns"][1][0] == "&lt;b&gt;&quot;A&amp;B&quot;&lt;/b&gt;"


def test_payload_falls_back_to_own_geometry_when_grids_do_not_match(data_dir: Path) -> None:
    path = data_dir / "committees.geojson"
    coms = gpd.read_file(path)
    coms.loc[0, "geometry"] = coms.geometry.iloc[0].buffer(-0.0005)  # about 50 m inside its grids
    coms.to_file(path, driver="GeoJSON")
    ds = Dataset(FolderStore(data_dir))
    payload = mapdata.home_payload(ds)
    assert "topology" in payload["committees"] and "topology" not in payload["divisions"]
    topo = mapdata.decode_topology(payload["committees"]["topology"])
    own = mapdata.assemble_rings(topo, np.arange(len(coms)))
    shrunk = mapdata.rings_geometry(own[0], tuple(payload["origin"]))
    assert shapely.hausdorff_distance(shrunk, coms.geometry.iloc[0]) < 5 * mapdata.QUANTUM
