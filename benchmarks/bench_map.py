"""Home map at 613, 6,130 and 30,650 grids in Chromium (issue 13's four figures): GeoJSON against vector tiles.

Run: .venv/bin/python benchmarks/bench_map.py [SHOTS] [--copies 1 10 50] [--out /tmp/gridmap-bench-cities]

Each city is the demo city (geodata/) tiled side by side ``copies`` times (every layer, codes suffixed
``-k``), written once as a plain GeoJSON folder under ``--out``. For each city and each path
(``GRIDMAP_VECTOR_TILES_MIN_GRIDS`` set very high: the one-payload GeoJSON path; set to 0: tiles) a real
``gridmap serve`` is started and Debian Chromium opens the home map 1 + ``--visits`` times, each in a fresh browser
context (empty cache): the first visit finds the server cold, the next ``--visits`` (default 5) warm; the warm row
gives the median of their first polygons (and its range), the pans and zooms of the first. Per visit it prints the time
to first polygons (the ``gridmap:grids-drawn`` mark: every grid added on the GeoJSON path, the first tiled
layer fully loaded on the tiled path, since navigation start), the bytes transferred for the first view
(everything, and data only: without /static/), the median repaint after a pan of a third of the window and
after a zoom in by one (at the opening view, and at the zoom the grids show from on the tiled path), and the
server's resident memory (VmRSS and its peak VmHWM) after both visits. A repaint runs from the call that
pans or zooms until every tile layer shown at the new view has drawn its tiles, plus two animation frames.

It ends with the issue's table: first polygons at each size against the 613-grid GeoJSON map (target
<= 1.5x at 30,650), the slowest median pan and zoom repaint (<= 200 ms), the server's RSS (<= 400 MB) and the
first view's bytes (<= 1 MB), and saves a screenshot of each size's home map (1366x850) in SHOTS
(default test-artifacts/).
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
  const gm = window.gridmap, layers = [gm.tiles, gm.gridTiles, gm.committeeTiles, gm.divisionTiles, gm.roadTiles]
    .filter(l => l && gm.map.hasLayer(l) && (l.options.minZoom || 0) <= gm.map.getZoom());
  const t0 = performance.now();
  while (layers.some(l => l._loading) && performance.now() - t0 < 20000) await new Promise(r => setTimeout(r, 5));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""

#: Runs one move (pan or zoom) and times it until repainted.
_MOVE = """async (kind) => {
  const gm = window.gridmap, map = gm.map, size = map.getSize();
  const layers = () => [gm.tiles, gm.gridTiles, gm.committeeTiles, gm.divisionTiles, gm.roadTiles]
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

#: One move as :data:`_MOVE`, also returning what it fetched: tile requests, bytes, when the last tile arrived.
_MOVE_TRACE = """async (kind) => {
  const before = new Set(performance.getEntriesByType('resource').map(e => e.name + e.startTime));
  const t0 = performance.now();
  const ms = await (""" + _MOVE + """)(kind);
  const fresh = performance.getEntriesByType('resource').filter(e => !before.has(e.name + e.startTime)
    && e.name.includes('/tiles/') && e.startTime >= t0);
  const ends = fresh.map(e => e.responseEnd - t0), waits = fresh.map(e => e.responseStart - e.requestStart);
  return {ms, tiles: fresh.length, bytes: fresh.reduce((a, e) => a + e.encodedBodySize, 0),
          last_ms: ends.length ? Math.max(...ends) : 0,
          wait_ms: waits.length ? waits.reduce((a, b) => a + b, 0) / waits.length : 0};
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


def _visit(browser: object, base: str, grid_zoom: int | None, shot: Path | None = None,
           moves: bool = True) -> dict[str, float]:
    """One visit in a fresh context: first polygons, bytes, pan and zoom repaint (and a screenshot first).

    ``moves=False``: first polygons and bytes only (the further warm visits).
    """
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
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot))
    if not moves:
        ctx.close()
        return out
    pans = [page.evaluate(_MOVE, "pan") for _ in range(3)]
    zooms = []
    for _ in range(2):
        zooms.append(page.evaluate(_MOVE, "zoomin"))
        page.evaluate(_MOVE, "zoomout")
    out["pan_ms"], out["zoom_ms"] = statistics.median(pans), statistics.median(zooms)
    if grid_zoom is not None and grid_zoom > out["zoom"]:
        page.evaluate(f"() => {{ gridmap.map.setZoom({grid_zoom}, {{animate: false}}); }}")
        page.evaluate(_SETTLE)
        out["pan_grid_ms"] = statistics.median([page.evaluate(_MOVE, "pan") for _ in range(3)])
        out["zoom_grid_ms"] = page.evaluate(_MOVE, "zoomin")
    ctx.close()
    return out


def _profile(browser: object, base: str, grid_zoom: int, shot: Path | None = None) -> None:
    """Where a zoom in at the grids' zoom spends its time: tile fetches, features per tile, main-thread CPU by function.

    ``shot``: a screenshot of the grids' zoom (before the moves).
    """
    import urllib.request
    from collections import Counter

    import mapbox_vector_tile

    ctx = browser.new_context(viewport={"width": 1366, "height": 850}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(base + "/")
    page.wait_for_selector("body[data-gridmap-ready]", state="attached", timeout=120000)
    page.evaluate(_SETTLE)
    seen = page.evaluate("performance.getEntriesByType('resource').length")
    page.evaluate(f"() => {{ gridmap.map.setZoom({grid_zoom}, {{animate: false}}); }}")
    page.evaluate(_SETTLE)
    page.wait_for_timeout(500)
    urls = page.evaluate(f"performance.getEntriesByType('resource').slice({seen}).map(e => e.name)"
                         ".filter(u => u.includes('/tiles/'))")
    if shot is not None:
        page.screenshot(path=str(shot))
    for kind in ("pan", "zoomin", "zoomout"):
        page.evaluate(_MOVE_TRACE, kind)  # once to warm the server's tiles and the JIT
    cdp = ctx.new_cdp_session(page)
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 200})
    for kind in ("pan", "zoomin"):
        cdp.send("Profiler.start")
        r = page.evaluate(_MOVE_TRACE, kind)
        prof = cdp.send("Profiler.stop")["profile"]
        print(f"  profile {kind} at z{grid_zoom}: {r['ms']:.0f} ms, {r['tiles']} tile requests, "
              f"{r['bytes'] / 1e3:.0f} kB, last tile arrived at {r['last_ms']:.0f} ms, "
              f"mean server wait {r['wait_ms']:.1f} ms; main-thread CPU by function:", flush=True)
        dt = dict.fromkeys([n["id"] for n in prof["nodes"]], 0.0)
        for sid, delta in zip(prof["samples"], prof["timeDeltas"], strict=True):
            dt[sid] += delta / 1000
        by: Counter[str] = Counter()
        for n in prof["nodes"]:
            cf = n["callFrame"]
            by[f"{cf['functionName'] or '(anon)'} {cf['url'].rsplit('/', 1)[-1]}:{cf['lineNumber']}"] += dt[n["id"]]
        for name, ms in by.most_common(12):
            print(f"    {ms:7.1f} ms  {name}")
    counts: dict[str, list[int]] = {}
    for url in sorted(set(urls)):  # the tiles the grids' zoom opened with
        body = urllib.request.urlopen(url).read()  # noqa: S310 (the local server)
        for name, lay in mapbox_vector_tile.decode(body).items():
            counts.setdefault(name, []).append(len(lay["features"]))
    for name, c in counts.items():
        print(f"    at z{grid_zoom}: layer {name}: {len(c)} tiles, features per tile median "
              f"{statistics.median(c):.0f}, max {max(c)}")
    ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shots", nargs="?", type=Path, default=REPO / "test-artifacts",
                        help="folder for one screenshot of the home map per size (default test-artifacts/)")
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--paths", nargs="+", choices=("geojson", "tiles"), default=["geojson", "tiles"])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gridmap-bench-cities")
    parser.add_argument("--visits", type=int, default=5,
                        help="warm visits per server (the row shows the median; the first also pans and zooms)")
    parser.add_argument("--profile", action="store_true",
                        help="also show where a pan at the grids' zoom spends its time (tiles path)")
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
                if path not in args.paths:
                    continue
                with tempfile.TemporaryDirectory() as inst:
                    srv = helpers.Server(Path(inst), city, VECTOR_TILES_MIN_GRIDS=str(threshold),
                                         RATELIMIT_ENABLED="0")
                    srv.start(timeout=900)
                    try:
                        tiled = path == "tiles"
                        cold = _visit(browser, srv.base, grid_zoom if tiled else None)
                        shot = args.shots / f"bench-map-{n}-{path}.png"
                        warm = _visit(browser, srv.base, grid_zoom if tiled else None, shot)
                        firsts = [warm["first_ms"]] + [_visit(browser, srv.base, None, moves=False)["first_ms"]
                                                       for _ in range(args.visits - 1)]
                        warm["first_ms"] = statistics.median(firsts)
                        warm["spread"] = (min(firsts), max(firsts))
                        rss, hwm = _rss(srv.proc.pid)
                        if tiled and args.profile:
                            _profile(browser, srv.base, grid_zoom, args.shots / f"bench-map-{n}-{path}-z{grid_zoom}.png")
                    finally:
                        srv.stop()
                for visit, r in (("cold", cold), ("warm", warm)):
                    rows.append((n, path, visit, r, rss, hwm))
                    extra = (f"  at z{grid_zoom} (grids): pan {r['pan_grid_ms']:.0f} ms, zoom {r['zoom_grid_ms']:.0f} ms"
                             if "pan_grid_ms" in r else "")
                    spread = f" (median of {args.visits}: {r['spread'][0]:.0f}-{r['spread'][1]:.0f})" if "spread" in r else ""
                    print(f"{n:>6} grids  {path:7s} {visit:4s} server: first polygons {r['first_ms']:6.0f} ms{spread}  "
                          f"first view {r['bytes_all'] / 1e6:5.2f} MB (data {r['bytes_data'] / 1e6:5.2f} MB)  "
                          f"z{r['zoom']}: pan {r['pan_ms']:5.0f} ms, zoom {r['zoom_ms']:5.0f} ms{extra}  "
                          f"server RSS {rss:5.0f} MB (peak {hwm:5.0f})", flush=True)
        browser.close()
    _table(rows)


def _table(rows: list) -> None:
    """Print the issue's four figures per size and path against the smallest city's GeoJSON map."""
    base = {visit: r["first_ms"] for n, path, visit, r, _rss_mb, _hwm in rows
            if n == rows[0][0] and path == "geojson"}
    print(f"\nissue 13's figures (first polygons against the {rows[0][0]}-grid GeoJSON map on the same visit; "
          "repaint: the slowest median pan or zoom, at the opening zoom and at the grids' zoom)")
    print("| grids | path | server | first polygons | x smallest GeoJSON (<= 1.5) | pan/zoom repaint (<= 200 ms) "
          "| server RSS (<= 400 MB) | first view (<= 1 MB) |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for n, path, visit, r, rss, _hwm in rows:
        moves = [r[k] for k in ("pan_ms", "zoom_ms", "pan_grid_ms", "zoom_grid_ms") if k in r]
        ratio = r["first_ms"] / base[visit] if visit in base else float("nan")
        spread = f" ({r['spread'][0] / 1000:.2f}-{r['spread'][1] / 1000:.2f})" if "spread" in r else ""
        print(f"| {n:,} | {path} | {visit} | {r['first_ms'] / 1000:.2f} s{spread} | {ratio:.2f}x | {max(moves):.0f} ms "
              f"| {rss:.0f} MB | {r['bytes_all'] / 1e6:.2f} MB |")


if __name__ == "__main__":
    main()
