"""Single point lookups through the real server under wrk: one waitress process against gunicorn workers, and memory."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port  # noqa: E402

GRIDMAP = str(Path(sys.executable).with_name("gridmap"))


def _points(data_dir: Path, n: int) -> list[tuple[float, float]]:
    """``n`` points inside the city's grids (one inside each of the first ``n`` grids, repeated)."""
    import geopandas as gpd

    grids = gpd.read_file(data_dir / "grids.geojson").to_crs("EPSG:4326")
    pts = [g.representative_point() for g in grids.geometry.iloc[:n]]
    return [(round(p.x, 6), round(p.y, 6)) for p in pts]


def _lua(points: list[tuple[float, float]], folder: Path) -> Path:
    """A wrk script that walks through the points, one request each."""
    paths = ",\n".join(f'  "/api/v1/locate/point?lon={x}&lat={y}"' for x, y in points)
    script = folder / "points.lua"
    script.write_text(f"paths = {{\n{paths}\n}}\ni = 0\nrequest = function()\n  i = i % #paths + 1\n"
                      "  return wrk.format(\"GET\", paths[i])\nend\n")
    return script


class Side:
    """One `gridmap serve` configuration, started fresh on a free port with its own instance folder."""

    def __init__(self, name: str, data_dir: Path, **env: str) -> None:
        self.name, self.data_dir, self.env = name, data_dir, env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))

    def start(self) -> None:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")},
               "GRIDMAP_INSTANCE_DIR": str(self.tmp / "inst"), "GRIDMAP_BASEMAP": "none",
               "GRIDMAP_RATELIMIT_ENABLED": "0", **{f"GRIDMAP_{k}": v for k, v in self.env.items()}}
        self.proc = subprocess.Popen([GRIDMAP, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        raise RuntimeError(f"{self.name}: the server did not start (GRIDMAP_{self.env})")

    def pss_mib(self) -> tuple[float, list[float]]:
        """Total PSS of the server's processes and the PSS of each worker (the lone process for waitress), MiB."""
        def pss(pid: int) -> float:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
            return 0.0

        assert self.proc is not None
        children = [int(p.parent.name) for p in Path("/proc").glob("[0-9]*/stat")
                    if _ppid(p) == self.proc.pid]
        mine = pss(self.proc.pid)
        each = [pss(c) for c in children] or [mine]
        return mine + sum(pss(c) for c in children), each

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _ppid(stat: Path) -> int:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


def wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    """Run wrk (one thread) and return requests/s, p50/p99 in ms and the error count."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
                          "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    return {"rps": rps, "p50": p50, "p99": p99, "errors": errors}


def main() -> None:
    """Measure every side at every connection level and print one table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "geodata")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--levels", default="1,4,16,64,256")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--classes", default="waitress",
                    help="gunicorn worker classes to measure besides the single waitress process (waitress,gthread,sync)")
    ap.add_argument("--points", type=int, default=200)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    levels = [int(n) for n in args.levels.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-lua-"))
    script = _lua(_points(args.data_dir, args.points), folder)
    sides = [Side("waitress, 1 process", args.data_dir, WORKERS="1")]
    sides += [Side(f"gunicorn {args.workers}x {c}", args.data_dir, WORKERS=str(args.workers), WORKER_CLASS=c)
              for c in args.classes.split(",") if c]
    results: dict[str, dict[int, dict[str, float]]] = {}
    memory: dict[str, tuple[float, list[float]]] = {}
    for side in sides:
        try:
            side.start()
            url = side.base + "/api/v1/locate/point"
            x, y = _points(args.data_dir, 1)[0]
            for _ in range(2 * args.workers):  # each process has built what a lookup needs
                with urllib.request.urlopen(f"{url}?lon={x}&lat={y}", timeout=300):
                    pass
            wrk(url, script, 4, 2)  # warm-up
            results[side.name] = {n: wrk(url, script, n, args.seconds) for n in levels}
            memory[side.name] = side.pss_mib()
        finally:
            side.stop()
    print(f"\nGET /api/v1/locate/point, {args.points} points of {args.data_dir.name}, wrk -t1 --latency, "
          f"{args.seconds} s per level, {os.cpu_count()} cores shared by server and wrk; "
          "req/s, p50 / p99 ms, errors (socket errors + non-2xx)")
    head = f"{'connections':>11} | " + " | ".join(f"{name:^34}" for name in results)
    print(head)
    print("-" * len(head))
    for n in levels:
        cells = [f"{r[n]['rps']:8.0f} req/s {r[n]['p50']:6.1f} / {r[n]['p99']:6.1f} ms {int(r[n]['errors']):4d} err"
                 for r in results.values()]
        print(f"{n:>11} | " + " | ".join(cells))
    print("\nmemory after the run (PSS, MiB): " + "; ".join(
        f"{name}: total {total:.0f}, per worker {', '.join(f'{w:.0f}' for w in each)}"
        for name, (total, each) in memory.items()))
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
