"""Home map vs GeoDataFrame.explore(): server build time and bytes transferred, both sides in one process.

Run: .venv/bin/python benchmarks/bench_map_explore.py [--data-dir geodata] [--repeat 5]

explore() side: grids + facilities (the brief's comparison; add --all-layers for divisions and committees
too), rendered to one HTML string. Our side: GET / and every data request the page triggers (the layer
payload), through the Flask test client; "cold" is the first request on a fresh app with the layers already
read (explore gets them read too), "warm" the median of repeats. Static assets (Leaflet, plugins, CSS) are
listed separately: explore() loads the same kind of files from CDNs, and browsers cache both.
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LAYERS = ("divisions", "committees", "grids", "facilities")


def _explore(gdfs: dict, all_layers: bool) -> str:
    names = LAYERS if all_layers else ("grids", "facilities")
    m = None
    for name in names:
        m = gdfs[name].explore(m=m, name=name)
    return m.get_root().render()


def _our_requests(client, gz: bool) -> tuple[int, int, list[str]]:
    """GET the home page and the data it fetches; return (page bytes, data bytes, static URLs)."""
    headers = {"Accept-Encoding": "gzip"} if gz else {}
    page = client.get("/", headers=headers)
    assert page.status_code == 200, page.status_code
    html = gzip.decompress(page.data).decode() if page.headers.get("Content-Encoding") == "gzip" else page.get_data(
        as_text=True)
    data_urls = re.findall(r'rel="preload" href="([^"]+)"', html)
    data_bytes = 0
    for url in data_urls:
        r = client.get(url, headers=headers)
        assert r.status_code == 200
        data_bytes += len(r.data)
    statics = sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html)))
    return len(page.data), data_bytes, statics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "geodata")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--all-layers", action="store_true", help="explore() all four layers, not just grids + facilities")
    args = parser.parse_args()

    from app import create_app
    from app.web import assets

    if assets.missing():
        sys.exit("vendor assets missing: run `gridmap assets install` first")

    with tempfile.TemporaryDirectory() as inst:
        config = {"TESTING": True, "DATA_DIR": str(args.data_dir), "INSTANCE_DIR": inst, "SECRET_KEY": "bench",
                  "BASEMAP": "none"}

        def fresh_app():
            app = create_app(config)
            ds = app.extensions["gridmap.data"].current()
            gdfs = {name: ds.layer(name) for name in LAYERS}  # read before timing, as for explore()
            return app, gdfs

        import folium  # noqa: F401 - shared by both sides: imported before either is timed

        app, gdfs = fresh_app()
        print(f"data: {args.data_dir} — " + ", ".join(f"{len(g)} {n}" for n, g in gdfs.items()))

        # explore(): the first call in the process (cold: its own imports such as mapclassify, first
        # renders), then the median of repeats (warm)
        t0 = time.perf_counter()
        ex_html = _explore(gdfs, args.all_layers)
        ex_cold = time.perf_counter() - t0
        ex_times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ex_html = _explore(gdfs, args.all_layers)
            ex_times.append(time.perf_counter() - t0)
        ex_warm = statistics.median(ex_times)
        ex_raw = len(ex_html.encode("utf-8"))
        ex_gz = len(gzip.compress(ex_html.encode("utf-8"), 6))

        # ours, cold: a fresh app (empty caches, templates not yet compiled), layers already read
        app, _ = fresh_app()
        client = app.test_client()
        t0 = time.perf_counter()
        page_raw, data_raw, statics = _our_requests(client, gz=False)
        cold = time.perf_counter() - t0
        warm_times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            _our_requests(client, gz=False)
            warm_times.append(time.perf_counter() - t0)
        warm = statistics.median(warm_times)
        page_gz, data_gz, _ = _our_requests(client, gz=True)
        static_raw = sum(len(client.get(u).data) for u in statics)
        static_gz = sum(len(client.get(u, headers={"Accept-Encoding": "gzip"}).data) for u in statics)

    ours_raw, ours_gz = page_raw + data_raw, page_gz + data_gz
    which = "all four layers" if args.all_layers else "grids + facilities"
    print(f"\nexplore() of {which}, rendered to HTML: cold {ex_cold * 1000:.0f} ms (first call), "
          f"warm {ex_warm * 1000:.0f} ms (median of {args.repeat}); {ex_raw / 1e3:.0f} kB raw, "
          f"{ex_gz / 1e3:.0f} kB gzip (+ CDN assets)")
    print(f"our home page + layer payload: cold {cold * 1000:.1f} ms (fresh app), warm {warm * 1000:.2f} ms "
          f"(median of {args.repeat})")
    print(f"  bytes: page {page_raw / 1e3:.1f} kB + data {data_raw / 1e3:.1f} kB = {ours_raw / 1e3:.1f} kB raw; "
          f"{page_gz / 1e3:.1f} + {data_gz / 1e3:.1f} = {ours_gz / 1e3:.1f} kB gzip")
    print(f"  static assets ({len(statics)} files, cacheable, served by the app): "
          f"{static_raw / 1e3:.0f} kB raw, {static_gz / 1e3:.0f} kB gzip")
    print("\nRATIOS")
    print(f"  build speed (explore / ours): cold vs cold {ex_cold / cold:.1f}x, warm vs warm {ex_warm / warm:.0f}x, "
          f"explore warm vs ours cold {ex_warm / cold:.1f}x   (target >= 10x)")
    print(f"  bytes (ours / explore): raw vs raw {ours_raw / ex_raw:.3f}, gzip vs gzip {ours_gz / ex_gz:.3f}, "
          f"gzip vs explore's raw file {ours_gz / ex_raw:.3f}   (target <= 0.333)")
    print(f"  first visit incl. our static assets (gzip): {(ours_gz + static_gz) / ex_raw:.3f} of explore's raw HTML, "
          f"which still needs its CDN assets")

if __name__ == "__main__":
    main()
