"""Home map at 613, 6,130 and 30,650 grids in Chromium: the GeoJSON path against vector tiles, both in one run.

Run: .venv/bin/python benchmarks/bench_tiles.py [--copies 1 10 50] [--out /tmp/gridmap-bench-cities]

Each city is the demo city (geodata/) tiled side by side ``copies`` times (every layer, codes suffixed
``-k``), written once as a plain GeoJSON folder under ``--out``. For each city and each path
(``GRIDMAP_VECTOR_TILES_MIN_GRIDS`` set very high: the one-payload GeoJSON path; set to 0: tiles) a real
``gridmap serve`` is started and Debian Chromium opens the home map twice, each time in a fresh browser
context (empty cache): the first visit finds the server cold, the second warm. Per visit it prints the time
to first polygons (the ``gridmap:grids-drawn`` mark: every grid added on the GeoJSON path, the first tiled
layer fully loaded on the tiled path, since navigation start), the bytes transferred for the first view
(everything, and data only: without /static/), the median repaint after a pan of a third of the window and
after a zoom in by one (at the opening view, and at the zoom the grids show from on the tiled path), and the
server's resident memory (VmRSS and its peak VmHWM) after both visits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: Layers copied into each generated city.
LAYERS = ("divisions", "committees", "grids", "facilities", "addresses", "roads")

#: Waits in the page until the map's tile layers (if any) have loaded, then two frames.
_SETTLE = """async () => {
  const gm = window.gridmap, layers = [gm.gridTiles, gm.committeeTiles, gm.divisionTiles, gm.roadTiles]
    .filter(l => l && gm.map.hasLayer(l) && (l.options.minZoom || 0) <= gm.map.getZoom());
  const t0 = performance.now();
  while (layers.some(l => l._loading) && performance.now() - t0 < 20000) await new Promise(r => setTimeout(r, 5));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""

#: Runs one move (pan or zoom) and times it until repainted.
_MOVE = """async (kind) => {
  const gm = window.gridmap, map = gm.map, size = map.getSize();
  const layers = () => [gm.gridTiles, gm.committeeTiles, gm.divisionTiles, gm.roadTiles]
    .filter(l => l && map.hasLayer(l) && (l.options.minZoom || 0) <= map.getZoom());
  const t0 = performance.now();
  if (kind === "pan") map.panBy([Math.round(size.x / 3), Math.round(size.y / 5)], {animate: false});
  else if (kind === "zoomin") map.setZoom(map.getZoom() + 1, {animate: false});
  else map.setZoom(map.getZoom() - 1, {animate: false});
  await new Promise(r => setTimeout(r, 0));
  while (layers().some(l => l._loading) && performance.now() - t0 < 20000) await new Promise(r => setTimeout(r, 2));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t0;
}"""


def make_city(copies: int, out: Path) -> Path:
    """Write (once) the demo city tiled ``copies`` times side by side as a GeoJSON folder; return it."""
    import geopandas as gpd
    import pandas as pd

    from app.geo.schema import METRIC_CRS

    dest = out / f"demo-x{copies}"
    if (dest / "grids.geojson").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    layers = {n: gpd.read_file(REPO / "geodata" / f"{n}.geojson") for n in LAYERS}
    metric = {k: v.to_crs(METRIC_CRS) for k, v in layers.items()}
    x0, y0, x1, y1 = metric["grids"].total_bounds
    dx, dy = (x1 - x0) * 1.02, (y1 - y0) * 1.02
    cols = max(1, round(copies ** 0.5 * 1.4))
    for name, gdf in metric.items():
        parts = []
        for k in range(copies):
            g = gdf.copy()
            g["geometry"] = g.geometry.translate((k % cols) * dx, (k // cols) * dy)
            if copies > 1:
                for col in ("code", "committee_code", "division_code", "grid_code", "id"):
                    if col in g:
                        g[col] = g[col].astype(str) + f"-{k}"
            parts.append(g)
        big = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=METRIC_CRS).to_crs("EPSG:4326")
        big.to_file(dest / f"{name}.geojson", driver="GeoJSON")
    return dest


def _rss(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    val = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith(("VmRSS", "VmHWM"))}
    return int(val["VmRSS"]) / 1024, int(val["VmHWM"]) / 1024


def _visit(browser: object, base: str, grid_zoom: int | None) -> dict[str, float]:
    """One visit in a fresh context: first polygons, bytes, pan and zoom repaint."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 850}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(base + "/")
    page.wait_for_selector("body[data-gridmap-ready]", state="attached", timeout=120000)
    page.evaluate(_SETTLE)
    page.wait_for_timeout(300)
    first = page.evaluate("performance.getEntriesByName('gridmap:grids-drawn')[0].startTime")
    entries = page.evaluate("""() => [performance.getEntriesByType('navigation')[0],
        ...performance.getEntriesByType('resource')].map(e => [e.name, e.transferSize])""")
    total = sum(size for _name, size in entries)
    data = sum(size for name, size in entries if "/static/" not in name)
    out = {"first_ms": first, "bytes_all": total, "bytes_data": data, "zoom": page.evaluate("gridmap.map.getZoom()")}
    pans = [page.evaluate(_MOVE, "pan") for _ in range(3)]
    zooms = []
    for _ in range(2):
        zooms.append(page.evaluate(_MOVE, "zoomin"))
        page.evaluate(_MOVE, "zoomout")
    out["pan_ms"], out["zoom_ms"] = statistics.median(pans), statistics.median(zooms)
    if grid_zoom is not None and grid_zoom > out["zoom"]:
        page.evaluate(f"gridmap.map.setZoom({grid_zoom}, {{animate: false}})")
        page.evaluate(_SETTLE)
        out["pan_grid_ms"] = statistics.median([page.evaluate(_MOVE, "pan") for _ in range(3)])
        out["zoom_grid_ms"] = page.evaluate(_MOVE, "zoomin")
    ctx.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gridmap-bench-cities")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from app.geo import tiles
    from app.geo.dataset import Dataset
    from app.geo.geojson_store import FolderStore
    from tests import helpers
    from tests.web.browsing import ARGS, CHROMIUM

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for copies in args.copies:
            city = make_city(copies, args.out)
            n = len(Dataset(FolderStore(city)).layer("grids"))
            grid_zoom = tiles.zooms(Dataset(FolderStore(city)))["grids"]
            for path, threshold in (("geojson", 10**9), ("tiles", 0)):
                with tempfile.TemporaryDirectory() as inst:
                    srv = helpers.Server(Path(inst), city, VECTOR_TILES_MIN_GRIDS=str(threshold),
                                         RATELIMIT_ENABLED="0")
                    srv.start(timeout=900)
                    try:
                        cold = _visit(browser, srv.base, grid_zoom if path == "tiles" else None)
                        warm = _visit(browser, srv.base, grid_zoom if path == "tiles" else None)
                        rss, hwm = _rss(srv.proc.pid)
                    finally:
                        srv.stop()
                for visit, r in (("cold", cold), ("warm", warm)):
                    rows.append((n, path, visit, r, rss, hwm))
                    extra = (f"  at z{grid_zoom} (grids): pan {r['pan_grid_ms']:.0f} ms, zoom {r['zoom_grid_ms']:.0f} ms"
                             if "pan_grid_ms" in r else "")
                    print(f"{n:>6} grids  {path:7s} {visit:4s} server: first polygons {r['first_ms']:6.0f} ms  "
                          f"first view {r['bytes_all'] / 1e6:5.2f} MB (data {r['bytes_data'] / 1e6:5.2f} MB)  "
                          f"z{r['zoom']}: pan {r['pan_ms']:5.0f} ms, zoom {r['zoom_ms']:5.0f} ms{extra}  "
                          f"server RSS {rss:5.0f} MB (peak {hwm:5.0f})", flush=True)
        browser.close()
    base = {(path, visit): r["first_ms"] for n, path, visit, r, _rss_mb, _hwm in rows if n == rows[0][0]}
    print("\nfirst polygons relative to the smallest city on the same path and visit (target at 30,650: <= 1.5x)")
    for n, path, visit, r, _rss_mb, _hwm in rows:
        print(f"{n:>6} grids  {path:7s} {visit:4s} {r['first_ms'] / base[(path, visit)]:5.2f}x")


if __name__ == "__main__":
    main()
