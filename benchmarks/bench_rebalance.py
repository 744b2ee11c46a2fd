"""Benchmark grid rebalancing: the densest committee of the demo city and its whole division, against plain max-p.

Run: .venv/bin/python benchmarks/bench_rebalance.py [--data-dir geodata] [--households 300-500] [--time-limit 30]
Prints, from one run: the time of `rebalance` on the committee with the most households per grid (cold, with
spopt's import, and warm), the households per grid before and after (grids, in band, min/max/std, households
outside the band), and the same for each committee of its division; and, on the same road blocks, spopt's
MaxPHeuristic with the band's floor as threshold (its full solve, annealing included) with the cap only checked
afterwards, so the two sides' grids in band and times can be compared.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.geo import rebalance as rb  # noqa: E402
from app.geo._rebalance_solve import penalty  # noqa: E402
from app.geo._rebalance_units import build_units  # noqa: E402
from app.geo.dataset import Dataset  # noqa: E402
from app.geo.geojson_store import FolderStore  # noqa: E402


def _stats(hh: np.ndarray, band: tuple[int, int]) -> str:
    lo, hi = band
    inside = int(((hh >= lo) & (hh <= hi)).sum())
    miss = int(sum(penalty(float(h), lo, hi) for h in hh))
    return (f"{len(hh):3d} grids, {inside:3d} in band, min {int(hh.min()):4d}, max {int(hh.max()):4d}, "
            f"std {hh.std():6.1f}, outside band {miss:5d} households")


def densest(ds: Dataset) -> str:
    """The committee with the most households per grid."""
    g = ds.grids
    per = g.groupby(g["committee_code"].astype(str))["households"].agg(["sum", "size"])
    return str((per["sum"] / per["size"]).idxmax())


def plain_maxp(ds: Dataset, code: str, band: tuple[int, int], limit: int) -> tuple[float, np.ndarray] | None:
    """spopt's MaxPHeuristic on the committee's road blocks (floor only); None when it does not finish in time."""
    import libpysal
    from spopt.region import MaxPHeuristic

    com = ds.layer("committees")
    area = com[com["code"].astype(str) == code].geometry.iloc[0]
    g = ds.grids
    codes = set(g.loc[g["committee_code"].astype(str) == code, "code"].astype(str))
    addr = ds.layer("addresses")
    mine = addr[addr["grid_code"].astype(str).isin(codes)]
    roads = np.asarray(ds.layer("roads").geometry.values, dtype=object)
    units = build_units(area, roads, np.asarray(mine.geometry.values, dtype=object),
                        mine["households"].to_numpy(float), mine["residents"].to_numpy(float), ds.metric_crs,
                        band[1], fine=False)
    frame = pd.DataFrame({"households": units.households, "x": units.xy[:, 0], "y": units.xy[:, 1]})
    weights = libpysal.weights.W({i: sorted(n) for i, n in enumerate(units.neighbours)}, silence_warnings=True)

    def stop(*_: object) -> None:
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(limit)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.random.seed(0)  # spopt draws from numpy's global generator; seeded so runs can be compared
            model = MaxPHeuristic(frame, weights, ["x", "y"], "households", float(band[0]), top_n=2)
            model.solve()
    except TimeoutError:
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    seconds = time.perf_counter() - started
    labels = np.asarray(model.labels_)
    return seconds, np.array([units.households[labels == r].sum() for r in np.unique(labels)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="geodata")
    ap.add_argument("--households", default="300-500")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--maxp-limit", type=int, default=120, help="seconds plain max-p may run")
    args = ap.parse_args()
    band = rb.parse_band(args.households)
    ds = Dataset(FolderStore(args.data_dir))
    code = densest(ds)
    ds.grids  # noqa: B018 - read the layers before timing
    for layer in ("committees", "addresses", "roads", "facilities", "divisions"):
        ds.layer(layer)
    print(f"demo city: {len(ds.grids)} grids; band {rb.band_text(band)} households; time limit {args.time_limit:g} s")
    times = []
    for run in ("cold (spopt imported)", "warm"):
        t0 = time.perf_counter()
        result = rb.rebalance(ds, committee=code, band=band, time_limit=args.time_limit)
        times.append(time.perf_counter() - t0)
        print(f"rebalance {code} {result.scope_name}, {run}: {times[-1]:.2f} s (target <= 10 s)")
    print(f"  before: {_stats(result.before['households'].to_numpy(float), band)}")
    print(f"  after:  {_stats(result.after['households'].to_numpy(float), band)}")
    c = result.summary()["compactness"]
    print(f"  compactness (mean 4πA/P², square = 0.785): before {c['before']}, after {c['after']}")
    print(f"  all in band: {result.met}; units {result.summary()['units']}; {result.moved_addresses} of "
          f"{result.summary()['addresses']} addresses change grid")
    for reason in result.reasons():
        print(f"  reason: {reason}")
    plain = plain_maxp(ds, code, band, args.maxp_limit)
    if plain is None:
        print(f"plain spopt MaxPHeuristic on the same blocks: did not finish in {args.maxp_limit} s")
    else:
        print(f"plain spopt MaxPHeuristic on the same blocks (floor {band[0]}, cap unchecked): {plain[0]:.2f} s")
        print(f"  after:  {_stats(plain[1], band)}")
    division = str(ds.grids.loc[ds.grids["committee_code"].astype(str) == code, "division_code"].iloc[0])
    t0 = time.perf_counter()
    whole = rb.rebalance(ds, division=division, band=band, time_limit=max(args.time_limit, 60.0))
    seconds = time.perf_counter() - t0
    print(f"rebalance division {division} {whole.scope_name} ({len(whole.plans)} committees): {seconds:.2f} s")
    print(f"  before: {_stats(whole.before['households'].to_numpy(float), band)}")
    print(f"  after:  {_stats(whole.after['households'].to_numpy(float), band)}")
    for p in whole.plans:
        hh = p.grids["households"].to_numpy(float)
        print(f"    {p.code} {p.name}: {len(hh)} grids, {int(((hh >= band[0]) & (hh <= band[1])).sum())} in band, "
              f"units {p.units}, miss {p.miss}" + (f"; {p.reasons[0]['code']}" if p.reasons else ""))


if __name__ == "__main__":
    main()
