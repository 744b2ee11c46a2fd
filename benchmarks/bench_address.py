"""Benchmark: AddressMatcher.match_many on 100,000 realistic address queries, against simple baselines."""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
from rapidfuzz import fuzz, process
from shapely.geometry import Point

from app.geo.address import AddressMatcher, normalize

ROOT = Path(__file__).resolve().parents[1]
ADDRESSES = ROOT / "geodata" / "addresses.geojson"

_CN = "零一二三四五六七八九"
_FULL = str.maketrans("0123456789", "０１２３４５６７８９")
_UNKNOWN_POOL = "松柏桃李杏梅竹菊兰荷榆槐杨柳"
_TYPO_POOL = "东西南北中华新民建设光明胜利文化长城雄关钢铁花园小区路街道阳春和平安康宁兴"


def _chinese(n: int, rng: random.Random) -> str:
    """A house number in Chinese numerals, positional (十二) or digit by digit (一〇五)."""
    if n >= 100 and rng.random() < 0.5:
        return "".join("〇" if d == "0" else _CN[int(d)] for d in str(n))
    if n < 10:
        return _CN[n]
    if n < 20:
        return "十" + (_CN[n % 10] if n % 10 else "")
    if n < 100:
        return _CN[n // 10] + "十" + (_CN[n % 10] if n % 10 else "")
    if n < 1000:
        h, rest = divmod(n, 100)
        if rest == 0:
            return _CN[h] + "百"
        tail = ("零" + _CN[rest]) if rest < 10 else (_CN[rest // 10] + "十" + (_CN[rest % 10] if rest % 10 else ""))
        return _CN[h] + "百" + tail
    return str(n)


def synthetic_addresses(seed: int = 1) -> gpd.GeoDataFrame:
    """About 12,000 synthetic addresses: roads with house numbers and compounds with buildings."""
    rng = random.Random(seed)
    first = "东西南北中新建文雄钢长胜光明华兴和平安康宁阳春嘉祥瑞丰泰富"
    second = "华民设化关城利明兴园平安康宁阳春祥瑞丰泰富强盛"
    names: set[str] = set()
    while len(names) < 260:
        names.add(rng.choice(first) + rng.choice(second))
    names_l = sorted(names)
    recs = []
    for k, base in enumerate(names_l):
        if k < 160:
            street, kind, nums = base + rng.choice(["路", "街", "大道", "巷"]), "road", range(1, rng.randint(30, 90), rng.choice([1, 2]))
        else:
            street, kind, nums = base + rng.choice(["小区", "花园", "家园", "苑"]), "compound", range(1, rng.randint(8, 40))
        for n in nums:
            recs.append((street, n, kind))
    rows = []
    for i, (street, n, kind) in enumerate(recs):
        suffix = "号楼" if kind == "compound" else "号"
        rows.append({"id": f"A{i:06d}", "address": f"{street}{n}{suffix}", "street": street, "number": n,
                     "kind": kind, "grid_code": f"620201001001{i % 50:03d}",
                     "geometry": Point(98.2 + rng.random() * 0.15, 39.74 + rng.random() * 0.1)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def make_queries(addr: pd.DataFrame, n: int, seed: int = 7) -> tuple[list[str], list[str | None], list[str]]:
    """Sample ``n`` queries with realistic variation; return texts, true ids (None if unknown) and kinds."""
    rng = random.Random(seed)
    committees = ["朝晖社区", "建设社区", "雄关社区", "人民社区", "河口村委会"]
    prefixes = ["甘肃省嘉峪关市", "嘉峪关市", "嘉峪关", "甘肃省嘉峪关市雄关街道", "嘉峪关市钢城街道", "新城镇"]
    rooms = ["2单元301室", "1单元502", "-2-301", "301室", "3单元", "102号房"]
    streets = addr["street"].astype(str).tolist()
    numbers = addr["number"].astype(int).tolist()
    kinds = addr["kind"].astype(str).tolist()
    ids = addr["id"].astype(str).tolist()
    known = set(streets)
    texts: list[str] = []
    truth: list[str | None] = []
    variant: list[str] = []
    for _ in range(n):
        j = rng.randrange(len(ids))
        street, num, kind = streets[j], numbers[j], kinds[j]
        label = "clean"
        r = rng.random()
        if r < 0.02:
            label = "unknown"
            if rng.random() < 0.5:
                num = 900 + rng.randrange(99)
            else:
                street = "".join(rng.choice(_UNKNOWN_POOL) for _ in range(2)) + rng.choice(["路", "小区"])
        elif r < 0.07:
            label = "typo"
            typo = street
            while typo in known:  # a typo that happens to spell another street is not a typo
                pos = rng.randrange(max(1, len(street) - 1))
                typo = street[:pos] + rng.choice(_TYPO_POOL) + street[pos + 1:]
            street = typo
        num_text = _chinese(num, rng) if rng.random() < 0.15 else str(num)
        if rng.random() < 0.1:
            num_text = num_text.translate(_FULL)
        if kind == "compound":
            suffix = rng.choices(["号楼", "栋", "幢", "座", "#楼", "#"], weights=[50, 25, 8, 5, 7, 5])[0]
        else:
            suffix = "号"
        text = f"{street}{num_text}{suffix}"
        if rng.random() < 0.35:
            text = rng.choice(prefixes) + (rng.choice(committees) if rng.random() < 0.3 else "") + text
        if rng.random() < 0.3:
            text += rng.choice(rooms)
        if rng.random() < 0.08:
            k = rng.randrange(len(text))
            text = text[:k] + rng.choice([" ", "，", "　"]) + text[k:]
        texts.append(text)
        truth.append(None if label == "unknown" else ids[j])
        variant.append(label)
    return texts, truth, variant


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print rates, ratios and quality figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=100_000, help="number of queries (default 100000)")
    ap.add_argument("--addresses", type=Path, default=ADDRESSES,
                    help="address layer to sample (default geodata/addresses.geojson)")
    ap.add_argument("--synthetic", action="store_true", help="use a synthetic table even if the layer exists")
    args = ap.parse_args(argv)

    if args.addresses.exists() and not args.synthetic:
        addr = gpd.read_file(args.addresses, engine="pyogrio")
        source = str(args.addresses)
    else:
        addr = synthetic_addresses()
        source = "synthetic table"
    print(f"addresses: {len(addr)} from {source}")
    texts, truth, variant = make_queries(addr, args.n)
    print(f"queries:   {len(texts)} ({len(set(texts))} distinct); e.g. {texts[:3]}")

    t0 = time.perf_counter()
    matcher = AddressMatcher(addr)
    len(matcher)
    t_build = time.perf_counter() - t0
    print(f"index build: {t_build:.3f} s")

    t0 = time.perf_counter()
    results = matcher.match_many(texts)
    t_many = time.perf_counter() - t0
    rate = len(texts) / t_many
    print(f"match_many: {t_many:.2f} s for {len(texts)} queries = {rate:,.0f} queries/s "
          f"(target <= 10 s: {'met' if t_many <= 10 else 'MISSED'})")

    # baseline 1: match() one by one, no batch cache (on a sample, extrapolated)
    sample = texts[:5000]
    t0 = time.perf_counter()
    for t in sample:
        matcher.match(t)
    t_single = (time.perf_counter() - t0) / len(sample) * len(texts)
    # baseline 2: plain rapidfuzz extractOne over all normalised addresses (on a sample, extrapolated)
    keys = [normalize(a) for a in addr["address"].astype(str)]
    sample2 = texts[:300]
    t0 = time.perf_counter()
    naive_hits = 0
    for t, truth_id in zip(sample2, truth[:300], strict=True):
        best = process.extractOne(normalize(t), keys, scorer=fuzz.WRatio)
        naive_hits += bool(best and truth_id is not None and addr["id"].iloc[best[2]] == truth_id)
    t_naive = (time.perf_counter() - t0) / len(sample2) * len(texts)
    print(f"baseline match() loop:            {t_single:7.2f} s (extrapolated)  ratio {t_single / t_many:5.1f}x")
    print(f"baseline rapidfuzz extractOne:    {t_naive:7.2f} s (extrapolated)  ratio {t_naive / t_many:5.1f}x")

    status = pd.Series([r.status for r in results])
    print("status: " + ", ".join(f"{k} {v / len(results):.1%}" for k, v in status.value_counts().items()))
    frame = pd.DataFrame({"variant": variant, "status": status,
                          "right": [r.best is not None and r.best.id == t for r, t in zip(results, truth, strict=True)],
                          "wrong": [r.best is not None and r.best.id != t for r, t in zip(results, truth, strict=True)],
                          "top5": [any(c.id == t for c in r.candidates) for r, t in zip(results, truth, strict=True)]})
    for label, g in frame.groupby("variant"):
        print(f"  {label:8s} n={len(g):6d}  ok {(g.status == 'ok').mean():6.1%}  "
              f"right {g.right.mean():6.1%}  wrong {g.wrong.mean():6.2%}  in candidates {g.top5.mean():6.1%}")
    print("  (ok = status ok; right/wrong = ok with the true/another address; in candidates = true address "
          "among the ranked candidates)")
    print(f"  naive extractOne right on first 300: {naive_hits / 300:.1%}")
    return 0 if t_many <= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
