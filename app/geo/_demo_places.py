"""Addresses and facilities of a synthetic city, with households and residents."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import shapely

from app.geo._demo_plan import COMPOUND_SUFFIX, COMPOUND_WORDS, cn
from app.geo._demo_roads import Roads
from app.geo.schema import CATEGORIES


def split(total: int, weights: np.ndarray, minimum: int = 1) -> list[int]:
    """Split ``total`` into len(weights) integers >= minimum, roughly proportional to weights."""
    n = len(weights)
    rest = total - minimum * n
    raw = rest * weights / weights.sum()
    out = np.floor(raw).astype(int)
    order = np.argsort(-(raw - out), kind="stable")
    for i in range(rest - int(out.sum())):
        out[order[i % n]] += 1
    return [int(v) + minimum for v in out]


class Places(Roads):
    """The third stage: addresses (compounds and road numbers) and facilities in the grids."""

    def _addresses(self) -> None:
        p = self.plan
        rng = self.rng
        self.addresses: list[dict] = []
        names = self._compound_names()
        named = dict(p.named_compounds)
        self.compounds: list[dict] = []
        for g in self.grids:
            c = self.committees[g["committee"]]
            pts: list[tuple[np.ndarray, str, int | None]] = []  # xy, kind, road index
            if c["kind"] == "community":
                hh_total = int(rng.integers(p.households[0], p.households[1] + 1))
                want = [k for k, v in named.items() if v == c["name"]]
                has_compound = bool(want) or rng.random() < p.compound_share
                if has_compound:
                    cname = want[0] if want else next(names)
                    named.pop(cname, None)
                    block = g["blocks"][int(rng.integers(len(g["blocks"])))]
                    nb = int(rng.integers(p.buildings[0], p.buildings[1] + 1))
                    self.compounds.append({"name": cname, "block": block, "grid": g})
                    bpts = [self._block_point(block, *rng.uniform(0.16, 0.84, 2)) for _ in range(nb)]
                    bpts.sort(key=lambda xy: (-round(xy[1] / 40), xy[0]))
                    for b, xy in enumerate(bpts, start=1):
                        pts.append((xy, "compound", None))
                        self.addresses.append({"grid": g, "kind": "compound", "street": cname, "number": b})
                nr = int(rng.integers(p.addr_road[0], p.addr_road[1] + 1))
                for _ in range(nr):
                    block = g["blocks"][int(rng.integers(len(g["blocks"])))]
                    xy, road = self._side_point(block, "NSWE"[int(rng.integers(4))], float(rng.uniform(12, 40)))
                    pts.append((xy, "road", road))
                    self.addresses.append({"grid": g, "kind": "road", "road": road})
            else:
                hh_total = int(rng.integers(p.rural_households[0], p.rural_households[1] + 1))
                for _ in range(int(rng.integers(p.rural_addr[0], p.rural_addr[1] + 1))):
                    pts.append((self._hub_point(g), "road", g["road"]))
                    self.addresses.append({"grid": g, "kind": "road", "road": g["road"]})
            mine = self.addresses[len(self.addresses) - len(pts):]
            weights = np.array([rng.uniform(3, 6) if k == "compound" else rng.uniform(0.3, 3)
                                for _, k, _ in pts])
            hh = split(hh_total, weights)
            for a, (xy, _, _), h in zip(mine, pts, hh, strict=True):
                a["xy"] = xy
                a["households"] = h
                a["residents"] = int(h + rng.binomial(h * 3, 0.5))
            g["households"] = hh_total
            g["population"] = sum(a["residents"] for a in mine)
        # house numbers: odd on the left of the road's direction, even on the right, by distance along it
        lines = {rid: shapely.LineString([(self.X[n], self.Y[n]) for n in r["nodes"]])
                 for rid, r in enumerate(self.roads)}
        by_road: dict[int, list[dict]] = {}
        for a in self.addresses:
            if a["kind"] == "road":
                by_road.setdefault(a["road"], []).append(a)
        for rid, items in by_road.items():
            line = lines[rid]
            for a in items:
                pt = shapely.Point(a["xy"])
                s = line.project(pt)
                p0 = np.array(line.interpolate(min(s, line.length - 1.0)).coords[0])
                p1 = np.array(line.interpolate(min(s, line.length - 1.0) + 1.0).coords[0])
                cross = (p1[0] - p0[0]) * (a["xy"][1] - p0[1]) - (p1[1] - p0[1]) * (a["xy"][0] - p0[0])
                a["_along"], a["_left"] = s, cross > 0
            for left, start in ((True, 1), (False, 2)):
                side = sorted((a for a in items if a["_left"] == left), key=lambda a: a["_along"])
                for k, a in enumerate(side):
                    a["number"] = start + 2 * k
                    a["street"] = self.roads[rid]["name"]
        for a in self.addresses:
            a["address"] = f"{a['street']}{a['number']}号" + ("楼" if a["kind"] == "compound" else "")

    def _compound_names(self) -> Iterator[str]:
        rng = self.rng
        taken = set(self.plan.named_compounds)
        words = list(COMPOUND_WORDS)
        rng.shuffle(words)
        for suffix in COMPOUND_SUFFIX:
            for w in words:
                name = w + suffix
                if name not in taken:
                    taken.add(name)
                    yield name
        # Fallback names end in a Chinese numeral, never a digit, so 第五住宅区 + 10号楼 reads one way only.
        for kind in ("住宅区", "生活区", "家属区"):  # pragma: no cover - more compounds than word pairs
            for n in range(1, 100):
                yield f"第{cn(n)}{kind}"

    # ------------------------------------------------------------------ facilities
    def _facilities(self) -> None:
        rng = self.rng
        p = self.plan
        self.facilities: list[dict] = []
        urban = [g for g in self.grids if self.committees[g["committee"]]["kind"] == "community"]
        village = [g for g in self.grids if self.committees[g["committee"]]["kind"] == "village"]
        half_i = (self.ui0 + self.ui1) / 2
        half_j = (self.uj0 + self.uj1) / 2
        # uneven: central grids are much likelier to host facilities than outer ones
        dist = np.array([math.hypot(np.mean([b[1] for b in g["blocks"]]) * 2 + self.ui0 - half_i,
                                    np.mean([b[0] for b in g["blocks"]]) * 2 + self.uj0 - half_j) for g in urban])
        weight = np.exp(-dist / (max(p.urban_blocks) * 0.45))
        weight /= weight.sum()

        def pick(n: int) -> list[dict]:
            idx = rng.choice(len(urban), size=n, replace=n > len(urban), p=weight)
            return [urban[int(k)] for k in idx]

        def at_grid(g: dict, depth: tuple[float, float] = (15, 70)) -> np.ndarray:
            if self.committees[g["committee"]]["kind"] == "village":
                return self._hub_point(g, 55.0)
            block = g["blocks"][int(rng.integers(len(g["blocks"])))]
            return self._side_point(block, "NSWE"[int(rng.integers(4))], float(rng.uniform(*depth)))[0]

        def add(name: str, category: str, xy: np.ndarray, subtype: str | None = None,
                capacity: int | None = None) -> None:
            self.facilities.append({"name": name, "category": category, "subtype": subtype,
                                    "cjt214_code": CATEGORIES[category].cjt214_code,
                                    "capacity": capacity, "xy": xy})

        cname = {id(g): self.committees[g["committee"]]["name"] for g in self.grids}
        # bus stops at road crossings along arterial and secondary roads, every ~500 m
        bx, by = p.urban_blocks
        major_v = [k for k, r in self.vroad.items() if self.roads[r]["kind"] != "local"]
        major_h = [k for k, r in self.hroad.items() if self.roads[r]["kind"] != "local"]
        cand = set()
        for k in major_v:
            cand.update((k, m) for m in range(0, by + 1, 2))
        for m in major_h:
            cand.update((k, m) for k in range(0, bx + 1, 2))
        cand = sorted(cand)
        south_row = int(round(by * 0.62))
        # urban stops (south / north of the 南市区 line), standard platforms, village stops
        n_south, n_north, n_platform, n_rural = (35, 90, 25, 24) if not p.mini else (1, 1, 1, 1)
        south = [c for c in cand if c[1] >= south_row]
        north = [c for c in cand if c[1] < south_row]
        chosen_s = [south[int(k)] for k in sorted(rng.choice(len(south), n_south, replace=False))]
        chosen_n = [north[int(k)] for k in sorted(rng.choice(len(north), n_north, replace=False))]
        for n, (k, m) in enumerate(chosen_s + chosen_n):
            j, i = self.uj0 + 2 * m, self.ui0 + 2 * k
            vname, hname = self.roads[self.vroad[k]]["name"], self.roads[self.hroad[m]]["name"]
            ang = rng.uniform(0, 2 * np.pi)
            # step 9-12 m diagonally into a block so the stop never sits on a grid edge
            sx, sy = (1 if math.cos(ang) > 0 else -1), (1 if math.sin(ang) > 0 else -1)
            if i == self.ui0:
                sx = 1
            if i == self.ui1:
                sx = -1
            if j == self.uj0:
                sy = -1
            if j == self.uj1:
                sy = 1
            xy = np.array([self.X[j, i] + sx * rng.uniform(9, 12), self.Y[j, i] + sy * rng.uniform(9, 12)])
            subtype = "standard_platform" if n < n_platform else "stop"
            add(f"{vname}{hname}口", "bus_stop", xy, subtype)
        comp = next(c for c in self.compounds if c["name"] == "阳光小区")
        add(f"{comp['name']}北门", "bus_stop", self._block_point(comp["block"], 0.5, 0.05), "stop")
        rural_hubs = sorted(village, key=lambda g: g["code"])
        stops = sorted(rng.choice(len(rural_hubs), min(n_rural, len(rural_hubs)), replace=False))
        for g in [rural_hubs[int(k)] for k in stops]:
            add(f"{cname[id(g)]}{cn(g['seq'])}组站", "bus_stop", self._hub_point(g, 30.0), "stop")
        # parks
        if p.mini:
            add("雄关公园", "park", at_grid(urban[0]), "city_park")
            add("建设社区口袋公园", "park", at_grid(urban[1]), "pocket_park")
            add("朝晖社区花园", "park", at_grid(urban[-1]), "community_garden")
        else:
            gang = [g for g in urban if self.committees[g["committee"]]["division_code"] == "620201002"]
            add("钢城体育公园", "park", at_grid(gang[len(gang) // 2], (60, 110)), "city_park")
            for name in ("雄关公园", "南湖公园", "世纪公园", "迎宾湖公园"):
                add(name, "park", at_grid(pick(1)[0], (60, 110)), "city_park")
            for g in pick(5):
                add(f"{cname[id(g)]}口袋公园", "park", at_grid(g), "pocket_park")
            seen: set[str] = set()
            for g in pick(40):
                if cname[id(g)] not in seen and len(seen) < 10:
                    seen.add(cname[id(g)])
                    add(f"{cname[id(g)]}花园", "park", at_grid(g), "community_garden")
        # parking
        if p.mini:
            add("长城路标线停车位", "parking", at_grid(urban[2]), "marked", 12)
            add("雍和市场潮汐停车位", "parking", at_grid(urban[3]), "tidal", 20)
            add("朝晖公共停车场", "parking", at_grid(urban[4]), None, 60)
        else:
            marked = split(235, rng.uniform(1, 2, 7), minimum=15)
            for g, cap in zip(pick(7), marked, strict=True):
                road = self.roads[self.hroad[g["blocks"][0][0]]]["name"]
                add(f"{road}标线停车位（{cname[id(g)]}）", "parking", at_grid(g), "marked", cap)
            tidal = split(180, rng.uniform(1, 2, 4), minimum=25)
            markets = pick(2)
            for n, cap in enumerate(tidal):
                market = ("雍和市场", "富强市场")[n // 2]
                add(f"{market}潮汐停车位{cn(n % 2 + 1)}", "parking", at_grid(markets[n // 2]), "tidal", cap)
            for g in pick(10):
                add(f"{cname[id(g)]}公共停车场", "parking", at_grid(g), None, int(rng.integers(4, 31)) * 10)
        # culture, education, health and fitness
        plan = ((1, 1, 1, 1, 2, 0) if p.mini else (14, 10, 3, 4, 34, 6))
        n_lib, n_study, n_senior, n_tcm, n_fit, n_fit_rural = plan
        for g in self._distinct(pick(80), n_lib, cname):
            add(f"嘉峪关市图书馆{cname[id(g)]}分馆", "library", at_grid(g))
        if not p.mini:
            for town in ("新城镇", "文殊镇"):
                g = next(v for v in village if self._division_of(v)["name"] == town)
                add(f"嘉峪关市图书馆{town}分馆", "library", at_grid(g))
        for g in self._distinct(pick(80), n_study, cname):
            add(f"{cname[id(g)]}自习室", "study_room", at_grid(g))
        for g, label in zip(pick(n_senior), ("雄关", "钢城", "南市区"), strict=False):
            add(f"嘉峪关市老年大学{label}分校", "senior_university", at_grid(g))
        for g in self._distinct(pick(80), n_tcm, cname):
            add(f"{cname[id(g)]}中医馆", "tcm_clinic", at_grid(g))
        count: dict[str, int] = {}
        fit = pick(n_fit) + ([village[int(k)] for k in rng.choice(len(village), n_fit_rural, replace=False)]
                             if n_fit_rural else [])
        for g in fit:
            count[cname[id(g)]] = count.get(cname[id(g)], 0) + 1
            add(f"{cname[id(g)]}健身点{cn(count[cname[id(g)]])}", "fitness", at_grid(g))

    @staticmethod
    def _distinct(grids: list[dict], n: int, cname: dict) -> list[dict]:
        out, seen = [], set()
        for g in grids:
            if cname[id(g)] not in seen:
                seen.add(cname[id(g)])
                out.append(g)
            if len(out) == n:
                break
        return out

    def _division_of(self, g: dict) -> dict:
        code = self.committees[g["committee"]]["division_code"]
        return next(d for d in self.divisions if d["code"] == code)
