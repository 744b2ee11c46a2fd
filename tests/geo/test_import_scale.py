"""Imports at scale: a 20,000-grid tiling is checked exactly, with work that grows with the features, not their square.

No timings are asserted (the machine is shared): the tests count what the checks do instead. The
time and memory at 5k, 20k and 200k grids are in ``benchmarks/bench_import_scale.py``.
"""

from __future__ import annotations

import gc
import importlib.util
import json
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import affinity

from app.geo import importer, validate
from app.geo._import_checks import _copy_findings
from app.geo.findings import Finding, Report
from app.geo.memory_store import MemoryStore
from tests import helpers


def _bench() -> ModuleType:
    """The benchmark's module (not importable by name: ``benchmarks`` is no package), for its tilings."""
    spec = importlib.util.spec_from_file_location("bench_import_scale",
                                                  helpers.REPO / "benchmarks" / "bench_import_scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tiling = _bench().tiling
ROWS, COLS = 100, 200  # 20,000 grids in 40 committees


class _NoScan(dict):
    """A dict that may be looked up but not walked: walking it once per finding is the quadratic loop."""

    def _walk(self, *_: Any) -> Any:
        raise AssertionError("the labels were scanned")

    items = keys = values = __iter__ = _walk


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MemoryStore, dict[str, Any]]:
    """20,000 grids with five planted faults, and the committees they belong to."""
    grids, committees = tiling(ROWS, COLS)
    feats = grids["features"]
    planted = {
        "overlap": feats[505]["properties"]["code"],  # moved a third of a cell east, into its neighbour
        "gap": feats[7_250]["properties"]["code"],  # removed: a hole among its neighbours
        "outside": feats[19_999]["properties"]["code"],  # named after another committee
        "duplicate": feats[12_000]["properties"]["code"],  # given its neighbour's code
        "hidden": feats[3_000]["properties"]["code"],  # a zero-width space after the fourth digit
    }
    ring = feats[505]["geometry"]["coordinates"][0]
    feats[505]["geometry"]["coordinates"][0] = [[round(x + 0.0003, 6), y] for x, y in ring]
    feats[19_999]["properties"]["committee_code"] = feats[0]["properties"]["committee_code"]
    feats[12_000]["properties"]["code"] = feats[12_001]["properties"]["code"]
    code = feats[3_000]["properties"]["code"]
    feats[3_000]["properties"]["code"] = code[:4] + "\u200b" + code[4:]
    del feats[7_250]
    folder = tmp_path_factory.mktemp("scale")
    path = folder / "grids.geojson"
    path.write_text(json.dumps(grids))
    (folder / "committees.geojson").write_text(json.dumps(committees))
    context = MemoryStore({"committees": gpd.read_file(folder / "committees.geojson")})
    return path, context, planted


def test_20000_grids_give_exactly_the_planted_findings_and_work_in_proportion(big, monkeypatch):
    path, context, planted = big
    sizes: dict[str, list[int]] = {"intersection": [], "difference": []}
    for name in sizes:
        real = getattr(shapely, name)

        def spy(a, b, *args, _real=real, _name=name, **kwargs):
            sizes[_name].append(int(np.size(a)))
            return _real(a, b, *args, **kwargs)

        monkeypatch.setattr(shapely, name, spy)
    reprojections = 0
    real_to_crs = gpd.GeoSeries.to_crs

    def count_to_crs(self, *args, **kwargs):
        nonlocal reprojections
        reprojections += 1
        return real_to_crs(self, *args, **kwargs)

    monkeypatch.setattr(gpd.GeoSeries, "to_crs", count_to_crs)
    report = importer.prepare(path, "grids", context=context).report

    assert report.features == ROWS * COLS - 1
    errors = Counter(f.problem for f in report.errors)
    # the moved grid overlaps its east neighbour and leaves a strip open on its west: two gaps with the removed one
    assert errors == {"overlap": 1, "gap": 2, "outside_parent": 1, "duplicate_code": 1,
                      "hidden_characters": 1}, report.format_text()
    by_problem = {f.problem: f for f in report.errors}
    assert planted["overlap"] in by_problem["overlap"].feature + by_problem["overlap"].message
    assert planted["outside"] in by_problem["outside_parent"].feature
    assert "zero-width space (U+200B) at position 5" in by_problem["hidden_characters"].message
    assert all(f.place for f in report.errors if f.problem in ("overlap", "gap", "outside_parent"))
    # the work: pairs are intersected and children cut out of their parents only around the faults (of
    # about 60,000 pairs of neighbours and 20,000 children), and the layers are converted a fixed number
    # of times, however many features and findings there are
    assert sum(sizes["intersection"]) <= 50, sizes["intersection"]
    assert sum(sizes["difference"]) <= 10, sizes["difference"]
    assert reprojections <= 8


def test_copying_findings_looks_labels_up_instead_of_scanning_them():
    labels = _NoScan({f"{k:015d}": f"#{k + 1} ({k:015d})" for k in range(5_000)})
    issues = [Finding("error", "", f"overlaps {k + 1:015d} by 2.50 m²", f"{k:015d}", "98.1,39.6", "grids")
              for k in range(4_999)]
    report = Report("f")
    _copy_findings(issues, "overlap", labels, report, "error")
    assert len(report.errors) == 4_999
    first = report.errors[0]
    assert first.feature == "#1 (000000000000000)"
    assert first.message == "overlaps #2 (000000000000001) by 2.50 m²" and first.place == "98.1, 39.6"


def _brute_overlaps(gdf: gpd.GeoDataFrame, tolerance: float, crs: str) -> list[tuple[str, str, float]]:
    geoms = gdf.to_crs(crs).geometry.values
    codes = list(gdf["code"])
    return sorted((codes[a], codes[b], round(float(shapely.area(shapely.intersection(geoms[a], geoms[b]))), 2))
                  for a in range(len(geoms)) for b in range(a + 1, len(geoms))
                  if shapely.area(shapely.intersection(geoms[a], geoms[b])) > tolerance)


@pytest.mark.parametrize("seed", range(6))
def test_overlaps_match_every_pair_intersected(seed):
    """Skipping pairs whose edges match loses no overlap: moved, duplicated, nested, jittered and T-joined areas."""
    rng = np.random.default_rng(seed)
    grids, _ = tiling(8, 10)
    gdf = gpd.GeoDataFrame.from_features(grids["features"], crs="EPSG:4326")
    geoms = list(gdf.geometry.values)
    for k in rng.choice(len(geoms), 6, replace=False):
        kind = rng.integers(5)
        g = geoms[k]
        if kind == 0:
            geoms[k] = affinity.translate(g, *rng.uniform(-0.0005, 0.0005, 2))
        elif kind == 1:
            geoms[k] = geoms[(k + 1) % len(geoms)]  # a duplicate of a neighbour
        elif kind == 2:
            geoms[k] = affinity.scale(g, 0.5, 0.5)  # a hole around it, no overlap
        elif kind == 3:
            geoms[k] = shapely.set_precision(affinity.scale(g, 1.0 + rng.uniform(0, 0.02), 1.0), 1e-7)
        else:
            x0, y0, x1, y1 = g.bounds
            geoms[k] = shapely.Polygon([(x0, y0), (x1, y0), (x1, y1), ((x0 + x1) / 2, y1), (x0, y1)])  # T-joint
    gdf = gdf.set_geometry(geoms)
    crs = "EPSG:4542"
    found = sorted((f.feature, f.message.split()[1], float(f.message.split()[3]))
                   for f in validate.check_overlaps(gdf, "grids", tolerance=0.01, crs=crs))
    assert found == _brute_overlaps(gdf, 0.01, crs)


def test_nesting_reports_exactly_the_children_sticking_out():
    grids, committees = tiling(25, 40)  # two committees side by side, 20 columns each
    g = gpd.GeoDataFrame.from_features(grids["features"], crs="EPSG:4326")
    c = gpd.GeoDataFrame.from_features(committees["features"], crs="EPSG:4326")
    moved = [3, 19, 239]  # stays inside; crosses into the next committee; leaves the city on the east
    g.loc[moved, "geometry"] = [affinity.translate(x, 0.0004, 0.0) for x in g.geometry.values[moved]]
    issues = validate.check_nesting(g, c, "grids", "committees", "committee_code", crs="EPSG:4542")
    assert [i.feature for i in issues] == [g["code"].iloc[19], g["code"].iloc[239]]
    cell = float(g.to_crs("EPSG:4542").geometry.values[0].area)
    for i in issues:
        assert "lies outside its committee" in i.message and i.place
        assert float(i.message.split()[0]) == pytest.approx(0.4 * cell, rel=0.01)


def test_the_garbage_collector_is_paused_only_while_a_file_is_prepared(monkeypatch, tmp_path):
    seen = []

    def read(*_args):
        seen.append(gc.isenabled())
        raise RuntimeError("a reader that fails")

    monkeypatch.setattr(importer, "_read_any", read)
    path = tmp_path / "g.geojson"
    path.write_text("{}")
    with pytest.raises(RuntimeError):
        importer.prepare(path, "grids")
    assert seen == [False] and gc.isenabled()
