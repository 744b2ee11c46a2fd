"""Latency of single lookups through the HTTP API under the production server (waitress).

Starts `gridmap serve` on a free loopback port, warms it up, then sends requests from this process
over keep-alive connections (``--clients`` threads) and prints p50/p90/p99 per endpoint.
With ``--base REV`` the server of that earlier commit (exported with `git archive`) is measured the
same way in the same run; endpoints it does not have are shown as n/a.
Targets (issue: Locate): point lookups p50 <= 2 ms and p99 <= 10 ms on this 2-core machine;
(issue 11) a single address lookup's p99 under 5 ms.

usage: python benchmarks/bench_locate_http.py [--n 5000] [--clients 1] [--data-dir geodata] [--base REV]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
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


def _export(rev: str, dest: Path) -> Path:
    """The tree of commit ``rev`` (``git archive``) in ``dest/tree``."""
    import tarfile

    archive = dest / "base.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), rev], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest / "tree", filter="data")
    return dest / "tree"


def _status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def _measure(label: str, tree: Path, data_dir: str, suites: dict[str, list[str]], clients: int) -> None:
    """Serve ``data_dir`` with the gridmap of ``tree`` and print the latency of every suite."""
    port = _free_port()
    env = {**os.environ, "GRIDMAP_DATA_DIR": data_dir, "GRIDMAP_PORT": str(port)}
    if tree != REPO:
        env["PYTHONPATH"] = str(tree)
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], cwd=tree, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(port)
        print(f"\n{label}: {clients} keep-alive client(s), waitress on 127.0.0.1:{port}")
        print(f"{'endpoint':16} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>8}")
        for name, paths in suites.items():
            if _status(port, paths[0]) == 404:
                print(f"{name:16} {'n/a':>8}")
                continue
            _run(port, paths[:200], 1)  # warm-up: build indexes, fill caches
            t0 = time.perf_counter()
            ms = _run(port, paths, clients)
            rate = len(ms) / (time.perf_counter() - t0)
            p50, p90, p99 = np.percentile(ms, [50, 90, 99])
            print(f"{name:16} {p50:8.2f} {p90:8.2f} {p99:8.2f} {ms.max():8.2f} {rate:8.0f}")
    finally:
        server.terminate()
        server.wait(10)


def _typo(text: str, rng: np.random.Generator) -> str:
    """``text`` with one character of its first four replaced by a neighbour's (a cheap typing slip)."""
    k = int(rng.integers(0, min(4, len(text) - 1)))
    return text[:k] + text[k + 1] + text[k + 1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000, help="requests per endpoint")
    ap.add_argument("--clients", type=int, default=1, help="concurrent keep-alive connections")
    ap.add_argument("--data-dir", default=str(REPO / "geodata"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--base", default=None, help="also measure this earlier commit (e.g. 282cf12)")
    args = ap.parse_args()

    grids = json.loads((Path(args.data_dir) / "grids.geojson").read_text(encoding="utf-8"))
    xs = [c[0] for f in grids["features"] for c in f["geometry"]["coordinates"][0]]
    ys = [c[1] for f in grids["features"] for c in f["geometry"]["coordinates"][0]]
    rng = np.random.default_rng(args.seed)
    lon = rng.uniform(min(xs), max(xs), args.n)
    lat = rng.uniform(min(ys), max(ys), args.n)
    addresses = json.loads((Path(args.data_dir) / "addresses.geojson").read_text(encoding="utf-8"))["features"]
    picks = rng.integers(0, len(addresses), args.n)
    texts = [addresses[i]["properties"]["address"] for i in picks]
    suites = {
        "point (WGS84)": [f"/api/v1/locate/point?lon={x:.6f}&lat={y:.6f}" for x, y in zip(lon, lat, strict=True)],
        "point (GCJ-02)": [f"/api/v1/locate/point?lon={x:.6f}&lat={y:.6f}&crs=gcj02"
                           for x, y in zip(lon, lat, strict=True)],
        "reverse": [f"/api/v1/locate/reverse?lon={x:.6f}&lat={y:.6f}" for x, y in zip(lon, lat, strict=True)],
        "address": ["/api/v1/locate/address?q=" + quote("嘉峪关市" + t) for t in texts],
        "address (typo)": ["/api/v1/locate/address?q=" + quote(_typo(t, rng)) for t in texts],
    }
    print(f"{args.n} requests per endpoint, data {args.data_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.base:
            _measure(f"base {args.base}", _export(args.base, Path(tmp)), args.data_dir, suites, args.clients)
        _measure("this tree", REPO, args.data_dir, suites, args.clients)
    print("targets: point p50 <= 2 ms, p99 <= 10 ms; address p99 < 5 ms")


if __name__ == "__main__":
    main()
