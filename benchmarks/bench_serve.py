"""Single point lookups through the real `gridmap serve` under wrk: this tree against an earlier commit, and memory.

Run: flock /tmp/gridmap-bench.lock .venv/bin/python benchmarks/bench_serve.py [--base fc6c119]
     [--sides base/waitress/2x8,this] [--levels 1,4,16,64,256] [--seconds 8] [--points 12000]
     [--in-process 5000] [--profile 25]

Each side is ``TREE[/CLASS[/WORKERSxTHREADS[/NAME=VALUE...]]]``: TREE is ``this`` (the working tree) or ``base``
(``--base`` exported with ``git archive``); without CLASS the side runs on the settings' defaults (WORKERS=0: one per
core); NAME=VALUE are further settings (``this/waitress/2x8/GIL_SWITCH_US=5000``).
Rate limits stay on (the real configuration). wrk walks ``--points`` distinct points inside the grids (random,
fixed seed) plus ``--outside`` points outside every grid, so no answer is a warm repeat. Per level it prints
req/s, p50/p99 latency, errors (socket errors + non-2xx), and the server's CPU per request (all its processes,
from /proc); afterwards each side's memory (PSS, total and per process). First, ``--hello`` measures the servers
alone: a hello-world WSGI app under gunicorn with waitress workers and under granian, with gridmap's server options.
CLASS ``granian`` (the default) takes THREADS as WORKER_THREADS. Before the servers, ``--in-process N`` times the
same lookups inside this process (CPU ms per request by ``time.process_time``, which other load barely moves): the
WSGI app with the fast lane (FAST_LANE), without it, and the core ``locate_point`` alone; ``--profile TOP`` prints
each app side's cProfile. ``--sides ''`` measures only that.
"""

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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import helpers  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def points(data_dir: Path, inside: int, outside: int, seed: int = 12) -> list[tuple[float, float]]:
    """``inside`` random points inside the city's grids (spread over every grid) and ``outside`` outside them."""
    import geopandas as gpd
    import numpy as np
    import shapely

    grids = gpd.read_file(data_dir / "grids.geojson").to_crs("EPSG:4326")
    rng = np.random.default_rng(seed)
    union = shapely.union_all(grids.geometry.values)
    minx, miny, maxx, maxy = union.bounds
    found: list[tuple[float, float]] = []
    per_grid = max(1, -(-inside // len(grids)))
    for geom in grids.geometry:
        gx0, gy0, gx1, gy1 = geom.bounds
        got = 0
        while got < per_grid:
            xs, ys = rng.uniform(gx0, gx1, 64), rng.uniform(gy0, gy1, 64)
            ok = shapely.contains_xy(geom, xs, ys)
            for x, y in zip(xs[ok][:per_grid - got], ys[ok][:per_grid - got], strict=True):
                found.append((round(float(x), 6), round(float(y), 6)))
            got += int(min(ok.sum(), per_grid - got))
    order = rng.permutation(len(found))[:inside]
    chosen = [found[i] for i in order]
    pad_x, pad_y = (maxx - minx) * 0.3, (maxy - miny) * 0.3
    out: list[tuple[float, float]] = []
    while len(out) < outside:
        xs, ys = rng.uniform(minx - pad_x, maxx + pad_x, 256), rng.uniform(miny - pad_y, maxy + pad_y, 256)
        ok = ~shapely.contains_xy(union, xs, ys)
        out += [(round(float(x), 6), round(float(y), 6)) for x, y in zip(xs[ok], ys[ok], strict=True)][:outside - len(out)]
    every = chosen + out
    return [every[i] for i in rng.permutation(len(every))]


def lua(pts: list[tuple[float, float]], folder: Path) -> Path:
    """A wrk script that walks the points, one request each; each wrk thread starts at its own offset."""
    paths = ",\n".join(f'  "/api/v1/locate/point?lon={x}&lat={y}"' for x, y in pts)
    script = folder / "points.lua"
    script.write_text(
        f"paths = {{\n{paths}\n}}\n"
        "local n = 0\nfunction setup(thread) thread:set('offset', n * 7919) n = n + 1 end\n"
        "function init(args) i = tonumber(offset) or 0 end\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n")
    return script


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


def wrk(url: str, script: Path, connections: int, seconds: int, threads: int = 1) -> dict[str, float]:
    """Run wrk and return requests, requests/s, p50/p99 in ms and the error count."""
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
                          "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    errors = 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    return {"requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
            "p99": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)), "errors": errors}


def _ppid(stat: Path) -> int:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _family(pid: int) -> list[int]:
    """``pid`` and its children (gunicorn's workers)."""
    return [pid] + [int(p.parent.name) for p in Path("/proc").glob("[0-9]*/stat") if _ppid(p) == pid]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children so far."""
    total = 0.0
    for p in _family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def pss_mib(pid: int) -> tuple[float, list[float]]:
    """Total PSS of the server's processes and the PSS of each (master first), MiB."""
    each = []
    for p in _family(pid):
        for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                each.append(int(line.split()[1]) / 1024)
    return sum(each), each


class Side:
    """One `gridmap serve` configuration of one tree."""

    def __init__(self, spec: str, base_tree: Path | None, root: Path, data_dir: Path) -> None:
        tree, *rest = spec.split("/")
        self.name = spec
        env: dict[str, str] = {}
        if rest:
            env["WORKER_CLASS"] = rest[0]
        if len(rest) > 1:
            workers, threads = rest[1].split("x")
            env.update(WORKERS=workers, THREADS=threads)
            if rest[0] == "granian":
                env["WORKER_THREADS"] = threads
        for extra in rest[2:]:  # further settings, NAME=VALUE
            name, _, value = extra.partition("=")
            env[name] = value
        self.server = helpers.Server(root / f"inst-{len(os.listdir(root))}", data_dir, COOKIE_SECURE="0", **env)
        if tree == "base":
            assert base_tree is not None
            self.server.args = [sys.executable, "-c",
                                "import sys; from app.cli import main; sys.argv[0]='gridmap'; main()",
                                *self.server.args[1:]]
            self.server.env["PYTHONPATH"] = str(base_tree)
            self.server.cwd = base_tree
        elif tree != "this":
            raise SystemExit(f"unknown tree {tree!r} in {spec!r} (this or base)")

    def run(self, script: Path, probe: str, levels: list[int], seconds: int) -> dict[str, Any]:
        """Start, warm each worker, measure every level, read memory, stop."""
        srv = self.server.start(timeout=300)  # its output goes to a file (tests.helpers.Server), never a full pipe
        try:
            url = srv.base + "/api/v1/locate/point"
            for _ in range(8):
                with urllib.request.urlopen(url + probe, timeout=300):
                    pass
            wrk(url, script, 8, 2)  # warm-up: every worker has answered
            out: dict[str, Any] = {}
            for n in levels:
                cpu0 = cpu_seconds(srv.proc.pid)
                r = wrk(url, script, n, seconds)
                r["cpu_ms"] = (cpu_seconds(srv.proc.pid) - cpu0) / max(1, r["requests"]) * 1000
                out[n] = r
            out["memory"] = pss_mib(srv.proc.pid)
        finally:
            srv.stop()
        return out


HELLO = """
import sys
from app import settings
from app.web import _granian, _gunicorn


class Hello:
    \"\"\"The smallest WSGI app: what the server alone costs per request.\"\"\"

    extensions: dict = {}

    def __call__(self, environ, start_response):
        body = b'{"status":"ok"}\\n'
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


kind, port, workers, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
config = settings.resolve({"WORKERS": workers, "THREADS": threads, "WORKER_THREADS": threads,
                           "WORKER_CLASS": kind}, environ={})
app = Hello()
app.extensions["gridmap.config"] = config
if kind == "granian":
    from granian.server import Server

    Server(**_granian.options(config, "127.0.0.1", port)).serve(target_loader=lambda: app, wrap_loader=False)
else:
    class Plain(_gunicorn.GunicornServer):
        def load(self):
            return self.application

    Plain(app, config, "127.0.0.1", port).run()
"""


def hello(spec: str, tree: Path, folder: Path, levels: list[int], seconds: int) -> dict[int, dict[str, float]]:
    """A hello-world WSGI app under one server (``granian/2x2``, ``waitress/2x8``: gridmap's own server options)."""
    kind, _, shape = spec.partition("/")
    workers, threads = (shape or "2x2").split("x")
    script = folder / "hello_server.py"
    script.write_text(HELLO)
    port = helpers.free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen([sys.executable, str(script), kind, str(port), workers, threads], cwd=tree, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"hello server {spec} did not start: {log.read()[-2000:]!r}") from None
                time.sleep(0.2)
        script_lua = folder / "hello.lua"
        script_lua.write_text("")
        wrk(url, script_lua, 8, 1)
        out = {}
        for n in levels:
            cpu0 = cpu_seconds(proc.pid)
            r = wrk(url, script_lua, n, seconds)
            r["cpu_ms"] = (cpu_seconds(proc.pid) - cpu0) / max(1, r["requests"]) * 1000
            out[n] = r
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def in_process(data_dir: Path, pts: list[tuple[float, float]], n: int, profile: int) -> dict[str, float]:
    """CPU ms per lookup inside one process (no HTTP server): the WSGI app with the fast lane, without it, the core.

    Each side answers the same ``n`` requests (the points wrk walks, as wrk sends them: ``GET`` with a ``Host``
    header) twice and the second pass is timed with ``time.process_time``, which other processes on the machine
    barely move. With ``profile`` > 0 it prints the top ``profile`` functions of each app side by own time.
    """
    import cProfile
    import pstats

    from werkzeug.test import EnvironBuilder

    from app import create_app
    from app.geo.locate import locate_point
    from app.web.server import throttle_version_checks, warm

    environs = [EnvironBuilder(path="/api/v1/locate/point", query_string=f"lon={x}&lat={y}",
                               headers={"Host": "127.0.0.1:5000"}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
                               ).get_environ() for x, y in pts[:n]]

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        return None

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serve-inproc-") as inst:
        for name, lane in (("WSGI app, fast lane", True), ("WSGI app, Flask only (FAST_LANE=0)", False)):
            app = create_app({"DATA_DIR": str(data_dir), "INSTANCE_DIR": inst, "BASEMAP": "none",
                              "COOKIE_SECURE": False, "FAST_LANE": lane})
            throttle_version_checks(app, app.extensions["gridmap.config"].VERSION_CHECK_MS)
            warm(app)

            def run(app: Any = app) -> None:
                for environ in environs:
                    for _ in app(dict(environ), start_response):
                        pass
            run()
            t0 = time.process_time()
            run()
            out[name] = (time.process_time() - t0) / len(environs) * 1000
            if profile:
                prof = cProfile.Profile()
                prof.runcall(run)
                print(f"\nprofile, {name} ({len(environs)} requests; own time, top {profile}):")
                pstats.Stats(prof).sort_stats("tottime").print_stats(profile)
            ds = app.extensions["gridmap.data"].current()
        for x, y in pts[:n]:
            locate_point(ds, str(x), str(y))
        t0 = time.process_time()
        for x, y in pts[:n]:
            locate_point(ds, str(x), str(y))
        out["core locate_point alone"] = (time.process_time() - t0) / n * 1000
    return out


def table(title: str, results: dict[str, dict[Any, Any]], levels: list[int]) -> None:
    """Print one row per connection level and one column per side."""
    print(title)
    print("req/s, p50 / p99 ms, errors (socket errors + non-2xx), server CPU ms per request (all processes)")
    width = 46
    head = f"{'connections':>11} | " + " | ".join(f"{name:^{width}}" for name in results)
    print(head)
    print("-" * len(head))
    for n in levels:
        cells = [f"{r[n]['rps']:6.0f} req/s {r[n]['p50']:5.1f} / {r[n]['p99']:6.1f} ms {int(r[n]['errors']):3d} err "
                 f"{r[n]['cpu_ms']:4.2f} cpu" for r in results.values()]
        print(f"{n:>11} | " + " | ".join(f"{c:^{width}}" for c in cells))


def main() -> None:
    """Measure every side at every connection level and print one table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT / "geodata")
    ap.add_argument("--base", default="fc6c119", help="the earlier commit the 'base' sides run")
    ap.add_argument("--sides", default="base/waitress/2x8,this",
                    help="comma-separated TREE[/CLASS[/WORKERSxTHREADS[/NAME=VALUE...]]]; TREE is this or base")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--levels", default="1,4,16,64,256")
    ap.add_argument("--points", type=int, default=12000, help="distinct points inside the grids")
    ap.add_argument("--outside", type=int, default=600, help="distinct points outside every grid")
    ap.add_argument("--hello", default="waitress/2x8,granian/2x2",
                    help="servers to measure with a hello-world WSGI app first, CLASS/WORKERSxTHREADS (empty: none)")
    ap.add_argument("--hello-levels", default="16,256")
    ap.add_argument("--in-process", type=int, default=5000, metavar="N",
                    help="first measure CPU per lookup inside this process over N requests: with and without the "
                         "fast lane, and the core alone (0: skip)")
    ap.add_argument("--profile", type=int, default=0, metavar="TOP",
                    help="with --in-process, print the TOP functions of each side's cProfile (by own time)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    levels = [int(n) for n in args.levels.split(",")]
    before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        pts = points(args.data_dir, args.points, args.outside)
        script = lua(pts, root)
        probe = f"?lon={pts[0][0]}&lat={pts[0][1]}"
        inproc = in_process(args.data_dir, pts, args.in_process, args.profile) if args.in_process else {}
        specs = [s for s in args.sides.split(",") if s]
        base_tree = helpers.export_commit(args.base, root) if any(s.startswith("base") for s in specs) else None
        (root / "inst").mkdir()
        hello_levels = [int(n) for n in args.hello_levels.split(",")]
        hellos = {spec: hello(spec, ROOT, root, hello_levels, args.seconds)
                  for spec in args.hello.split(",") if spec}
        results = {}
        for spec in specs:
            t0 = time.monotonic()
            results[spec] = Side(spec, base_tree, root / "inst", args.data_dir).run(script, probe, levels, args.seconds)
            print(f"{spec}: measured in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    load = os.getloadavg()
    print(f"\nload average before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}")
    print(f"GET /api/v1/locate/point on {args.data_dir.name}: {len(pts)} distinct points ({args.points} inside grids, "
          f"{args.outside} outside), wrk -t1 --latency, {args.seconds} s per level, rate limits on, base = {args.base}; "
          f"{os.cpu_count()} cores shared by server and wrk; load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if inproc:
        print(f"\nin this process, no HTTP server (CPU ms per lookup, time.process_time, {args.in_process} requests):")
        for name, ms in inproc.items():
            print(f"  {name:>36}: {ms:.3f}")
    if results:
        table("", results, levels)
    if hellos:
        table("\nthe server alone: a hello-world WSGI app (this tree's server options)", hellos, hello_levels)
    print("\nmemory after the run (PSS, MiB; master first, then each worker):")
    for name, r in results.items():
        total, each = r["memory"]
        print(f"  {name}: total {total:.0f}; " + ", ".join(f"{w:.0f}" for w in each))


if __name__ == "__main__":
    main()
