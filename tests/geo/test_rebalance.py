"""Grid rebalancing: the solver against exhaustive search, the band, contiguity, nesting, and the export's re-import."""

from __future__ import annotations

import functools
import io
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from app.geo import importer
from app.geo import rebalance as rb
from app.geo import rebalance_export as rx
from app.geo._rebalance_solve import connected, penalty, solve
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore, VersionedStore
from app.geo.validate import validate_folder

#: Mini city committees: 340 households in four grids, and 53 households in two.
BIG, SMALL = "620201001001", "620201102200"


def lattice(rows: int, cols: int) -> tuple[list[set[int]], np.ndarray]:
    """A rows × cols block committee: rook neighbours and block centres 100 m apart."""
    nb: list[set[int]] = [set() for _ in range(rows * cols)]
    for i in range(rows):
        for j in range(cols):
            u = i * cols + j
            if j + 1 < cols:
                nb[u].add(u + 1)
                nb[u + 1].add(u)
            if i + 1 < rows:
                nb[u].add(u + cols)
                nb[u + cols].add(u)
    xy = np.array([[j * 100.0, -i * 100.0] for i in range(rows) for j in range(cols)])
    return nb, xy


def exhaustive(w: np.ndarray, nb: list[set[int]], lo: float, hi: float) -> tuple[int, int]:
    """(most grids, fewest households outside the band) over every partition into contiguous groups.

    Most grids counts partitions with every group in the band only (0 when there is none). Both are
    exact, by dynamic programming over the set of units still free (at most 2**n sets).
    """
    n = len(w)
    groups: dict[int, list[frozenset[int]]] = {}
    for root in range(n):  # every connected set of units whose smallest member is root
        seen = {frozenset([root])}
        todo = [frozenset([root])]
        while todo:
            s = todo.pop()
            for u in s:
                for v in nb[u]:
                    if v > root and v not in s and (t := s | {v}) not in seen:
                        seen.add(t)
                        todo.append(t)
        groups[root] = list(seen)

    @functools.cache
    def least(free: frozenset[int]) -> tuple[float, float]:
        """(fewest households outside the band, minus the most grids within it) for the free units."""
        if not free:
            return 0.0, 0.0
        best_miss, best_count = float("inf"), float("inf")
        for s in groups[min(free)]:
            if s <= free:
                miss = penalty(float(w[list(s)].sum()), lo, hi)
                rest_miss, rest_count = least(free - s)
                best_miss = min(best_miss, miss + rest_miss)
                if miss == 0 and rest_miss == 0:
                    best_count = min(best_count, rest_count - 1)
        return best_miss, best_count

    miss, count = least(frozenset(range(n)))
    return (int(-count) if miss == 0 else 0), int(miss)


CASES = [
    # (weights of a 3 × 4 block committee, low, high)
    ([120, 80, 150, 100, 90, 200, 60, 110, 130, 70, 140, 100], 300, 500),
    ([50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50], 150, 200),
    ([300, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 300], 300, 500),
    ([600, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10], 300, 500),   # one block over the cap
    ([20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20], 300, 500),    # 240 households: under the floor
    ([100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100], 250, 260),  # no count of grids fits
]


@pytest.mark.parametrize(("weights", "lo", "hi"), CASES)
def test_solver_matches_exhaustive_search(weights: list[int], lo: int, hi: int) -> None:
    nb, xy = lattice(3, 4)
    w = np.asarray(weights, dtype=float)
    most, fewest_miss = exhaustive(w, nb, lo, hi)
    sol = solve(w, nb, xy, lo, hi, time_limit=20)
    k = int(sol.labels.max()) + 1
    assert sorted(set(sol.labels.tolist())) == list(range(k))
    for r in range(k):
        assert connected(set(np.flatnonzero(sol.labels == r).tolist()), nb)
    miss = sum(penalty(float(w[sol.labels == r].sum()), lo, hi) for r in range(k))
    assert sol.miss == miss
    assert not sol.timed_out
    if fewest_miss == 0:
        assert sol.miss == 0, "a split within the band exists, the solver must find one"
        assert k == most, "as many grids as the best split within the band"
    else:
        assert sol.miss > 0
        assert sol.miss == fewest_miss, "the honest miss is the least possible"


def test_parse_band() -> None:
    assert rb.parse_band(None) == rb.DEFAULT_BAND
    assert rb.parse_band("300-500") == (300, 500)
    assert rb.parse_band(" 250 – 400 ") == (250, 400)
    for bad in ("500-300", "abc", "300", "-5-10", "0-10", "300-500-700"):
        with pytest.raises(rb.RebalanceError) as e:
            rb.parse_band(bad)
        assert e.value.status == 400 and e.value.key == "rebalance"


def test_committee_within_band_contiguous_and_inside(ds: Dataset) -> None:
    result = rb.rebalance(ds, committee=BIG, band="100-200", time_limit=20)
    after = result.after
    assert result.met and len(after) >= 2
    assert after["households"].between(100, 200).all()
    com = ds.layer("committees")
    area = com[com["code"] == BIG].geometry.iloc[0]
    metric = gpd.GeoSeries([area, shapely.union_all(after.geometry.values)], crs=4326).to_crs(ds.metric_crs)
    assert abs(metric.iloc[0].area - metric.iloc[1].area) < 1.0  # the new grids tile the committee
    assert metric.iloc[0].buffer(0.01).contains(metric.iloc[1])
    assert (after.geometry.geom_type == "Polygon").all()  # each grid in one piece
    assert after["code"].str.startswith(BIG).all() and after["code"].str.len().eq(15).all()
    # the sums agree with the re-assigned addresses, and every address changed is counted
    addr = result.addresses
    for code, hh in zip(after["code"], after["households"], strict=True):
        assert addr.loc[addr["grid_code"] == code, "households"].sum() == hh
    before = ds.layer("addresses")
    assert result.moved_addresses == int((before["grid_code"] != addr["grid_code"]).sum())
    table = result.table()
    assert set(table["code"]) == set(result.before["code"]) | set(after["code"])
    assert int(table["in_band_after"].fillna(False).sum()) == len(after)
    s = result.summary()
    assert s["after"]["in_band"] == len(after) and s["before"]["grids"] == 4


def test_honest_miss_below_floor(ds: Dataset) -> None:
    result = rb.rebalance(ds, committee=SMALL, band="300-500", time_limit=5)
    assert not result.met
    assert len(result.after) == 1
    codes = [r["code"] for r in result.reasons()]
    assert "below_floor" in codes
    assert result.summary()["after"]["miss"] == 300 - 53
    assert "53" in rx.reason_text(result.reasons()[0], "zh")


def test_bad_scope(ds: Dataset, data_dir: Path) -> None:
    with pytest.raises(rb.RebalanceError) as e:
        rb.rebalance(ds, committee="999")
    assert e.value.status == 404
    with pytest.raises(rb.RebalanceError):
        rb.rebalance(ds)
    with pytest.raises(rb.RebalanceError) as e:
        rb.rebalance(ds, division="nope")
    assert e.value.status == 404
    addr = gpd.read_file(data_dir / "addresses.geojson")
    addr = addr[~addr["grid_code"].str.startswith(SMALL)]
    (data_dir / "addresses.geojson").write_text(addr.to_json(drop_id=True), encoding="utf-8")
    with pytest.raises(rb.RebalanceError, match="no addresses"):
        rb.rebalance(Dataset(FolderStore(data_dir)), committee=SMALL)


def test_export_imports_and_validates(tmp_path: Path, data_dir: Path) -> None:
    store = VersionedStore(tmp_path / "store")
    store.seed_from(data_dir)
    ds = Dataset(store.snapshot())
    result = rb.rebalance(ds, committee=BIG, band="100-200", time_limit=20)
    files = rx.write(result, tmp_path / "proposal.geojson")
    assert [f.name for f in files] == ["proposal.geojson", "proposal.addresses.geojson",
                                       "proposal.facilities.geojson"]
    for layer, path in zip(("grids", "addresses", "facilities"), files, strict=True):
        outcome = importer.run_import(store, layer, path, author="test")
        assert outcome.report.ok, outcome.report.format_text()
        assert not [f for f in outcome.report.findings if getattr(f, "problem", "") == "grid_mismatch"]
    stored = store.read("grids")
    assert set(stored.loc[stored["committee_code"] == BIG, "code"]) == set(result.after["code"])
    report = validate_folder(Path(store.snapshot().folder), expected_grids=None)
    assert report.ok, report.format_text()
    # the zip holds the same three layers and the steps
    with zipfile.ZipFile(io.BytesIO(rx.to_bytes(result, "zip"))) as zf:
        assert sorted(zf.namelist()) == ["README.txt", "addresses.geojson", "facilities.geojson", "grids.geojson"]
        assert "gridmap import grids" in zf.read("README.txt").decode()


def test_division_and_xlsx(ds: Dataset) -> None:
    from openpyxl import load_workbook

    result = rb.rebalance(ds, division="620201001", band="100-200", time_limit=20)
    assert {p.code for p in result.plans} == {"620201001001", "620201001002"}
    assert result.met
    wb = load_workbook(io.BytesIO(rx.to_bytes(result, "xlsx", lang="zh")))
    assert wb.sheetnames == ["调整前后网格", "概况", "社区（村）"]
    ws = wb["调整前后网格"]
    assert ws.cell(2, 4).value == "调整前户数"
    assert ws.max_row == 2 + len(result.table())


def test_renumber_follows_the_numbering_rule(tmp_path: Path, data_dir: Path) -> None:
    store = VersionedStore(tmp_path / "store")
    store.seed_from(data_dir)
    result = rb.rebalance(Dataset(store.snapshot()), committee=BIG, band="100-200", time_limit=20, renumber=True)
    after = result.after
    assert list(after["code"]) == [f"{BIG}{i:03d}" for i in range(1, len(after) + 1)]
    assert list(after["name"]) == [f"{result.scope_name}第{i}网格" for i in range(1, len(after) + 1)]
    files = rx.write(result, tmp_path / "renumbered.geojson")
    for layer, path in zip(("grids", "addresses", "facilities"), files, strict=True):
        assert importer.run_import(store, layer, path, author="test").report.ok
    report = validate_folder(Path(store.snapshot().folder), expected_grids=None)
    numbering = next(s for s in report.sections if s.key == "numbering")
    assert report.ok and not numbering.findings, report.format_text()
