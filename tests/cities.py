"""Fictional cities written as grid offices hand them over (seeded), for the init-city tests and benchmark."""

from __future__ import annotations

import functools
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry import Point, Polygon, box

from app.geo._demo_plan import GIVEN, SURNAMES
from app.geo.crs import wgs84_to_gcj02
from tests import helpers

#: The Chinese test city: a made-up name (no such city exists), its CRS and south-west corner.
CN_NAME = "河湾市"
CN_CRS = "EPSG:4546"  # CGCS2000 / 3-degree Gauss-Kruger CM 111E
CN_ORIGIN = (110.86, 30.06)
#: The city outside China: a made-up Norwegian-style town in UTM zone 32N.
UTM_NAME = "Fjordvik"
UTM_CRS = "EPSG:32632"
UTM_ORIGIN = (10.62, 59.86)
#: Lanzhou's grids are cut in this Gauss-Kruger zone (CM 105E) from a lattice of this cell size.
LANZHOU_CRS = "EPSG:4544"
LANZHOU_CELL_M = 5000.0

#: Section size (metres): a sub-district west of ``URBAN_W`` and a town east of it, ``SECTION_H`` tall.
SECTION_W, SECTION_H, URBAN_W = 10_000, 6_000, 4_000

_URBAN_DIVISIONS = ("滨江街道", "柳湾街道", "望湖街道", "桂花街道", "清河街道", "新桥街道", "云台街道", "石泉街道",
                    "凤鸣街道", "金沙街道")
_TOWNS = ("青石镇", "白鹭镇", "梅溪镇", "松岗镇", "龙潭镇", "枫桥镇", "杏林镇", "双河镇", "兰亭镇", "竹溪镇")
_WORDS = ("阳光", "朝晖", "锦绣", "翠苑", "春晖", "和平", "幸福", "长青", "安康", "泰和", "兴隆", "育才", "文昌",
          "光明", "友谊", "丰收", "振兴", "东风", "红星", "明珠", "碧波", "秀水", "银杏", "紫荆", "丹桂", "玉泉",
          "晨曦", "南苑", "北辰", "西岭", "东湖", "金桥", "华庭", "嘉禾", "瑞祥", "福泽", "康乐", "怡景", "锦华",
          "鸿运", "德馨", "聚贤", "揽月", "临江", "观澜", "望月", "听涛", "晴川", "春江", "秋实", "夏荷", "冬青",
          "松鹤", "竹韵", "梅园", "兰庭", "菊苑", "桃李", "杏坛", "荷风")
_ROAD_WORDS = ("滨江", "沿河", "人民", "解放", "中山", "建设", "迎宾", "五一", "青年", "胜利", "团结", "交通", "工业",
               "学府", "文化", "体育", "商贸", "花园", "健康", "长江", "黄河", "汉江", "清江", "楚天", "荆州", "白沙",
               "柳林", "杨柳", "桃源", "杏花", "梨园", "枫林", "松涛", "竹园", "梅林", "兰苑", "菊香", "荷塘", "芦荻",
               "石桥")
_ROAD_SUFFIX = ("路", "街", "大道", "巷")
_COMPOUND_SUFFIX = ("小区", "花园", "家园", "公寓")
_VILLAGE_TAILS = ("家湾", "家坪", "家岭", "家沟", "家垸", "家岗")
_DIRECTIONS = ("东", "西", "南", "北", "中", "新", "东二", "西二", "南二", "北二", "中二", "新二")
_FACILITY_MIX = (("公交站点", 14), ("公园", 8), ("停车场", 10), ("图书馆", 4), ("中医馆", 4))

_EN_DISTRICTS = ("Nordby", "Sandvik")
_EN_COMMUNITIES = ("Harbour", "Old Town", "Millbank", "Kirkehill", "Lindholm", "Eikelund", "Brattmo", "Solheia")
_EN_STREETS = ("Harbour Street", "Mill Road", "Church Lane", "Birch Avenue", "Fjord Road", "Market Street",
               "School Road", "Station Road", "Rowan Way", "Pine Street", "Lake Road", "North Street",
               "Quay Road", "Hill Road", "Meadow Lane", "Bridge Street")
_EN_FACILITIES = (("bus stop", 12), ("park", 6), ("parking", 8))


@dataclass
class _Grid:
    """One grid as the generator draws it, in the metric CRS of its city."""

    geom: Polygon
    division: int
    committee: int
    code: str = ""
    name: str = ""
    households: int = 0
    population: int = 0


@dataclass
class _Unit:
    """A division or committee: its name, code and kind (subdistrict/town, community/village)."""

    name: str
    code: str
    kind: str


@dataclass
class _Address:
    """One standard address with its point (metric CRS) and registered households and residents."""

    text: str
    xy: tuple[float, float]
    households: int
    residents: int


# --- geometry: uneven guillotine tilings with T-junctions ------------------------------------------------


def _cuts(a: float, b: float, n: int, rng: np.random.Generator, step: float = 10.0) -> list[float]:
    """Return ``n + 1`` positions from ``a`` to ``b`` that cut it into ``n`` uneven parts, on a ``step`` raster."""
    w = np.cumsum(rng.uniform(0.7, 1.3, n))
    inner = [round((a + (b - a) * v / w[-1]) / step) * step for v in w[:-1]]
    return [a, *inner, b]


def _fill(rect: tuple[float, float, float, float], rows: tuple[int, int], cols: tuple[int, int],
          rng: np.random.Generator, merge: float = 0.12) -> list[Polygon]:
    """Cut a rectangle into rows of boxes, each row cut differently (T-junctions), some boxes merged (L-shapes)."""
    x0, y0, x1, y1 = rect
    ys = _cuts(y1, y0, int(rng.integers(rows[0], rows[1] + 1)), rng)  # north to south
    table = [[box(xa, yb, xb, ya) for xa, xb in zip(xs[:-1], xs[1:], strict=True)]
             for ya, yb in zip(ys[:-1], ys[1:], strict=True)
             for xs in [_cuts(x0, x1, int(rng.integers(cols[0], cols[1] + 1)), rng)]]
    out: list[Polygon] = []
    taken: set[tuple[int, int]] = set()
    for r, row in enumerate(table):
        for c, cell in enumerate(row):
            if (r, c) in taken:
                continue
            if r + 1 < len(table) and rng.random() < merge:
                below = [k for k, other in enumerate(table[r + 1]) if (r + 1, k) not in taken
                         and cell.intersection(other).length > 0.3 * min(cell.bounds[2] - cell.bounds[0],
                                                                         other.bounds[2] - other.bounds[0])]
                if below:
                    taken.add((r + 1, below[0]))
                    merged = shapely.union(cell, table[r + 1][below[0]])
                    if isinstance(merged, Polygon):
                        out.append(shapely.normalize(merged))
                        continue
                    taken.discard((r + 1, below[0]))
            out.append(cell)
    return out


def _sections(rng: np.random.Generator, sections: int, x0: float, y0: float
              ) -> tuple[list[tuple[int, str]], list[tuple[int, str]], list[_Grid]]:
    """Lay out ``sections`` pairs of a sub-district (5 communities) and a town (3 villages), north to south.

    Returns the divisions as (index, kind), the committees as (division index, kind) and the grids.
    """
    divisions: list[tuple[int, str]] = []
    committees: list[tuple[int, str]] = []
    grids: list[_Grid] = []
    for k in range(sections):
        top = y0 + (sections - k) * SECTION_H
        bottom = top - SECTION_H
        urban, town = 2 * k, 2 * k + 1
        divisions += [(urban, "subdistrict"), (town, "town")]
        xc = _cuts(x0, x0 + URBAN_W, 2, rng, 10.0)[1]
        blocks = [(x0, ya, xc, yb) for ya, yb in _pairs(_cuts(bottom, top, 3, rng))]
        blocks += [(xc, ya, x0 + URBAN_W, yb) for ya, yb in _pairs(_cuts(bottom, top, 2, rng))]
        for rect in blocks:
            committees.append((urban, "community"))
            grids += [_Grid(g, urban, len(committees) - 1) for g in _fill(rect, (3, 4), (2, 4), rng)]
        for xa, xb in _pairs(_cuts(x0 + URBAN_W, x0 + SECTION_W, 3, rng)):
            committees.append((town, "village"))
            grids += [_Grid(g, town, len(committees) - 1) for g in _fill((xa, bottom, xb, top), (2, 3), (2, 3), rng)]
    return divisions, committees, grids


def _pairs(values: list[float]) -> Iterator[tuple[float, float]]:
    return zip(values[:-1], values[1:], strict=True)


def _number(grids: list[_Grid]) -> dict[int, list[_Grid]]:
    """Group grids by committee, each group ordered north to south, then west to east."""
    by: dict[int, list[_Grid]] = {}
    for g in grids:
        by.setdefault(g.committee, []).append(g)
    for group in by.values():
        group.sort(key=lambda g: (-round(g.geom.representative_point().y, -2), g.geom.representative_point().x))
    return by


@functools.lru_cache(maxsize=4096)
def _core(geom: Polygon, margin: float) -> Polygon:
    core = geom.buffer(-margin)
    shapely.prepare(core)
    return core


def _inside(geom: Polygon, rng: np.random.Generator, margin: float = 8.0) -> tuple[float, float]:
    """A random point at least ``margin`` metres inside ``geom``."""
    core = _core(geom, margin)
    x0, y0, x1, y1 = core.bounds
    while True:
        x, y = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
        if core.contains(Point(x, y)):
            return round(x, 2), round(y, 2)


def _spread(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into at least one per weight, proportionally (largest remainders)."""
    n = len(weights)
    total = max(total, n)
    w = np.asarray(weights, float)
    share = (total - n) * w / w.sum()
    base = np.floor(share).astype(int)
    for i in np.argsort(-(share - base), kind="stable")[: total - n - int(base.sum())]:
        base[i] += 1
    return (base + 1).tolist()


def _origin_xy(crs: str, lon: float, lat: float, step: float = 1000.0) -> tuple[float, float]:
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    return round(x / step) * step, round(y / step) * step


def _lonlat(crs: str, xy: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Metric points of ``crs`` as WGS84 lon/lat arrays."""
    arr = np.asarray(xy, float).reshape(-1, 2)
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(arr[:, 0], arr[:, 1])
    return np.asarray(lon), np.asarray(lat)


def _person(rng: np.random.Generator) -> str:
    return str(rng.choice(list(SURNAMES))) + "".join(rng.choice(list(GIVEN), int(rng.integers(1, 3))))


# --- the Chinese city -------------------------------------------------------------------------------------


def _cn_units(divisions: list[tuple[int, str]], committees: list[tuple[int, str]],
              rng: np.random.Generator) -> tuple[list[_Unit], list[_Unit]]:
    divs = [_Unit(_URBAN_DIVISIONS[i // 2] if kind == "subdistrict" else _TOWNS[i // 2], f"HW{i + 1:02d}", kind)
            for i, kind in divisions]
    words = iter(rng.permutation(len(_WORDS)).tolist())
    villages = iter(rng.permutation(len(SURNAMES) * len(_VILLAGE_TAILS)).tolist())
    coms: list[_Unit] = []
    seq: dict[int, int] = {}
    for d, kind in committees:
        seq[d] = seq.get(d, 0) + 1
        if kind == "community":
            name = _WORDS[next(words)] + "社区"
        else:
            v = next(villages)
            name = SURNAMES[v % len(SURNAMES)] + _VILLAGE_TAILS[v // len(SURNAMES)] + "村"
        coms.append(_Unit(name, f"{divs[d].code}{seq[d]:02d}", kind))
    return divs, coms


def _cn_addresses(by: dict[int, list[_Grid]], coms: list[_Unit], divs: list[_Unit], n: int,
                  rng: np.random.Generator) -> list[tuple[_Grid, _Address]]:
    """Standard addresses in every grid: road numbers and compound buildings in town, house numbers in villages."""
    grids = [g for group in by.values() for g in group]
    counts = _spread(n, [3.0 if coms[g.committee].kind == "community" else 1.0 for g in grids])
    roads = iter(w + s for s in _ROAD_SUFFIX for w in np.asarray(_ROAD_WORDS)[rng.permutation(len(_ROAD_WORDS))])
    compounds = iter(w + s for s in _COMPOUND_SUFFIX for w in np.asarray(_WORDS)[rng.permutation(len(_WORDS))])
    streets: dict[int, tuple[list[str], list[str]]] = {}
    numbers: dict[str, int] = {}
    out: list[tuple[_Grid, _Address]] = []
    for g, count in zip(grids, counts, strict=True):
        com = coms[g.committee]
        if com.kind == "community" and g.committee not in streets:
            streets[g.committee] = ([next(roads) for _ in range(3)], [next(compounds) for _ in range(2)])
        for _ in range(count):
            if com.kind == "village":
                street, tail, hh = divs[g.division].name + com.name, "号", int(rng.integers(1, 7))
            elif rng.random() < 0.45:
                street, tail, hh = str(rng.choice(streets[g.committee][1])), "号楼", int(rng.integers(24, 120))
            else:
                street, tail, hh = str(rng.choice(streets[g.committee][0])), "号", int(rng.integers(1, 40))
            numbers[street] = numbers.get(street, 0) + (1 if tail == "号楼" else int(rng.integers(1, 4)))
            residents = max(hh, int(round(hh * rng.uniform(2.0, 3.2))))
            out.append((g, _Address(f"{CN_NAME}{street}{numbers[street]}{tail}", _inside(g.geom, rng), hh, residents)))
    return out


def _write_shapefile_zip(gdf: gpd.GeoDataFrame, zip_path: Path, stem: str, encoding: str) -> None:
    """Write ``gdf`` as one zipped Shapefile whose .dbf is in ``encoding`` and that has no .cpg."""
    with tempfile.TemporaryDirectory(prefix="gm-city-shp-") as tmp:
        shp = Path(tmp) / f"{stem}.shp"
        gdf.to_file(shp, engine="pyogrio", encoding=encoding)
        shp.with_suffix(".cpg").unlink(missing_ok=True)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for ext in (".shp", ".shx", ".dbf", ".prj"):
                zf.write(shp.with_suffix(ext), f"{stem}{ext}")


def make_cn_city(dest: Path, *, seed: int = 10, sections: int = 1, addresses: int = 300, facilities: int = 40,
                 committee_codes: bool = True) -> Path:
    """Write the fictional city 河湾市 as its grid office would hand it over.

    ``dest`` gets three files, nothing else:

    - ``网格.zip``: one zipped Shapefile of the grids in CGCS2000 / 3-degree Gauss-Kruger CM 111E
      (EPSG:4546, with its .prj), the .dbf in GBK and no .cpg; fields 网格编码, 网格名称, 所属社区,
      社区编码 (unless ``committee_codes`` is false), 所属街道, 网格员, 联系电话, 户数, 人口 and 备注
      (a column gridmap does not know). Codes are ``HW0103007`` style (no 9/12/15-digit scheme).
      The grids tile exactly in that CRS, with T-junctions (rows cut differently) and L-shapes.
    - ``设施.xlsx``: facilities (名称, 类型 such as 公交站点/公园/停车场/图书馆/中医馆, 车位数,
      经度(GCJ-02), 纬度(GCJ-02)), every point inside a grid.
    - ``标准地址.xlsx``: standard addresses (标准地址 like 河湾市滨江路12号 or 河湾市阳光小区3号楼,
      经度, 纬度 in GCJ-02 without a hint in the header, 户数, 人口). Each grid's 户数 and 人口
      are the sums over its addresses.

    Everything (names, phones ``138****1234``, numbers) is synthetic.

    Parameters
    ----------
    dest : Path
        Folder to write into (created).
    seed : int
        Random seed; the same seed gives the same content.
    sections : int
        Pairs of one sub-district (5 communities) and one town (3 villages), about 65 grids each (at most 10).
    addresses, facilities : int
        Number of standard addresses (at least one per grid) and of facilities.
    committee_codes : bool
        Write the 社区编码 column.

    Returns
    -------
    Path
        ``dest``.
    """
    if not 1 <= sections <= len(_TOWNS):
        raise ValueError(f"sections must be from 1 to {len(_TOWNS)}, got {sections}")
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    x0, y0 = _origin_xy(CN_CRS, *CN_ORIGIN)
    divisions, committees, grids = _sections(rng, sections, x0, y0)
    divs, coms = _cn_units(divisions, committees, rng)
    by = _number(grids)
    for c, group in by.items():
        for i, g in enumerate(group, 1):
            g.code, g.name = f"{coms[c].code}{i:03d}", f"{coms[c].name}第{i}网格"
    located = _cn_addresses(by, coms, divs, addresses, rng)
    for g, a in located:
        g.households += a.households
        g.population += a.residents
    ordered = [g for c in sorted(by) for g in by[c]]
    phones = rng.permutation(10_000)
    table: dict[str, list] = {
        "网格编码": [g.code for g in ordered],
        "网格名称": [g.name for g in ordered],
        "所属社区": [coms[g.committee].name for g in ordered],
        "社区编码": [coms[g.committee].code for g in ordered],
        "所属街道": [divs[g.division].name for g in ordered],
        "网格员": [_person(rng) for _ in ordered],
        "联系电话": [f"138****{int(phones[i % 10_000]):04d}" for i in range(len(ordered))],
        "户数": [g.households for g in ordered],
        "人口": [g.population for g in ordered],
        "备注": ["临街商铺较多" if i % 7 == 3 else "" for i in range(len(ordered))],
    }
    if not committee_codes:
        del table["社区编码"]
    gdf = gpd.GeoDataFrame(table, geometry=[g.geom for g in ordered], crs=CN_CRS)
    _write_shapefile_zip(gdf, dest / "网格.zip", "网格", "GBK")

    lon, lat = wgs84_to_gcj02(*_lonlat(CN_CRS, [a.xy for _, a in located]))
    pd.DataFrame({
        "标准地址": [a.text for _, a in located],
        "经度": np.round(lon, 6), "纬度": np.round(lat, 6),
        "户数": [a.households for _, a in located], "人口": [a.residents for _, a in located],
    }).to_excel(dest / "标准地址.xlsx", sheet_name="标准地址", index=False)

    rows = []
    weights = np.asarray([3.0 if coms[g.committee].kind == "community" else 1.0 for g in ordered])
    kinds = [k for k, n in _FACILITY_MIX for _ in range(n)]
    seen: set[str] = set()
    for i in range(facilities):
        kind = kinds[i % len(kinds)]
        g = ordered[int(rng.choice(len(ordered), p=weights / weights.sum()))]
        com = coms[g.committee].name
        stem, tail = {"公交站点": (com.removesuffix("社区").removesuffix("村"), "站"),
                      "公园": (com.removesuffix("社区").removesuffix("村"), "公园"),
                      "停车场": (g.name, "停车场"), "图书馆": (f"{CN_NAME[:-1]}图书馆{com}", "分馆"),
                      "中医馆": (_person(rng)[0] + "氏", "中医馆")}[kind]
        name = next(n for d in ("", *_DIRECTIONS) for n in [f"{stem}{d}{tail}"] if n not in seen)
        seen.add(name)
        rows.append({"名称": name, "类型": kind, "车位数": int(rng.integers(20, 200)) if kind == "停车场" else None,
                     "xy": _inside(g.geom, rng, 12.0)})
    lon, lat = wgs84_to_gcj02(*_lonlat(CN_CRS, [r.pop("xy") for r in rows]))
    fac = pd.DataFrame(rows)
    fac["车位数"] = fac["车位数"].astype("Int64")
    fac["经度(GCJ-02)"], fac["纬度(GCJ-02)"] = np.round(lon, 6), np.round(lat, 6)
    fac.to_excel(dest / "设施.xlsx", sheet_name="设施", index=False)
    return dest


# --- the city outside China ------------------------------------------------------------------------------


def make_utm_city(dest: Path, *, seed: int = 11, addresses: bool = True) -> Path:
    """Write the fictional Norwegian-style town Fjordvik (UTM zone 32N, near 10.7°E 59.9°N).

    ``dest`` gets ``grids.gpkg`` (EPSG:32632; fields grid_id, grid_name, community, district,
    households, population; about 60 grids tiling exactly, with T-junctions), ``facilities.csv``
    (UTF-8; name, type as ``bus stop``/``park``/``parking``, lon, lat in WGS84) and, unless
    ``addresses`` is false, ``addresses.csv`` (address like ``Harbour Street 12``, lon, lat,
    households, population; each grid's numbers are the sums over its addresses).

    Parameters
    ----------
    dest : Path
        Folder to write into (created).
    seed : int
        Random seed.
    addresses : bool
        Write ``addresses.csv``.

    Returns
    -------
    Path
        ``dest``.
    """
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    x0, y0 = _origin_xy(UTM_CRS, *UTM_ORIGIN)
    _, committees, grids = _sections(rng, 1, x0, y0)
    by = _number(grids)
    streets = iter(_EN_STREETS)
    rows: list[tuple[_Grid, str, tuple[float, float], int, int]] = []
    for c, group in sorted(by.items()):
        names = [next(streets), next(streets)] if committees[c][1] == "community" else [f"{_EN_COMMUNITIES[c]} Road"]
        numbers = dict.fromkeys(names, 0)
        for i, g in enumerate(group, 1):
            g.code, g.name = f"FV-{c + 1:02d}-{i:02d}", f"{_EN_COMMUNITIES[c]} {i}"
            for _ in range(int(rng.integers(2, 5))):
                street = str(rng.choice(names))
                numbers[street] += int(rng.integers(1, 4))
                hh = int(rng.integers(1, 30))
                rows.append((g, f"{street} {numbers[street]}", _inside(g.geom, rng), hh,
                             max(hh, int(round(hh * rng.uniform(1.8, 2.6))))))
                g.households += hh
                g.population += rows[-1][4]
    ordered = [g for c in sorted(by) for g in by[c]]
    gpd.GeoDataFrame({
        "grid_id": [g.code for g in ordered], "grid_name": [g.name for g in ordered],
        "community": [_EN_COMMUNITIES[g.committee] for g in ordered],
        "district": [_EN_DISTRICTS[g.division] for g in ordered],
        "households": [g.households for g in ordered], "population": [g.population for g in ordered],
    }, geometry=[g.geom for g in ordered], crs=UTM_CRS).to_file(dest / "grids.gpkg", engine="pyogrio",
                                                                  layer="grids")
    if addresses:
        lon, lat = _lonlat(UTM_CRS, [r[2] for r in rows])
        pd.DataFrame({"address": [r[1] for r in rows], "lon": np.round(lon, 6), "lat": np.round(lat, 6),
                      "households": [r[3] for r in rows], "population": [r[4] for r in rows]}
                     ).to_csv(dest / "addresses.csv", index=False, encoding="utf-8")
    fac = []
    kinds = [k for k, n in _EN_FACILITIES for _ in range(n)]
    for i, kind in enumerate(kinds):
        g = ordered[int(rng.integers(len(ordered)))]
        fac.append({"name": f"{g.name} {kind}" if kind != "park" else f"{_EN_COMMUNITIES[g.committee]} Park {i}",
                    "type": kind, "xy": _inside(g.geom, rng, 12.0)})
    lon, lat = _lonlat(UTM_CRS, [f.pop("xy") for f in fac])
    out = pd.DataFrame(fac)
    out["lon"], out["lat"] = np.round(lon, 6), np.round(lat, 6)
    out.to_csv(dest / "facilities.csv", index=False, encoding="utf-8")
    return dest


# --- Lanzhou from its public district outlines -----------------------------------------------------------

_QUADRANTS = ("东北", "西北", "西南", "东南")


def _lattice_pieces(district: shapely.Geometry, cell: float) -> list[Polygon]:
    """The lattice cells clipped to ``district``, with pieces under a quarter cell merged into a neighbour."""
    x0, y0, x1, y1 = district.bounds
    xs = np.arange(np.floor(x0 / cell) * cell, x1, cell)
    ys = np.arange(np.floor(y0 / cell) * cell, y1, cell)
    cells = shapely.box(*np.meshgrid(xs, ys), *np.meshgrid(xs + cell, ys + cell))
    clipped = shapely.intersection(cells.ravel(), district)
    pieces = [p for g in clipped if not g.is_empty
              for p in shapely.get_parts(g) if isinstance(p, Polygon) and p.area > 1.0]
    small = cell * cell / 4
    changed = True
    while changed:
        changed = False
        pieces.sort(key=lambda p: p.area)
        for i, p in enumerate(pieces):
            if p.area >= small:
                break
            shared = [(pieces[j].intersection(p).length, j) for j in range(len(pieces)) if j != i]
            length, j = max(shared, default=(0.0, -1))
            if length > 0:
                merged = shapely.coverage_union_all([pieces[j], p])
                if isinstance(merged, Polygon):
                    pieces[j] = merged
                    del pieces[i]
                    changed = True
                    break
    return pieces


def make_lanzhou(dest: Path, *, seed: int = 12, cell: float = LANZHOU_CELL_M) -> Path | None:
    """Write Lanzhou's grids, cut from its public district outlines, as a grid office would hand them over.

    ``dest`` gets ``区县.geojson`` (the 8 districts and counties as read from
    ``../shared/reference/data/lanzhou_districts.geojson``: 区划代码, 名称; WGS84), ``网格.gpkg``
    (EPSG:4544; a lattice of ``cell``-metre squares clipped to each district, pieces under a quarter
    cell merged into a neighbour; fields 网格编码, 网格名称, 所属社区 (the district's quadrant around its
    centre: 城关东北社区 ...), 所属区县, 户数, 人口), ``设施.csv`` (UTF-8 with BOM; 名称, 类型, 经度,
    纬度 in WGS84, a bus stop in every fourth grid and a park in every tenth) and ``地址.csv`` (GB18030;
    标准地址 like 兰州市城关区滨江路12号, 经度, 纬度, 户数, 人口; 1-3 per grid, whose sums are the grid's).
    The reference file is only read; nothing of it is copied into the repository.

    Parameters
    ----------
    dest : Path
        Folder to write into (created).
    seed : int
        Random seed.
    cell : float
        Lattice cell size in metres (5 km gives about 650 grids).

    Returns
    -------
    Path or None
        ``dest``, or None when the reference data is absent.
    """
    if not helpers.LANZHOU.exists():
        return None
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    districts = gpd.read_file(helpers.LANZHOU, engine="pyogrio")
    districts = districts.sort_values("code").reset_index(drop=True)
    gpd.GeoDataFrame({"区划代码": districts["code"].astype(str), "名称": districts["name"]},
                     geometry=districts.geometry, crs=districts.crs).to_file(
        dest / "区县.geojson", engine="pyogrio", driver="GeoJSON")
    metric = districts.to_crs(LANZHOU_CRS)
    roads = iter(w + s for s in _ROAD_SUFFIX for w in _ROAD_WORDS)
    grid_rows: list[dict] = []
    geoms: list[Polygon] = []
    addresses: list[dict] = []
    address_xy: list[tuple[float, float]] = []
    for code, name, district in zip(metric["code"].astype(str), metric["name"], metric.geometry, strict=True):
        short = name[:-1]
        centre = district.representative_point()
        pieces = _lattice_pieces(district, cell)
        pieces.sort(key=lambda p: (-round(p.representative_point().y / cell), p.representative_point().x))
        street_names = [next(roads) for _ in range(4)]
        numbers = dict.fromkeys(street_names, 0)
        for i, piece in enumerate(pieces, 1):
            pt = piece.representative_point()
            quadrant = _QUADRANTS[(0 if pt.x >= centre.x else 1) if pt.y >= centre.y else (2 if pt.x < centre.x else 3)]
            hh_sum = pop_sum = 0
            for _ in range(int(rng.integers(1, 4))):
                street = street_names[i % len(street_names)]
                numbers[street] += int(rng.integers(1, 5))
                hh = int(rng.integers(5, 60))
                pop = int(round(hh * rng.uniform(2.2, 3.1)))
                hh_sum, pop_sum = hh_sum + hh, pop_sum + pop
                addresses.append({"标准地址": f"兰州市{name}{street}{numbers[street]}号", "户数": hh, "人口": pop})
                address_xy.append(_inside(piece, rng, 20.0))
            grid_rows.append({"网格编码": f"{code}{i:04d}", "网格名称": f"{name}第{i}网格",
                              "所属社区": f"{short}{quadrant}社区", "所属区县": name, "户数": hh_sum, "人口": pop_sum})
            geoms.append(piece)
    gpd.GeoDataFrame(grid_rows, geometry=geoms, crs=LANZHOU_CRS).to_file(
        dest / "网格.gpkg", engine="pyogrio", layer="网格")
    lon, lat = _lonlat(LANZHOU_CRS, address_xy)
    out = pd.DataFrame(addresses)
    out["经度"], out["纬度"] = np.round(lon, 6), np.round(lat, 6)
    out[["标准地址", "经度", "纬度", "户数", "人口"]].to_csv(dest / "地址.csv", index=False, encoding="gb18030")
    fac, fac_xy = [], []
    for i, (row, geom) in enumerate(zip(grid_rows, geoms, strict=True)):
        for kind, every in (("公交站点", 4), ("公园", 10)):
            if i % every == 0:
                fac.append({"名称": f"{row['网格名称']}{'公交站' if kind == '公交站点' else '公园'}", "类型": kind})
                fac_xy.append(_inside(geom, rng, 30.0))
    lon, lat = _lonlat(LANZHOU_CRS, fac_xy)
    out = pd.DataFrame(fac)
    out["经度"], out["纬度"] = np.round(lon, 6), np.round(lat, 6)
    out.to_csv(dest / "设施.csv", index=False, encoding="utf-8-sig")
    return dest


def grids_of(folder: Path) -> gpd.GeoDataFrame:
    """Read back the grid file a generator wrote (``网格.zip``, ``grids.gpkg`` or ``网格.gpkg``), in WGS84.

    The zipped Shapefile is read as GBK; the code column is returned as ``code`` whatever it is called.
    """
    if (folder / "网格.zip").exists():
        with tempfile.TemporaryDirectory(prefix="gm-city-read-") as tmp:
            with zipfile.ZipFile(folder / "网格.zip") as zf:
                zf.extractall(tmp)
            gdf = gpd.read_file(Path(tmp) / "网格.shp", engine="pyogrio", encoding="gbk")
    else:
        path = folder / "grids.gpkg" if (folder / "grids.gpkg").exists() else folder / "网格.gpkg"
        gdf = gpd.read_file(path, engine="pyogrio")
    gdf = gdf.rename(columns={"网格编码": "code", "grid_id": "code", "网格名称": "name", "grid_name": "name"})
    return gdf.to_crs("EPSG:4326")

