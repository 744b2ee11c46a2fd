"""Importing the demo city's addresses as a standard-address list (标准地址库) against the same as GeoJSON."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.geo import importer  # noqa: E402
from app.geo.crs import wgs84_to_gcj02  # noqa: E402
from app.geo.geojson_store import FolderStore  # noqa: E402
from app.geo.tabular import write_table  # noqa: E402


def _sheet(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo addresses as an office's 标准地址库 (GCJ-02, no full address, grid code or id) and an alias file."""
    a = gpd.read_file(folder / "addresses.geojson")
    g = gpd.read_file(folder / "grids.geojson")
    c = gpd.read_file(folder / "committees.geojson")
    d = gpd.read_file(folder / "divisions.geojson")
    com = dict(zip(g["code"], g["committee_code"], strict=True))
    names = dict(zip(c["code"], c["name"], strict=True))
    div = dict(zip(c["code"], c["division_code"], strict=True))
    div_names = dict(zip(d["code"], d["name"], strict=True))
    road = (a["kind"] == "road").to_numpy()
    lon, lat = wgs84_to_gcj02(a.geometry.x.to_numpy(), a.geometry.y.to_numpy())
    df = pd.DataFrame({
        "街道": [div_names[div[com[x]]] for x in a["grid_code"]],
        "社区": [names[com[x]] for x in a["grid_code"]],
        "道路/小区": a["street"],
        "门牌号": np.where(road, a["number"].astype(str) + "号", ""),
        "楼栋": np.where(road, "", a["number"].astype(str)),
        "经度(GCJ-02)": np.round(lon, 7), "纬度(GCJ-02)": np.round(lat, 7),
        "户数": a["households"], "人口": a["residents"],
    })
    streets = sorted(set(a["street"]))
    aliases = pd.DataFrame({"标准名称": streets, "别名": [f"{s}旧称" for s in streets]})
    return df, aliases


def _time(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    """Time ``importer.prepare`` on the GeoJSON layer and on the 标准地址库 as CSV (GB18030) and XLSX."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=REPO / "geodata", help="the demo city folder (default geodata/)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case; the best is shown")
    args = ap.parse_args()
    if not (args.data / "addresses.geojson").exists():
        sys.exit(f"{args.data} has no addresses.geojson: run gridmap demo-data --out geodata")
    store = FolderStore(args.data)
    df, aliases = _sheet(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        csv, xlsx, alias = Path(tmp) / "标准地址库.csv", Path(tmp) / "标准地址库.xlsx", Path(tmp) / "别名.csv"
        csv.write_bytes(df.to_csv(index=False).encode("gb18030"))
        write_table(df, xlsx)
        write_table(aliases, alias)
        cases = [
            ("GeoJSON layer (today's format)", lambda: importer.prepare(args.data / "addresses.geojson", "addresses",
                                                                         context=store)),
            ("标准地址库 CSV GB18030 + aliases", lambda: importer.prepare(csv, "addresses", context=store,
                                                                       aliases=alias)),
            ("标准地址库 XLSX + aliases", lambda: importer.prepare(xlsx, "addresses", context=store, aliases=alias)),
        ]
        print(f"{len(df)} addresses, {len(aliases)} aliases; best of {args.repeat}")
        base = None
        for name, fn in cases:
            seconds, plan = _time(fn, args.repeat)
            base = base or seconds
            report = plan.report
            same = ""
            if plan.gdf is not None and name.startswith("标准"):
                want = gpd.read_file(args.data / "addresses.geojson")
                same = (f", addresses equal: {list(plan.gdf['address']) == list(want['address'])}, "
                        f"grid codes equal: {list(plan.gdf['grid_code']) == list(want['grid_code'])}")
            print(f"  {name:34} {seconds:6.2f} s  {len(df) / seconds:9.0f} rows/s  x{seconds / base:4.2f}  "
                  f"errors {len(report.errors)}, warnings {len(report.warnings)}{same}")


if __name__ == "__main__":
    main()
