"""Build the corpus of broken and hostile import files; each must be refused with a named problem.

Run ``python tests/data/hostile/make_corpus.py OUT`` to write the files into OUT and list them;
the tests call :func:`build` into a temporary folder. Every file is made from the mini city
(tests/data/mini) or from literal bytes, deterministically.
"""

from __future__ import annotations

import io
import json
import stat
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

MINI = Path(__file__).resolve().parent.parent / "mini"


@dataclass(frozen=True)
class Case:
    """One hostile file: its name, the layer it is imported as, the problem key it must be refused for."""

    name: str
    layer: str
    problem: str
    what: str
    crs: str | None = None


#: Limits the corpus is checked under (small, so size attacks stay small).
LIMITS = {"max_file_bytes": 1024 * 1024, "max_unpacked_bytes": 4 * 1024 * 1024, "max_members": 64,
          "max_ratio": 200.0, "max_features": 2000}

CASES: list[Case] = []


def _case(name: str, layer: str, problem: str, what: str, crs: str | None = None):
    def register(fn):
        CASES.append(Case(name, layer, problem, what, crs))
        fn.case_name = name
        _MAKERS[name] = fn
        return fn

    return register


_MAKERS: dict[str, object] = {}


def _grids() -> dict:
    return json.loads((MINI / "grids.geojson").read_text(encoding="utf-8"))


def _dump(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _zip(members: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _first_ring(doc: dict, k: int = 0) -> list:
    geom = doc["features"][k]["geometry"]
    return geom["coordinates"][0] if geom["type"] == "Polygon" else geom["coordinates"][0][0]


# ---------------------------------------------------------------- unreadable files


@_case("empty.geojson", "grids", "unreadable", "a file of 0 bytes")
def _empty() -> bytes:
    return b""


@_case("garbage.geojson", "grids", "unreadable", "random binary bytes named .geojson")
def _garbage() -> bytes:
    return bytes((i * 131 + 7) % 256 for i in range(4096))


@_case("truncated.geojson", "grids", "unreadable", "valid GeoJSON cut off half way")
def _truncated() -> bytes:
    data = (MINI / "grids.geojson").read_bytes()
    return data[: len(data) // 2]


@_case("top_level_array.geojson", "grids", "unreadable", "JSON whose top level is an array, not GeoJSON")
def _array() -> bytes:
    return b"[1, 2, 3]"


@_case("deep_nesting.geojson", "grids", "unreadable", "100 000 nested arrays (parser recursion bomb)")
def _deep() -> bytes:
    return b'{"type":"FeatureCollection","features":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@_case("no_features.geojson", "grids", "no_features", "a FeatureCollection with no features")
def _no_features() -> bytes:
    return b'{"type":"FeatureCollection","features":[]}'


@_case("bad_utf8.geojson", "grids", "unreadable", "bytes that are neither UTF-8 nor GB18030 JSON")
def _bad_text() -> bytes:
    return b'{"type":"FeatureCollection","features":[' + b"\xff\xfe\x81\x30" * 10 + b"]}"


# ---------------------------------------------------------------- geometry


@_case("points_as_grids.geojson", "grids", "wrong_geometry_type", "Point features imported as grids")
def _points() -> bytes:
    doc = json.loads((MINI / "facilities.geojson").read_text(encoding="utf-8"))
    for i, f in enumerate(doc["features"]):
        f["properties"] = {"code": f"620201001001{i + 1:03d}", "name": f"网格{i}", "committee_code": "620201001001"}
    return _dump(doc)


@_case("geometry_collection.geojson", "grids", "wrong_geometry_type", "a GeometryCollection as a grid")
def _collection() -> bytes:
    doc = _grids()
    g = doc["features"][0]["geometry"]
    doc["features"][0]["geometry"] = {"type": "GeometryCollection", "geometries": [g]}
    return _dump(doc)


@_case("null_geometry.geojson", "grids", "empty_geometry", "a feature whose geometry is null")
def _null() -> bytes:
    doc = _grids()
    doc["features"][3]["geometry"] = None
    return _dump(doc)


@_case("empty_coordinates.geojson", "grids", "empty_geometry", "a Polygon with an empty coordinates array")
def _empty_coords() -> bytes:
    doc = _grids()
    doc["features"][2]["geometry"] = {"type": "Polygon", "coordinates": []}
    return _dump(doc)


@_case("nan_coordinates.geojson", "grids", "nan_coordinates", "a NaN literal among the coordinates")
def _nan() -> bytes:
    data = _dump(_grids()).decode()
    ring = _first_ring(_grids(), 1)
    x = json.dumps(ring[1][0])
    return data.replace(x, "NaN", 1).encode()


@_case("infinite_coordinates.geojson", "grids", "nan_coordinates", "a coordinate of 1e999 (infinity)")
def _inf() -> bytes:
    data = _dump(_grids()).decode()
    x = json.dumps(_first_ring(_grids(), 1)[1][1])
    return data.replace(x, "1e999", 1).encode()


@_case("out_of_range.geojson", "grids", "out_of_range", "a longitude of 200°")
def _range() -> bytes:
    doc = _grids()
    ring = _first_ring(doc, 4)
    for p in ring:
        p[0] += 101.7
    return _dump(doc)


@_case("latlon_swapped.geojson", "grids", "latlon_swap", "every position written as [lat, lon]")
def _swap() -> bytes:
    doc = _grids()
    for f in doc["features"]:
        g = f["geometry"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        for poly in polys:
            for ring in poly:
                for p in ring:
                    p[0], p[1] = p[1], p[0]
    return _dump(doc)


@_case("self_intersection.geojson", "grids", "invalid_geometry", "a bow-tie polygon crossing itself")
def _bowtie() -> bytes:
    doc = _grids()
    ring = _first_ring(doc, 0)
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    doc["features"][0]["geometry"] = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1],
                                                                          [x0, y0]]]}
    return _dump(doc)


@_case("unclosed_ring.geojson", "grids", "unclosed_ring", "a polygon ring whose last position is not its first")
def _unclosed() -> bytes:
    doc = _grids()
    ring = _first_ring(doc, 5)
    ring.pop()
    return _dump(doc)


@_case("too_few_positions.geojson", "grids", "invalid_geometry", "a ring of three positions")
def _short_ring() -> bytes:
    doc = _grids()
    ring = _first_ring(doc, 6)
    doc["features"][6]["geometry"] = {"type": "Polygon", "coordinates": [[ring[0], ring[1], ring[0]]]}
    return _dump(doc)


@_case("string_coordinates.geojson", "grids", "bad_coordinates", "coordinates given as strings")
def _strings() -> bytes:
    doc = _grids()
    ring = _first_ring(doc, 7)
    ring[2] = [str(ring[2][0]), str(ring[2][1])]
    return _dump(doc)


# ---------------------------------------------------------------- tiling and nesting


@_case("overlap.geojson", "grids", "overlap", "one grid pushed 30 m over its neighbours")
def _overlap() -> bytes:
    doc = _grids()
    g = doc["features"][1]["geometry"]
    polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
    for poly in polys:
        for ring in poly:
            for p in ring:
                p[0] -= 0.00035
    return _dump(doc)


@_case("gap.geojson", "grids", "gap", "a 20 m square hole cut out of a grid")
def _gap() -> bytes:
    doc = _grids()
    ring = _first_ring(doc, 0)
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    d = 0.0001
    hole = [[cx - d, cy - d], [cx - d, cy + d], [cx + d, cy + d], [cx + d, cy - d], [cx - d, cy - d]]
    g = doc["features"][0]["geometry"]
    if g["type"] == "Polygon":
        g["coordinates"].append(hole)
    else:
        g["coordinates"][0].append(hole)
    return _dump(doc)


@_case("outside_committee.geojson", "grids", "outside_parent", "a grid assigned to a committee it lies outside")
def _outside() -> bytes:
    doc = _grids()
    codes = {f["properties"]["committee_code"] for f in doc["features"]}
    first = doc["features"][0]["properties"]["committee_code"]
    other = sorted(codes - {first})[0]
    doc["features"][0]["properties"]["committee_code"] = other
    doc["features"][0]["properties"]["code"] = other + "901"
    return _dump(doc)


@_case("unknown_committee.geojson", "grids", "unknown_parent", "grids of a committee that does not exist")
def _unknown() -> bytes:
    doc = _grids()
    doc["features"][2]["properties"]["committee_code"] = "620201001999"
    doc["features"][2]["properties"]["code"] = "620201001999001"
    return _dump(doc)


@_case("duplicate_codes.geojson", "grids", "duplicate_code", "two grids with the same code")
def _dup() -> bytes:
    doc = _grids()
    doc["features"][4]["properties"]["code"] = doc["features"][3]["properties"]["code"]
    return _dump(doc)


@_case("missing_codes.geojson", "grids", "missing_code", "a grid without a code")
def _missing() -> bytes:
    doc = _grids()
    del doc["features"][5]["properties"]["code"]
    return _dump(doc)


@_case("bad_number.geojson", "grids", "bad_value", "households given as text")
def _bad_number() -> bytes:
    doc = _grids()
    doc["features"][0]["properties"]["households"] = "很多"
    return _dump(doc)


@_case("unknown_category.csv", "facilities", "bad_value", "a facility category outside the vocabulary")
def _category() -> bytes:
    return "name,category,lon,lat\n网吧,internet_cafe,98.29,39.77\n".encode()


# ---------------------------------------------------------------- coordinate systems


@_case("unknown_crs.geojson", "grids", "unknown_crs", "a \"crs\" member naming EPSG:999999")
def _crs() -> bytes:
    doc = _grids()
    doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::999999"}}
    return _dump(doc)


@_case("wrong_crs_given.geojson", "grids", "outside_crs_area", "lon/lat grids imported with --crs EPSG:4542",
       crs="EPSG:4542")
def _wrong_given() -> bytes:
    return (MINI / "grids.geojson").read_bytes()


@_case("projected_without_crs.csv", "facilities", "unknown_crs", "metre coordinates with no CRS given")
def _projected() -> bytes:
    return "name,category,x,y\n站,bus_stop,439167,4404233\n".encode()


@_case("far_from_city.csv", "facilities", "far_from_city", "a point in the Atlantic Ocean, far from the city")
def _atlantic() -> bytes:
    return "name,category,lon,lat\n站,bus_stop,-30.5,20.25\n".encode()


# ---------------------------------------------------------------- tables


@_case("no_coordinate_columns.csv", "facilities", "no_coordinates", "a table without lon/lat or WKT columns")
def _nocoords() -> bytes:
    return "name,category,where\n站,bus_stop,新华路\n".encode()


@_case("bad_coordinates.csv", "facilities", "bad_coordinates", "a longitude cell holding text")
def _badcoords() -> bytes:
    return "name,category,lon,lat\n站,bus_stop,东经98度,39.77\n".encode()


@_case("empty_coordinates.csv", "facilities", "empty_coordinates", "a row with empty lon/lat cells")
def _emptycoords() -> bytes:
    return "name,category,lon,lat\n站,bus_stop,,\n".encode()


@_case("garbage.xlsx", "facilities", "unreadable", "a zip archive named .xlsx that is no workbook")
def _xlsx() -> bytes:
    return _zip([("hello.txt", b"not a workbook")])


@_case("bad_wkt.csv", "grids", "bad_geometry", "a WKT cell that is not WKT")
def _wkt() -> bytes:
    return 'code,name,committee_code,wkt\n620201001001001,网格,620201001001,"POLYGON((1 2, oops))"\n'.encode()


# ---------------------------------------------------------------- GeoPackage and Shapefile


@_case("garbage.gpkg", "grids", "unreadable", "an SQLite header followed by junk")
def _gpkg() -> bytes:
    return b"SQLite format 3\x00" + bytes(range(256)) * 8


@_case("text.gpkg", "grids", "unreadable", "a text file named .gpkg")
def _gpkg_text() -> bytes:
    return b"this is not a geopackage\n"


@_case("loose.shp", "grids", "unsupported_format", "a bare .shp without its other parts")
def _shp() -> bytes:
    return b"\x00\x00\x27\x0a" + b"\x00" * 96


@_case("shapefile_without_dbf.zip", "grids", "incomplete_shapefile", "a zipped .shp and .shx without .dbf")
def _nodbf() -> bytes:
    return _zip([("grids.shp", b"\x00\x00\x27\x0a" + b"\x00" * 96), ("grids.shx", b"\x00\x00\x27\x0a" + b"\x00" * 96)])


@_case("shapefile_corrupt.zip", "grids", "unreadable", "a zipped Shapefile whose parts are junk")
def _corrupt() -> bytes:
    junk = bytes((i * 37) % 256 for i in range(300))
    return _zip([("grids.shp", junk), ("grids.shx", junk), ("grids.dbf", junk), ("grids.prj", b"GEOGCS[oops")])


@_case("executable.exe", "grids", "unsupported_format", "a file type that is not geodata")
def _exe() -> bytes:
    return b"MZ\x90\x00" + b"\x00" * 60


# ---------------------------------------------------------------- archives


@_case("zip_slip.zip", "grids", "zip_slip", "a member named ../../evil.geojson")
def _slip() -> bytes:
    return _zip([("../../evil.geojson", (MINI / "grids.geojson").read_bytes())])


@_case("zip_absolute.zip", "grids", "zip_slip", "a member with the absolute path /tmp/evil.shp")
def _absolute() -> bytes:
    return _zip([("/tmp/evil.shp", b"x")])


@_case("zip_windows_slip.zip", "grids", "zip_slip", "a member named ..\\..\\evil.geojson")
def _winslip() -> bytes:
    return _zip([("..\\..\\evil.geojson", b"{}")])


@_case("zip_symlink.zip", "grids", "bad_member", "a member that is a symbolic link to /etc/passwd")
def _symlink() -> bytes:
    info = zipfile.ZipInfo("grids.geojson")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip([(info, b"/etc/passwd")])


@_case("zip_bomb.zip", "grids", "zip_bomb", "20 MiB of zeros compressed 1000 to 1")
def _bomb() -> bytes:
    return _zip([("grids.geojson", b"\x00" * (20 * 1024 * 1024))])


@_case("zip_too_many_members.zip", "grids", "too_many_members", "an archive of 500 tiny members")
def _many() -> bytes:
    return _zip([(f"f{i}.txt", b"x") for i in range(500)])


@_case("zip_nested.zip", "grids", "nested_archive", "an archive inside an archive")
def _nested() -> bytes:
    return _zip([("inner.zip", _zip([("grids.geojson", b"{}")]))])


@_case("zip_duplicate_members.zip", "grids", "duplicate_member", "two members both named grids.geojson")
def _dupmember() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a/grids.geojson", b"{}")
        zf.writestr("b/grids.geojson", b"{}")
    return buf.getvalue()


@_case("not_a_zip.zip", "grids", "unreadable", "a text file named .zip")
def _notzip() -> bytes:
    return b"PK but not really a zip archive"


# ---------------------------------------------------------------- size limits


@_case("too_large.geojson", "grids", "too_large", "a GeoJSON file over the 1 MiB limit")
def _large() -> bytes:
    doc = _grids()
    doc["padding"] = "x" * (1024 * 1024 + 10)
    return _dump(doc)


@_case("too_many_features.geojson", "facilities", "too_many_features", "2 001 features where 2 000 are allowed")
def _features() -> bytes:
    feats = [{"type": "Feature", "properties": {"name": "x", "category": "fitness"},
              "geometry": {"type": "Point", "coordinates": [98.29, 39.77]}} for _ in range(2001)]
    return _dump({"type": "FeatureCollection", "features": feats})


def build(out: Path) -> list[tuple[Case, Path]]:
    """Write every corpus file into ``out``.

    Parameters
    ----------
    out : Path
        Target folder (created if missing).

    Returns
    -------
    list of (Case, Path)
        Each case with the file written for it.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for case in CASES:
        data = _MAKERS[case.name]()
        path = out / case.name
        path.write_bytes(data)
        written.append((case, path))
    return written


if __name__ == "__main__":  # pragma: no cover
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("hostile-corpus")
    for case, path in build(target):
        print(f"{path.name:32} {case.layer:11} {case.problem:20} {case.what}")
    print(f"{len(CASES)} files in {target}")
