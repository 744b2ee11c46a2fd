"""Benchmark: PostGIS's ST_Within join of 1M points against the grids, and gridmap locating them on the PostGIS store."""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.geo.dataset import DataManager  # noqa: E402
from app.geo.geojson_store import VersionedStore  # noqa: E402
from app.geo.store import open_store  # noqa: E402
from tests import helpers, pg  # noqa: E402

#: The join as the issue states it: every point, and the grid it lies within (NULL outside), on the store's view.
SQL_JOIN = ("SELECT p.id, g.code FROM bench_pts p LEFT JOIN gridmap_grids_current g "
            "ON ST_Within(p.geom, g.geom)")
#: The same answers, written so that PostGIS walks the grids and probes the points' GiST index for each (the
#: LATERAL subquery keeps the planner from turning it around), on a plain copy of the grids: PostGIS at its fastest.
SQL_FAST = ("SELECT p.id, w.code FROM bench_pts p LEFT JOIN (SELECT q.id, g.code FROM bench_grids g "
            "CROSS JOIN LATERAL (SELECT q.id FROM bench_pts q WHERE ST_Within(q.geom, g.geom) OFFSET 0) q) w "
            "ON w.id = p.id")


def load_points(url: str, lon: np.ndarray, lat: np.ndarray) -> float:
    """Load the points into ``bench_pts`` (id, geometry(Point, 4326)) with a GiST index; return seconds."""
    t0 = time.perf_counter()
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([np.arange(len(lon)), lon, lat]), fmt=["%d", "%.17g", "%.17g"], delimiter="\t")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw, bench_pts")
        conn.execute("CREATE UNLOGGED TABLE bench_raw (id integer, lon float8, lat float8)")
        with conn.cursor() as cur, cur.copy("COPY bench_raw (id, lon, lat) FROM STDIN") as copy:
            copy.write(buf.getvalue())
        conn.execute("CREATE TABLE bench_pts AS SELECT id, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::"
                     "geometry(Point, 4326) AS geom FROM bench_raw")
        conn.execute("ALTER TABLE bench_pts ADD PRIMARY KEY (id)")
        conn.execute("CREATE INDEX bench_pts_geom ON bench_pts USING gist (geom)")
        conn.execute("DROP TABLE bench_raw")
        conn.execute("VACUUM ANALYZE bench_pts")
        conn.execute("ANALYZE gridmap_grids")
    return time.perf_counter() - t0


def sql_join(url: str, n: int, literal: bool) -> tuple[float | None, float, float, np.ndarray]:
    """Time the joins on the server (into a table), and the fast one with its rows fetched by the client.

    Returns
    -------
    tuple
        Seconds of the literal join (None when skipped), of the fast join, of the fast join fetched,
        and each point's grid code (None outside).
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_grids, bench_ans, bench_ans2")
        conn.execute("CREATE TABLE bench_grids AS SELECT code, geom FROM gridmap_grids_current")
        conn.execute("CREATE INDEX bench_grids_geom ON bench_grids USING gist (geom)")
        conn.execute("VACUUM ANALYZE bench_grids")
        slow = None
        if literal:
            t0 = time.perf_counter()
            conn.execute(f"CREATE UNLOGGED TABLE bench_ans2 AS {SQL_JOIN}")
            slow = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(f"CREATE UNLOGGED TABLE bench_ans AS {SQL_FAST}")
        server = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = conn.execute(SQL_FAST).fetchall()
        fetched = time.perf_counter() - t0
        doubled = conn.execute("SELECT count(*) - count(DISTINCT id) FROM bench_ans").fetchone()[0]
        if literal:
            same = conn.execute("SELECT count(*) FROM bench_ans a FULL JOIN bench_ans2 b "
                                "ON a.id = b.id AND a.code IS NOT DISTINCT FROM b.code "
                                "WHERE a.id IS NULL OR b.id IS NULL").fetchone()[0]
            print(f"  the two SQL forms differ on {same} rows")
    codes = np.full(n, None, dtype=object)
    for pid, code in rows:
        codes[pid] = code if codes[pid] is None else min(codes[pid], code or codes[pid])
    if doubled:
        print(f"  note: {doubled} points lie in two grids (overlap); the lowest code is compared")
    return slow, server, fetched, codes


def tiling_bytes(rows: int, cols: int) -> bytes:
    """A ``rows`` x ``cols`` tiling of squares as GeoJSON bytes (the grids of benchmarks/bench_import_scale.py)."""
    size = 0.001
    feats = []
    for r in range(rows):
        for c in range(cols):
            x0, y0 = round(98.1 + c * size, 6), round(39.6 + r * size, 6)
            x1, y1 = round(x0 + size, 6), round(y0 + size, 6)
            com = f"620201{(r * cols + c) // 5000 + 1:03d}{(r * cols + c) // 50 % 100 + 1:03d}"
            feats.append({"type": "Feature", "properties": {"code": f"{com}{(r * cols + c) % 50 + 1:03d}",
                                                             "name": f"网格{r}-{c}", "committee_code": com},
                          "geometry": {"type": "Polygon",
                                       "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}})
    return json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False).encode()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; return 1 when the answers differ."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="random points (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ap.add_argument("--data", type=Path, default=helpers.DEMO, help="geodata folder to seed (default geodata/)")
    ap.add_argument("--big", type=int, default=30_650, help="grids of the large import (613 x 50 by default; 0 skips)")
    ap.add_argument("--skip-literal", action="store_true", help="time only the fast SQL form")
    args = ap.parse_args(argv)

    print("starting a throw-away PostgreSQL/PostGIS cluster ...")
    cluster = pg.start_cluster()
    try:
        url = cluster.new_database("bench")
        store = open_store(url)
        t0 = time.perf_counter()
        store.seed_from(args.data)
        print(f"seed {args.data} into PostGIS: {time.perf_counter() - t0:.2f} s  ({store.info().counts})")

        t0 = time.perf_counter()
        fresh = open_store(url)  # as a newly started process would
        ds = DataManager(fresh).current()
        grids = ds.grids
        read_s = time.perf_counter() - t0
        index = ds.grid_index
        opened = time.perf_counter() - t0
        print(f"open the Dataset from PostGIS: {opened:.2f} s (read {len(grids)} grids {read_s:.2f} s, "
              f"build the index {opened - read_s:.2f} s)")

        minx, miny, maxx, maxy = grids.total_bounds
        rng = np.random.default_rng(args.seed)
        lon = rng.uniform(minx, maxx, args.n)
        lat = rng.uniform(miny, maxy, args.n)
        print(f"load {args.n:,} points into PostGIS (GiST index): {load_points(url, lon, lat):.2f} s")

        slow, server, fetched, sql_codes = sql_join(url, args.n, not args.skip_literal)
        if slow is not None:
            print(f"PostGIS: {SQL_JOIN}\n  into a table on the server: {slow:.2f} s")
        print(f"PostGIS: {SQL_FAST}\n  into a table on the server: {server:.2f} s; rows fetched by the client: "
              f"{fetched:.2f} s")

        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            res = index.locate(lon, lat, nearest=False)
            best = min(best, time.perf_counter() - t0)
        print(f"gridmap GridIndex.locate on the PostGIS-backed Dataset (best of 3): {best:.3f} s")
        if slow is not None:
            print(f"  ratio, literal LEFT JOIN / gridmap: {slow / best:.0f}x")
        print(f"  ratio, fastest SQL (server side) / gridmap: {server / best:.0f}x; "
              f"with the Dataset opening counted on gridmap's side: {server / (best + opened):.1f}x")

        ours = np.asarray(res.code, dtype=object)
        differ = np.flatnonzero(ours != sql_codes)
        off_border = differ[~res.on_border[differ]]
        inside = int(np.count_nonzero(res.index >= 0))
        print(f"answers: {inside:,} of {args.n:,} points in a grid; {len(differ)} differ "
              f"({len(differ) - len(off_border)} on a grid border within gridmap's tolerance, "
              f"{len(off_border)} elsewhere)")

        if args.big:
            cols = 613
            rows = max(1, args.big // cols)
            data = tiling_bytes(rows, cols)
            big = open_store(cluster.new_database("big"))
            t0 = time.perf_counter()
            big.commit({"grids": data}, author="bench", message="big", source="import", base=None)
            pg_s = time.perf_counter() - t0
            with tempfile.TemporaryDirectory() as tmp:
                gj = VersionedStore(Path(tmp) / "store")
                t0 = time.perf_counter()
                gj.commit({"grids": data}, author="bench", message="big", source="import", base=None)
                gj_s = time.perf_counter() - t0
            print(f"commit a {rows * cols:,}-grid layer: PostGIS store {pg_s:.2f} s, GeoJSON store {gj_s:.2f} s")
            t0 = time.perf_counter()
            n_big = len(big.read("grids"))
            print(f"read it back from PostGIS: {n_big:,} grids in {time.perf_counter() - t0:.2f} s")
        return 1 if len(off_border) else 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
