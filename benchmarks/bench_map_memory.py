"""Server memory of the home map at 613, 6,130 and 30,650 grids: this tree against an earlier commit, in one run.

Run: .venv/bin/python benchmarks/bench_map_memory.py [--base ac01a39] [--copies 1 10 50] [--out DIR]

Each city is the demo city tiled ``copies`` times (``bench_tiles.make_city``, written once under ``--out``).
For each side a real ``gridmap serve`` (the default ``VECTOR_TILES_MIN_GRIDS``; ``WORKERS=1``: one waitress process,
so the serving process is the one measured) is started on the city and the server's resident memory (VmRSS, and its peak VmHWM) is read after start-up, after Chromium opened the home map
(the page, its payload and the tiles of the first view, in a fresh context at 1366x850), after one Chinese
search (an address of the city), after one point lookup, and "settled": left alone until the memory holds still
(within 1 MiB for 5 s; the tiles cut ahead in the background and their tile layers included). It also prints how long start-up and the first
search took. The earlier commit runs from a ``git archive`` export of ``--base``.

On the cities of ``--default-serve`` (default: 50 copies) each side is also started as ``gridmap serve``
runs by default (``WORKERS=0``: one worker per core; granian where the tree has it), and the same steps
read the total PSS of the server and all its processes (shared pages split between them), for a figure
comparable with the one-process rows; its peak is the largest VmHWM among them.

With ``--lookups N`` each side also times single lookups in a child process of its tree on the same city
(no server): CPU microseconds per ``locate_point`` (grid, answer and nearest address) and per
``nearest_address`` over N points (grid centres and random points around the city), best of three rounds,
and the process's RSS growth for the address structures those two build.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

#: Waits until the map's tile layers (if any) have loaded.
_SETTLE = """async () => {
  const gm = window.gridmap, layers = [gm.gridTiles, gm.committeeTiles, gm.divisionTiles, gm.roadTiles]
    .filter(l => l && gm.map.hasLayer(l) && (l.options.minZoom || 0) <= gm.map.getZoom());
  const t0 = performance.now();
  while (layers.some(l => l._loading) && performance.now() - t0 < 60000) await new Promise(r => setTimeout(r, 5));
}"""


def _get(url: str, timeout: float = 600) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def _probe(city: Path) -> tuple[str, float, float]:
    """An address of the city and a point inside its first grid."""
    import geopandas as gpd

    addr = gpd.read_file(city / "addresses.geojson", rows=200, ignore_geometry=True)
    grids = gpd.read_file(city / "grids.geojson", rows=1)
    p = grids.geometry.iloc[0].representative_point()
    return str(addr["address"].iloc[137]), p.x, p.y


#: Run in a child process of one side's tree: argv = city, points; prints one JSON line.
_LOOKUPS = """
import json, sys, time
import numpy as np
from app.geo._geojson_folder import FolderStore
from app.geo.dataset import Dataset, release_memory

def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024

ds = Dataset(FolderStore(sys.argv[1]))
ds.layer("grids"); ds.layer("addresses"); ds.grid_index
from app.geo._locate_reverse import nearest_address
from app.geo.locate import locate_point
release_memory()
before = rss()
g = ds.grids
rng = np.random.default_rng(7)
n = int(sys.argv[2])
x0, y0, x1, y1 = g.total_bounds
c = g.geometry.iloc[: n // 2].representative_point()
pts = list(zip(c.x, c.y)) + list(zip(rng.uniform(x0, x1, n - len(c)), rng.uniform(y0, y1, n - len(c))))
locate_point(ds, *pts[0]); nearest_address(ds, *pts[0])
release_memory()
grown = rss() - before
out = {"rss_lookup_structures": grown}
for name, f in (("locate_point", locate_point), ("nearest_address", nearest_address)):
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        for x, y in pts:
            f(ds, x, y)
        best = min(best, time.process_time() - t)
    out[name + "_us"] = best / len(pts) * 1e6
print(json.dumps(out))
"""


def _lookups(tree: Path, city: Path, n: int) -> dict[str, float]:
    """Time single lookups in a child process of ``tree`` (see :data:`_LOOKUPS`)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", _LOOKUPS, str(city), str(n)], cwd=tree, env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _tree_pids(pid: int) -> list[int]:
    """``pid`` and every process below it (a granian master's workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _pss_mib(pid: int) -> float:
    """Total PSS of ``pid`` and its descendants, MiB (shared pages counted once, split between their users)."""
    total = 0
    for p in _tree_pids(pid):
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:"))
    return total / 1024


def _side(browser: object, srv: object, query: str, lon: float, lat: float, pss: bool = False) -> dict[str, float]:
    """Start ``srv``, open the home map, search, look a point up; memory after each step.

    VmRSS of the serving process (``pss``: total PSS of the server and its workers instead); ``hwm``:
    its VmHWM (``pss``: the largest VmHWM of the processes).
    """
    def mem() -> float:
        return _pss_mib(srv.proc.pid) if pss else srv.rss_kib() / 1024

    t0 = time.perf_counter()
    srv.start(timeout=1800)
    out = {"start_s": time.perf_counter() - t0, "rss_start": mem()}
    ctx = browser.new_context(viewport={"width": 1366, "height": 850}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(srv.base + "/", timeout=600000)
    page.wait_for_selector("body[data-gridmap-ready]", state="attached", timeout=600000)
    page.evaluate(_SETTLE)
    ctx.close()
    out["rss_view"] = mem()
    t0 = time.perf_counter()
    found = json.loads(_get(srv.base + "/api/v1/search?" + urllib.parse.urlencode({"q": query, "limit": 5})))
    out["search_s"] = time.perf_counter() - t0
    out["search_hits"] = len(found.get("results", []))
    out["rss_search"] = mem()
    _get(srv.base + f"/api/v1/locate/point?lon={lon}&lat={lat}")
    out["rss_locate"] = mem()
    # settled: the server left alone until its memory holds still (within 1 MiB for 5 s, at most 120 s),
    # so that the tiles it cuts ahead in the background (and the tile layers they build) are counted
    last, still, t0 = out["rss_locate"], 0, time.perf_counter()
    while still < 5 and time.perf_counter() - t0 < 120:
        time.sleep(1)
        now = mem()
        still = still + 1 if abs(now - last) < 1 else 0
        last = now
    out["rss_settled"] = last
    out["hwm"] = srv.rss_kib("VmHWM") / 1024
    if pss:
        out["hwm"] = max(_hwm(p) for p in _tree_pids(srv.proc.pid))
        out["processes"] = len(_tree_pids(srv.proc.pid))
    return out


def _hwm(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith("VmHWM")), 0) / 1024


def _how_served(output: str) -> str:
    """What ``gridmap serve`` said it runs ("2 worker processes (granian)"), from its start-up line."""
    for line in output.splitlines():
        if "serving on" in line and " with " in line:
            return line.split(" with ", 1)[1].split("  (")[0]
    return "?"


def main() -> None:
    """Run both sides on every city and print one row each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="ac01a39")
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--sides", nargs="+", default=["base", "this"], choices=["base", "this"])
    ap.add_argument("--lookups", type=int, default=0, help="also time this many single lookups per side (0: no)")
    ap.add_argument("--skip-server", action="store_true", help="only the --lookups timings (no server, no browser)")
    ap.add_argument("--default-serve", nargs="*", type=int, default=[50], metavar="COPIES",
                    help="also run the default `gridmap serve` (WORKERS=0: granian, a worker per core) on these "
                         "cities and print the total PSS of the server and its workers (default: 50; none: skip)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gridmap-bench-cities")
    args = ap.parse_args()

    from bench_tiles import make_city
    from playwright.sync_api import sync_playwright

    from tests import helpers
    from tests.web.browsing import ARGS, CHROMIUM

    print("MiB of the serving process (VmRSS; WORKERS=1, one waitress process); peak = VmHWM at the end;")
    print("rows marked 'default serve': the default WORKERS=0 server, total PSS of it and its workers; peak = largest VmHWM")
    print(f"{'city':>10} {'side':5} {'start s':>8} {'start':>7} {'view':>7} {'search':>7} {'locate':>7} {'settled':>7} "
          f"{'peak':>7} {'1st search s':>13}")
    lookups: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gm-bench-mem-") as tmp, sync_playwright() as p:
        root = Path(tmp)
        base_tree = helpers.export_commit(args.base, root) if "base" in args.sides else None
        if base_tree is not None and not (base_tree / "app/web/static/vendor").exists():
            # vendored assets are never committed: the earlier tree uses the current ones
            (base_tree / "app/web/static/vendor").symlink_to(REPO / "app/web/static/vendor")
        browser = None if args.skip_server else p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for copies in args.copies:
            city = make_city(copies, args.out)
            query, lon, lat = _probe(city)
            for side in args.sides:
                tree = base_tree if side == "base" else REPO
                if args.lookups:
                    t = _lookups(tree, city, args.lookups)
                    lookups.append(f"{613 * copies:>10} {side:5} {t['locate_point_us']:15.0f} "
                                   f"{t['nearest_address_us']:18.0f} {t['rss_lookup_structures']:12.0f}")
                if browser is None:
                    continue
                for pss in (False, True) if copies in (args.default_serve or []) else (False,):
                    workers = {} if pss else {"WORKERS": "1"}
                    srv = helpers.Server(root / f"inst-{copies}-{side}-{int(pss)}", city, RATELIMIT_ENABLED="0",
                                         **workers)
                    if side == "base":
                        srv.args = [sys.executable, "-c", "import sys; from app.cli import main; "
                                    "sys.argv[0]='gridmap'; main()", *srv.args[1:]]
                        srv.env["PYTHONPATH"] = str(base_tree)
                        srv.cwd = base_tree
                    try:
                        r = _side(browser, srv, query, lon, lat, pss=pss)
                        how = _how_served(srv.output()) if pss else ""
                    finally:
                        srv.stop()
                    label = f"  (default serve, total PSS of {r['processes']} processes: {how})" if pss else ""
                    print(f"{613 * copies:>10} {side:5} {r['start_s']:8.1f} {r['rss_start']:7.0f} {r['rss_view']:7.0f} "
                          f"{r['rss_search']:7.0f} {r['rss_locate']:7.0f} {r['rss_settled']:7.0f} {r['hwm']:7.0f} {r['search_s']:13.2f}"
                          f"  ({r['search_hits']} hits){label}", flush=True)
        if browser is not None:
            browser.close()
    if lookups:
        print(f"\nSingle lookups, CPU us per call (best of 3 rounds of {args.lookups}); "
              "MiB the nearest-address structures added")
        print(f"{'city':>10} {'side':5} {'locate_point us':>15} {'nearest_address us':>18} {'MiB':>12}")
        print("\n".join(lookups))


if __name__ == "__main__":
    main()
