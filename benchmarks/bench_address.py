"""Benchmark: the address matcher on two cities, accuracy by variant kind and throughput, against an earlier commit.

For the demo city (geodata/) and the generated 河湾市 (tests/cities.py ``make_cn_city``) it draws the
seeded variant set of tests/address_variants.py (every kind of issue 11's table, homophones, typing errors,
and addresses that do not exist) and a 100,000-query batch, and runs both through this tree's
``AddressMatcher.match_many`` and through the one of ``--base`` (exported with ``git archive``, run in a
child process on the same pickled table and queries). Prints per variant kind: right-and-ok %, ambiguous %,
wrong-ok % (ok with another grid, or ok at all for an address that does not exist), for both sides; the
overall wrong-answer rate; and the seconds for the batch on both sides.

usage: .venv/bin/python benchmarks/bench_address.py [-n 100000] [--per-kind 1000] [--base 9338676] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.geo.address import AddressMatcher  # noqa: E402
from tests import address_variants as av  # noqa: E402
from tests import helpers  # noqa: E402

#: Run in the earlier tree: build its matcher on the same table, time match_many on each query list.
_BASE_SCRIPT = r"""
import json, pickle, sys, time
tree, data_path, out_path = sys.argv[1:4]
sys.path.insert(0, tree)
from app.geo.address import AddressMatcher, AddressPrefixes
with open(data_path, "rb") as f:
    data = pickle.load(f)
out = {}
for name, texts in data["queries"].items():
    secs = []
    for _ in range(int(data["repeat"])):  # a fresh matcher each time: nothing cached from the run before
        m = AddressMatcher(data["addresses"], AddressPrefixes(**data["prefixes"]))
        t = time.perf_counter(); len(m); out["build"] = time.perf_counter() - t
        t = time.perf_counter()
        res = m.match_many(texts)
        secs.append(time.perf_counter() - t)
    out[name] = {"seconds": min(secs), "all": secs, "answers": [
        [r.status, r.candidates[0].address if r.status == "ok" and r.candidates else None,
         r.candidates[0].grid_code if r.status == "ok" and r.candidates else None] for r in res]}
with open(out_path, "w", encoding="utf-8") as f:
    json.dump(out, f)
"""


class _Best:
    """The best candidate as the scorer reads it (address and grid)."""

    def __init__(self, address: str, grid_code: str) -> None:
        self.address, self.grid_code = address, grid_code


class _Answer:
    """An earlier commit's answer in the shape :func:`tests.address_variants.score` reads."""

    def __init__(self, status: str, address: str | None, grid: str | None) -> None:
        self.status = status
        self.best = _Best(address, grid) if status == "ok" and address is not None else None


def _plain(city: av.City_) -> pd.DataFrame:
    """The address table with lon/lat columns instead of geometry (both sides read it the same way)."""
    df = pd.DataFrame(city.addresses.drop(columns="geometry"))
    df["lon"], df["lat"] = city.addresses.geometry.x.to_numpy(), city.addresses.geometry.y.to_numpy()
    return df


def batch_queries(city: av.City_, n: int, seed: int = 11) -> list[str]:
    """A batch as a grid office sends it: mostly clean addresses in varied formats, a few typing errors,
    a few that do not exist, many repeats (the same building typed by several households)."""
    rng = random.Random(seed)
    weights = {k: 1.0 for k in av.KINDS}
    for k in ("clean", "no_hao", "cn_numeral", "building_word", "unit_room", "committee", "spaces", "full_width",
              "prefixes"):
        weights[k] = 10.0
    pool = av.make_variants(city, max(50, n // 40), seed=seed)
    by_kind: dict[str, list[str]] = {}
    for v in pool:
        by_kind.setdefault(v.kind, []).append(v.text)
    kinds = [k for k in av.KINDS if by_kind.get(k)]
    picks = rng.choices(kinds, weights=[weights[k] for k in kinds], k=n)
    return [rng.choice(by_kind[k]) for k in picks]


def _timed(df: pd.DataFrame, city: av.City_, texts: list[str], repeat: int) -> tuple[list, list[float], float]:
    """This tree's answers, the seconds of each run (a fresh matcher each time, as the base side does) and the build."""
    secs, build, results = [], 0.0, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        matcher = AddressMatcher(df, city.prefixes, city.grid_committee)
        len(matcher)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        results = matcher.match_many(texts)
        secs.append(time.perf_counter() - t0)
    return results, secs, build


def _print_table(label: str, this: pd.DataFrame, base: pd.DataFrame) -> None:
    t, b = av.table(this), av.table(base)
    print(f"\n{label}")
    print(f"  {'kind':16} {'n':>6} | {'this: right-ok':>14} {'top-1':>7} {'ambiguous':>9} {'wrong-ok':>8} | "
          f"{'base: right-ok':>14} {'wrong-ok':>8}")
    for kind in t.index:
        r, s = t.loc[kind], b.loc[kind]
        right = "" if pd.isna(r.right_ok) else f"{r.right_ok:13.2f}%"
        top1 = "" if pd.isna(r.top1) else f"{r.top1:6.1f}%"
        bright = "" if pd.isna(s.right_ok) else f"{s.right_ok:13.2f}%"
        print(f"  {kind:16} {int(r.n):6d} | {right:>14} {top1:>7} {r.ambiguous:8.1f}% {r.wrong_ok:7.2f}% | "
              f"{bright:>14} {s.wrong_ok:7.2f}%")
    print("  (right-ok = answered ok with the true address; top-1 = the first candidate listed is the true address,")
    print("   whatever the status; found = the kinds grid staff type for an existing address; named = those plus the")
    print("   stress kind random_char; ALL = every query, its wrong-ok is the overall wrong-answer rate)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the accuracy tables and timings."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100_000, help="queries in the timed batch (default 100000)")
    ap.add_argument("--per-kind", type=int, default=1000, help="variant queries per kind (default 1000)")
    ap.add_argument("--base", default="9338676", help="the earlier commit to compare with (default 9338676)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per side, each with a fresh matcher; "
                    "the best is printed (default 2)")
    args = ap.parse_args(argv)

    cities = [c for c in (av.demo_city(), av.cn_city(addresses=3000, sections=2)) if c is not None]
    with tempfile.TemporaryDirectory(prefix="gm-bench-address-") as tmp:
        root = Path(tmp)
        tree = helpers.export_commit(args.base, root)
        print(f"base: {args.base} exported to {tree}")
        for city in cities:
            variants = av.make_variants(city, args.per_kind, seed=args.seed)
            batch = batch_queries(city, args.n, seed=args.seed + 1)
            df = _plain(city)
            p = city.prefixes
            data = {"addresses": df, "queries": {"variants": [v.text for v in variants], "batch": batch},
                    "repeat": args.repeat,
                    "prefixes": {"province": p.province, "city": p.city, "short_name": p.short_name,
                                 "areas": p.areas, "committees": p.committees}}
            (root / "data.pkl").write_bytes(pickle.dumps(data))
            subprocess.run([sys.executable, "-c", _BASE_SCRIPT, str(tree), str(root / "data.pkl"),
                            str(root / "base.json")], check=True, cwd=tree)
            base = json.loads((root / "base.json").read_text(encoding="utf-8"))

            this_variants, all_variants, build = _timed(df, city, [v.text for v in variants], args.repeat)
            this_batch, all_batch, _ = _timed(df, city, batch, args.repeat)
            secs_variants, secs_batch = min(all_variants), min(all_batch)

            print(f"\n=== {city.name}: {len(df)} addresses, {len(set(df['street']))} streets ===")
            print(f"index build: this {build:.2f} s, base {base['build']:.2f} s")
            print(f"batch of {len(batch):,} queries ({len(set(batch)):,} distinct): this {secs_batch:.2f} s, "
                  f"base {base['batch']['seconds']:.2f} s  (this/base {secs_batch / base['batch']['seconds']:.2f}; "
                  f"best of {args.repeat}: this {', '.join(f'{x:.2f}' for x in all_batch)}, "
                  f"base {', '.join(f'{x:.2f}' for x in base['batch']['all'])})")
            print(f"variant set of {len(variants):,} queries ({len(set(v.text for v in variants)):,} distinct): "
                  f"this {secs_variants:.2f} s, base {base['variants']['seconds']:.2f} s")
            status = pd.Series([r.status for r in this_batch]).value_counts(normalize=True)
            print("batch status (this): " + ", ".join(f"{k} {v:.1%}" for k, v in status.items()))
            this_frame = av.score(variants, this_variants)
            base_frame = av.score(variants, [_Answer(*a) for a in base["variants"]["answers"]])
            _print_table(f"accuracy by variant kind, {city.name}", this_frame, base_frame)
    return 0


if __name__ == "__main__":
    sys.exit(main())
