"""Latency of single lookups through the HTTP API under the production server (waitress).

Starts `gridmap serve` on a free loopback port, warms it up, then sends requests from this process
over keep-alive connections (``--clients`` threads) and prints p50/p90/p99 per endpoint.
Targets (issue: Locate): point lookups p50 <= 2 ms and p99 <= 10 ms on this 2-core machine.

usage: python benchmarks/bench_locate_http.py [--n 5000] [--clients 1] [--data-dir geodata]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not come up")


def _run(port: int, paths: list[str], clients: int) -> np.ndarray:
    chunks = [paths[i::clients] for i in range(clients)]
    out: list[list[float]] = [[] for _ in range(clients)]

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for path in chunks[k]:
            t0 = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            out[k].append(time.perf_counter() - t0)
            if resp.status != 200:
                raise SystemExit(f"{path}: HTTP {resp.status}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return np.array([x for xs in out for x in xs]) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000, help="requests per endpoint")
    ap.add_argument("--clients", type=int, default=1, help="concurrent keep-alive connections")
    ap.add_argument("--data-dir", default=str(REPO / "geodata"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    grids = json.loads((Path(args.data_dir) / "grids.geojson").read_text(encoding="utf-8"))
    xs = [c[0] for f in grids["features"] for c in f["geometry"]["coordinates"][0]]
    ys = [c[1] for f in grids["features"] for c in f["geometry"]["coordinates"][0]]
    rng = np.random.default_rng(args.seed)
    lon = rng.uniform(min(xs), max(xs), args.n)
    lat = rng.uniform(min(ys), max(ys), args.n)
    addresses = json.loads((Path(args.data_dir) / "addresses.geojson").read_text(encoding="utf-8"))["features"]
    picks = rng.integers(0, len(addresses), args.n)

    port = _free_port()
    env = {**os.environ, "GRIDMAP_DATA_DIR": args.data_dir, "GRIDMAP_PORT": str(port)}
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(port)
        suites = {
            "point (WGS84)": [f"/api/v1/locate/point?lon={x:.6f}&lat={y:.6f}" for x, y in zip(lon, lat, strict=True)],
            "point (GCJ-02)": [f"/api/v1/locate/point?lon={x:.6f}&lat={y:.6f}&crs=gcj02"
                               for x, y in zip(lon, lat, strict=True)],
            "address": ["/api/v1/locate/address?q=" + quote("嘉峪关市" + addresses[i]["properties"]["address"])
                        for i in picks],
        }
        for paths in suites.values():  # warm-up: build indexes, fill caches
            _run(port, paths[:200], 1)
        print(f"{args.n} requests per endpoint, {args.clients} keep-alive client(s), waitress on 127.0.0.1:{port}")
        print(f"{'endpoint':16} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>8}")
        for name, paths in suites.items():
            t0 = time.perf_counter()
            ms = _run(port, paths, args.clients)
            rate = len(ms) / (time.perf_counter() - t0)
            p50, p90, p99 = np.percentile(ms, [50, 90, 99])
            print(f"{name:16} {p50:8.2f} {p90:8.2f} {p99:8.2f} {ms.max():8.2f} {rate:8.0f}")
        print("targets: point p50 <= 2 ms, p99 <= 10 ms")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
