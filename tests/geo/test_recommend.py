"""Tests for site recommendation: the solvers against exhaustive search, validation and the result's figures."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.geo import recommend as rec
from app.geo._recommend_solve import greedy_mclp, solve_lscp, solve_mclp, solve_pmedian


def _case(seed: int, n_dem: int = 30, n_cand: int = 11, radius: float = 260.0):
    """A hand-sized random case: demand points with weights, candidates, all pairs within ``radius``."""
    rng = np.random.default_rng(seed)
    dem = rng.uniform(0, 1000, (n_dem, 2))
    cand = rng.uniform(0, 1000, (n_cand, 2))
    w = rng.integers(1, 60, n_dem).astype(float)
    d = np.hypot(*(dem[:, None, :] - cand[None, :, :]).transpose(2, 0, 1))
    di, ci = np.nonzero(d <= radius)
    return w, d, di, ci, d[di, ci]


def _covered(w, di, ci, chosen) -> float:
    hit = np.isin(ci, list(chosen))
    return float(w[np.unique(di[hit])].sum())


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_mclp_matches_exhaustive_search(seed, p):
    w, d, di, ci, dist = _case(seed)
    sol = solve_mclp(w, di, ci, d.shape[1], p, 10)
    best = max(_covered(w, di, ci, c) for c in itertools.combinations(range(d.shape[1]), p))
    assert sol.status == "optimal"
    assert len(sol.chosen) <= p
    assert _covered(w, di, ci, sol.chosen) == pytest.approx(best)
    assert _covered(w, di, ci, greedy_mclp(w, di, ci, d.shape[1], p)) <= best + 1e-9


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_lscp_matches_exhaustive_search(seed):
    w, d, di, ci, dist = _case(seed, n_dem=25, n_cand=10, radius=330.0)
    coverable = set(np.unique(di).tolist())
    sol = solve_lscp(w, di, ci, d.shape[1], 10)
    covers = {c: set(di[ci == c].tolist()) for c in range(d.shape[1])}
    fewest = next(k for k in range(1, d.shape[1] + 1) for combo in itertools.combinations(range(d.shape[1]), k)
                  if set().union(*(covers[c] for c in combo)) == coverable)
    assert set().union(*(covers[c] for c in sol.chosen)) == coverable
    assert len(sol.chosen) == fewest


@pytest.mark.parametrize("seed", [8, 9])
@pytest.mark.parametrize("p", [1, 2])
def test_pmedian_matches_exhaustive_search(seed, p):
    w, d, di, ci, dist = _case(seed, n_dem=20, n_cand=9, radius=5000.0)
    existing = np.minimum(np.random.default_rng(seed).uniform(150, 600, len(w)), 5000)
    sol = solve_pmedian(w, existing, di, ci, dist, d.shape[1], p, 10, far_m=10000)

    def cost(chosen):
        return float((w * np.minimum(existing, d[:, list(chosen)].min(axis=1))).sum())

    best = min(cost(c) for c in itertools.combinations(range(d.shape[1]), p))
    assert cost(sol.chosen) == pytest.approx(best)


def test_nothing_to_cover_is_empty():
    sol = solve_mclp(np.ones(3), np.zeros(0, dtype=int), np.zeros(0, dtype=int), 4, 2, 5)
    assert sol.chosen == [] and sol.status == "empty"


def test_recommend_on_mini_city(ds):
    params = rec.make_params("bus_stop", 300, 2, time_limit_s=10, spacing_m=50)
    result = rec.recommend(ds, params)
    k = result.kinds()[0]
    assert k["sites"] <= 2
    assert k["covered_after"] - k["covered_before"] == k["newly_covered"]
    assert result.sites["residents_new"].sum() == k["newly_covered"]
    grid = result.table("grid")
    assert grid["newly_covered"].sum() == k["newly_covered"]
    assert (grid["covered_after"] >= grid["covered_before"]).all()
    feats = result.geojson()["features"]
    assert sum(f["properties"]["kind"] == "site" for f in feats) == k["sites"]


def test_recommend_lscp_covers_everyone_reachable(ds):
    result = rec.recommend(ds, rec.make_params("bus_stop", 300, None, objective="lscp", candidates="addresses",
                                               time_limit_s=10))
    k = result.kinds()[0]
    assert k["covered_after"] + k["unreachable_residents"] == k["residents"]


def test_candidate_file_gcj02(ds, tmp_path):
    lon, lat = ds.layer("addresses").geometry.iloc[0].x, ds.layer("addresses").geometry.iloc[0].y
    from app.geo.crs import wgs84_to_gcj02

    glon, glat = wgs84_to_gcj02(lon, lat)
    f = tmp_path / "c.csv"
    f.write_text(f"name,lon,lat\nA,{glon},{glat}\nB,{glon + 0.001},{glat}\n", encoding="utf-8")
    result = rec.recommend(ds, rec.make_params("park", 300, 1, candidates="file", candidate_file="c.csv",
                                               crs="gcj02", time_limit_s=10), f)
    assert result.candidates_count == 2
    if len(result.sites):
        assert result.sites["name"].iloc[0] in ("A", "B")


@pytest.mark.parametrize("kwargs, word", [
    ({"category": "nope", "radius_m": 500}, "unknown category"),
    ({"category": "bus_stop", "radius_m": 0}, "radius must be"),
    ({"category": "bus_stop", "radius_m": -5}, "radius must be"),
    ({"category": "bus_stop", "radius_m": 500, "add": 0}, "add must be"),
    ({"category": "bus_stop", "radius_m": 500, "objective": "x"}, "unknown objective"),
])
def test_bad_parameters(kwargs, word):
    with pytest.raises(rec.RecommendError, match=word) as e:
        rec.make_params(**kwargs)
    assert e.value.status == 400


def test_more_sites_than_candidates(ds, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("lon,lat\n98.29,39.77\n", encoding="utf-8")
    with pytest.raises(rec.RecommendError, match="at most the number of candidate"):
        rec.recommend(ds, rec.make_params("park", 300, 3, candidates="file", candidate_file="c.csv"), f)
    empty = tmp_path / "e.csv"
    empty.write_text("lon,lat\n", encoding="utf-8")
    with pytest.raises(rec.RecommendError, match="no points"):
        rec.recommend(ds, rec.make_params("park", 300, 1, candidates="file", candidate_file="e.csv"), empty)


def test_walk_pairs_match_the_network(ds):
    """Walking distances of the pairs equal coverage's walking distance from each single candidate."""
    from app.geo._coverage_distances import walk_network
    from app.geo._coverage_sources import prepared_city
    from app.geo._recommend_candidates import address_candidates, pairs_within, road_candidates

    city = prepared_city(ds)
    net = walk_network(city)
    cand = road_candidates(city, 200.0)[::7][:6]
    dem = address_candidates(city)[:200]
    di, ci, dist = pairs_within(city, dem, cand, 800.0, "walk")
    assert len(di) > 0
    straight = np.hypot(*(dem[di] - cand[ci]).T)
    assert (dist >= straight - 1e-6).all()
    for j in range(len(cand)):
        src = net.snap(cand[j:j + 1])
        want = net.distances(net.node_distances(src), src, net.snap(dem))
        got = np.full(len(dem), np.inf)
        got[di[ci == j]] = dist[ci == j]
        near = want <= 800.0
        assert np.allclose(got[near], want[near])
        assert np.isinf(got[~near]).all()


def test_walk_mode_recommendation(ds):
    result = rec.recommend(ds, rec.make_params("bus_stop", 300, 1, mode="walk", spacing_m=100, time_limit_s=10))
    k = result.kinds()[0]
    assert k["sites"] <= 1 and k["covered_after"] >= k["covered_before"]


def test_nothing_uncovered_and_time_limit_are_said(ds):
    from app.geo._recommend_export import notes

    result = rec.recommend(ds, rec.make_params("bus_stop", 5000, 1, time_limit_s=10))
    k = result.kinds()[0]
    assert k["nothing_uncovered"] and k["sites"] == 0 and k["status"] == "empty"
    assert any("无需新增" in n for n in notes(result, "zh"))
    assert any("no site is needed" in n for n in notes(result, "en"))
    result.runs[0].summary.update(status="time_limit", gap_pct=1.5)
    assert any("时限" in n and "1.5%" in n for n in notes(result, "zh"))
    assert any("best found" in n and "1.5%" in n for n in notes(result, "en"))
