"""Generate the synthetic Jiayuguan demo city (and the tiny test city) as a folder of GeoJSON layers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import shapely

from app.geo._demo_places import Places
from app.geo._demo_plan import FULL, GIVEN, MINI, SURNAMES
from app.geo.city import City
from app.geo.geojson import dump_features, round_coords
from app.geo.schema import FIELDS, LAYERS, METRIC_CRS, STORAGE_CRS

#: Bumped whenever the generator's output changes for the same seed.
GENERATOR_VERSION = "1"
#: The city both synthetic cities (the demo and the tiny test city) stand for, as their metadata stores it.
DEMO_CITY = City(name="嘉峪关市", name_en="Jiayuguan", province="甘肃省", districts=("雄关区", "长城区", "镜铁区"),
                 code_scheme="cn-9-12-15", metric_crs=METRIC_CRS, synthetic=True)


def generate(out: Path, seed: int = 2024, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write the synthetic Jiayuguan demo city into a folder.

    Parameters
    ----------
    out : Path
        Folder to write ``<layer>.geojson`` and ``metadata.json`` into (created if missing).
    seed : int
        Random seed; the same seed gives byte-identical files.
    progress : callable, optional
        Called with a short message after each stage.

    Returns
    -------
    dict of str to int
        Feature count per layer.
    """
    return _City(FULL, seed, progress).write(Path(out))


def generate_mini(out: Path, seed: int = 7, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write the tiny test city (2 divisions, 3 committees, 10 grids) into a folder.

    It takes the same arguments and returns the same counts as :func:`generate`; only the plan
    and the default seed differ.
    """
    return _City(MINI, seed, progress).write(Path(out))


class _City(Places):
    """One whole synthetic city: the last stage adds the staff, checks each point's grid and writes the layers.

    The stages build on each other (:class:`~app.geo._demo_land.Land`, then roads, then places)
    and draw from one random generator in a fixed order, so a seed always gives the same bytes.
    """

    def _staff(self) -> None:
        rng = self.rng
        phones = rng.permutation(10000)
        k = 0
        for g in self.grids:
            for role in ("leader", "worker", "instructor"):
                given = "".join(rng.choice(list(GIVEN), int(rng.integers(1, 3))))
                g[f"{role}_name"] = str(rng.choice(list(SURNAMES))) + given
                g[f"{role}_phone"] = f"1390000{int(phones[k]):04d}"
                k += 1
            g["parttime_count"] = int(rng.integers(2, 7))

    def _assign_points(self, items: list[dict]) -> None:
        """Set lon/lat and the grid each point lies in (checked against the polygons)."""
        if not items:
            return
        ll = self._geo(np.array([a["xy"] for a in items]))
        pts = shapely.points(np.array(ll))
        polys = [g["geom"] for g in self.grids]
        tree = shapely.STRtree(polys)
        src, dst = tree.query(pts, predicate="within")
        hit: dict[int, list[int]] = {}
        for s, d in zip(src, dst, strict=True):
            hit.setdefault(int(s), []).append(int(d))
        for k, a in enumerate(items):
            a["lonlat"] = ll[k]
            found = hit.get(k, [])
            if len(found) != 1:
                raise RuntimeError(f"point {ll[k]} lies in {len(found)} grids")
            a["grid_code"] = self.grids[found[0]]["code"]
            if "grid" in a and a["grid"] is not self.grids[found[0]]:
                raise RuntimeError(f"address {a['address']} landed outside its grid")

    def write(self, out: Path) -> dict[str, int]:
        """Build every layer and write the folder; return the feature counts."""
        self._lattice()
        self._regions()
        self._geometry()
        self.say(f"{len(self.divisions)} divisions, {len(self.committees)} committees, {len(self.grids)} grids")
        self._roads()
        self.say(f"{len(self.roads)} roads")
        self._addresses()
        self._assign_points(self.addresses)
        self.say(f"{len(self.addresses)} addresses")
        self._facilities()
        self._assign_points(self.facilities)
        self.say(f"{len(self.facilities)} facilities")
        self._staff()
        out.mkdir(parents=True, exist_ok=True)
        layers = self._features()
        counts = {}
        for name in LAYERS:
            feats = layers[name]
            rounded = ((props, {"type": geom["type"], "coordinates": round_coords(geom["coordinates"])})
                       for props, geom in feats)
            (out / f"{name}.geojson").write_bytes(dump_features(rounded, name=name))
            counts[name] = len(feats)
        meta = {
            "name": self.plan.name,
            "synthetic": True,
            "note": ("合成数据：几何、人口、姓名与电话均为虚构；区划名称与代码、网格数量及设施数量参照公开资料。"
                     " Synthetic data: geometry and people (names, phones, populations) are invented; "
                     "division names and codes, grid counts and facility counts follow public facts."),
            "generator": "app.geo.demo",
            "generator_version": GENERATOR_VERSION,
            "seed": self.seed,
            "crs": STORAGE_CRS,
            "metric_crs": METRIC_CRS,
            "city": DEMO_CITY.to_metadata(),
            "counts": counts,
        }
        (out / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return counts

    def _features(self) -> dict[str, list[tuple[dict, dict]]]:
        divisions = [({"code": d["code"], "name": d["name"], "kind": d["kind"]}, shapely.geometry.mapping(d["geom"]))
                     for d in sorted(self.divisions, key=lambda d: d["code"])]
        committees = [({k: c[k] for k in ("code", "name", "kind", "division_code")}, shapely.geometry.mapping(c["geom"]))
                      for c in sorted(self.committees, key=lambda c: c["code"])]
        grids = []
        for g in sorted(self.grids, key=lambda g: g["code"]):
            c = self.committees[g["committee"]]
            props = {"code": g["code"], "name": g["name"], "committee_code": c["code"],
                     "division_code": c["division_code"]}
            props.update({f.name: g[f.name] for f in FIELDS["grids"] if f.name not in props})
            grids.append((props, shapely.geometry.mapping(g["geom"])))
        addrs = sorted(self.addresses, key=lambda a: (a["grid_code"], a["kind"], a["street"], a["number"]))
        addresses = []
        for k, a in enumerate(addrs, start=1):
            props = {"id": f"A{k:06d}", "address": a["address"], "kind": a["kind"], "street": a["street"],
                     "number": a["number"], "residents": a["residents"], "households": a["households"],
                     "grid_code": a["grid_code"]}
            addresses.append((props, {"type": "Point", "coordinates": list(a["lonlat"])}))
        facilities = []
        for k, f in enumerate(self.facilities, start=1):
            props = {"id": f"F{k:05d}", "name": f["name"], "category": f["category"], "subtype": f["subtype"],
                     "cjt214_code": f["cjt214_code"], "capacity": f["capacity"], "grid_code": f["grid_code"]}
            facilities.append((props, {"type": "Point", "coordinates": list(f["lonlat"])}))
        roads = [({"id": r["id"], "name": r["name"], "kind": r["kind"]},
                  {"type": "LineString", "coordinates": [[float(self.LON[n]), float(self.LAT[n])] for n in r["nodes"]]})
                 for r in self.roads]
        return {"divisions": divisions, "committees": committees, "grids": grids, "facilities": facilities,
                "addresses": addresses, "roads": roads}
