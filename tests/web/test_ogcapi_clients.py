"""The real server's /ogcapi read by real clients: GDAL's OAPIF driver (through pyogrio), OWSLib and plain HTTP."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import geopandas as gpd
import pyogrio
import pyproj
import pytest
import shapely

from app.geo import users
from app.geo.schema import PERSONAL_FIELDS
from tests import helpers

if not (helpers.DEMO / "grids.geojson").exists():
    pytest.skip("demo data geodata/ is missing (gridmap demo-data --out geodata)", allow_module_level=True)

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
LAYERS = ("divisions", "committees", "grids", "facilities", "addresses", "roads")


@pytest.fixture(scope="module")
def demo() -> dict[str, gpd.GeoDataFrame]:
    """The demo city's stored layers, read straight from the files."""
    return {name: gpd.read_file(helpers.DEMO / f"{name}.geojson", engine="pyogrio") for name in LAYERS}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` over the demo city on a free port, with the staff and admin accounts."""
    instance = tmp_path_factory.mktemp("instance")
    users.set_hash_cost(1, 1024)
    try:
        helpers.add_accounts(instance)
    finally:
        users.set_hash_cost()
    with helpers.Server(instance, helpers.DEMO, LANGUAGE="zh") as srv:
        yield srv.base


@pytest.fixture(scope="module")
def expected(demo: dict[str, gpd.GeoDataFrame], server: str) -> dict[str, int]:
    """Feature count of every collection the server lists, from the files."""
    listed = get_json(server + "/ogcapi/collections")["collections"]
    counts = {name: len(gdf) for name, gdf in demo.items()}
    for col in listed:
        cid = col["id"]
        if cid.startswith("facilities-"):
            counts[cid] = int((demo["facilities"]["category"] == cid.split("-", 1)[1]).sum())
        elif cid.startswith("coverage-"):
            counts[cid] = len(demo["grids"])  # one result row per grid
    assert set(counts) == {c["id"] for c in listed}
    return counts


@pytest.fixture
def gdal_config() -> Iterator[None]:
    """Undo the GDAL HTTP settings a test sets."""
    yield
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_USERPWD": None})


def get_json(url: str, headers: dict[str, str] | None = None) -> dict:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def basic(name: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{helpers.PASSWORDS[name]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def id_column(gdf: gpd.GeoDataFrame) -> str:
    return "code" if "code" in gdf.columns else "id"


# --------------------------------------------------------------------------- GDAL's OAPIF driver


def test_gdal_lists_every_collection(server: str, expected: dict[str, int]) -> None:
    layers = pyogrio.list_layers(f"OAPIF:{server}/ogcapi")
    assert [name for name, _ in layers] == list(expected)
    kinds = dict(layers)
    assert kinds["grids"] == "Polygon" and kinds["facilities"] == "Point" and kinds["roads"] == "LineString"


def test_gdal_reads_every_collection_with_counts_geometries_and_crs(server: str, expected: dict[str, int],
                                                                     demo: dict[str, gpd.GeoDataFrame]) -> None:
    for cid, count in expected.items():
        info = pyogrio.read_info(f"OAPIF:{server}/ogcapi", layer=cid)
        assert info["features"] == count, cid
        assert pyproj.CRS(info["crs"]).equals(pyproj.CRS("OGC:CRS84")), (cid, info["crs"])
        df = pyogrio.read_dataframe(f"OAPIF:{server}/ogcapi", layer=cid)
        assert len(df) == count, cid
        assert df["id"].is_unique, cid
        assert not PERSONAL_FIELDS & set(df.columns), cid
        assert df.geometry.notna().all() and df.geometry.is_valid.all(), cid
        source = cid if cid in demo else "facilities" if cid.startswith("facilities-") else "grids"
        stored = demo[source].set_index(demo[source][id_column(demo[source])].astype(str))
        assert set(df["id"]) <= set(stored.index), cid
        want = stored.geometry.loc[df["id"]].to_numpy()
        assert shapely.equals_exact(df.geometry.to_numpy(), want, 1e-6).all(), cid
        assert set(df.geom_type) <= set(stored.geom_type) | {"MultiPolygon", "Polygon"}, cid


@pytest.mark.parametrize("crs", ["EPSG:4490", "EPSG:4542"])
def test_gdal_asks_for_other_crs(server: str, demo: dict[str, gpd.GeoDataFrame], crs: str) -> None:
    df = pyogrio.read_dataframe(f"OAPIF:{server}/ogcapi", layer="grids", CRS=crs)
    assert df.crs.to_epsg() == int(crs.split(":")[1])
    stored = demo["grids"].set_index(demo["grids"]["code"].astype(str)).to_crs(crs)
    tolerance = 1e-6 if crs == "EPSG:4490" else 0.01
    got = df.set_index("id").geometry
    assert len(got) == len(stored)
    assert shapely.equals_exact(got.to_numpy(), stored.geometry.loc[got.index].to_numpy(), tolerance).all()


def test_gdal_pages_bbox_and_filters_on_the_server(server: str, demo: dict[str, gpd.GeoDataFrame]) -> None:
    addresses = pyogrio.read_dataframe(f"OAPIF:{server}/ogcapi", layer="addresses", PAGE_SIZE="1000")
    assert len(addresses) == 11702 == addresses["id"].nunique()
    grids = demo["grids"]
    box = (98.2, 39.7, 98.3, 39.8)
    inside = pyogrio.read_dataframe(f"OAPIF:{server}/ogcapi", layer="grids", bbox=box)
    assert set(inside["id"]) == set(grids.loc[grids.intersects(shapely.box(*box)), "code"].astype(str))
    committee = str(grids["committee_code"].iloc[0])
    same = pyogrio.read_dataframe(f"OAPIF:{server}/ogcapi", layer="grids", where=f"committee_code = '{committee}'")
    assert set(same["id"]) == set(grids.loc[grids["committee_code"].astype(str) == committee, "code"].astype(str))


def test_gdal_with_staff_basic_auth_sees_staff_fields(server: str, gdal_config: None) -> None:
    url = f"OAPIF:{server}/ogcapi"
    assert not PERSONAL_FIELDS & set(pyogrio.read_dataframe(url, layer="grids", max_features=5).columns)
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BASIC",
                                     "GDAL_HTTP_USERPWD": f"staff:{helpers.PASSWORDS['staff']}"})
    staff = pyogrio.read_dataframe(url, layer="grids")
    assert {"leader_name", "leader_phone", "worker_phone"} <= set(staff.columns) and len(staff) == 613
    assert staff["leader_phone"].notna().any()
    pyogrio.set_gdal_config_options({"GDAL_HTTP_USERPWD": "staff:not-the-password"})
    with pytest.raises(pyogrio.errors.DataSourceError, match="401"):
        pyogrio.read_dataframe(url, layer="grids", max_features=5)


# --------------------------------------------------------------------------- OWSLib


def test_owslib_reads_every_collection(server: str, expected: dict[str, int]) -> None:
    features_mod = pytest.importorskip("owslib.ogcapi.features")
    api = features_mod.Features(f"{server}/ogcapi")
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    assert api.api()["openapi"].startswith("3.0")
    assert [c["id"] for c in api.collections()["collections"]] == list(expected)
    assert set(api.feature_collections()) == set(expected)
    for cid, count in expected.items():
        assert api.collection(cid)["id"] == cid
        page = api.collection_items(cid, limit=10000)
        assert page["numberMatched"] == count, cid
        assert page["numberReturned"] == len(page["features"]) == min(count, 10000), cid  # 10000 at most a page
        assert all(not PERSONAL_FIELDS & set(f["properties"]) for f in page["features"]), cid
        assert "properties" in api.collection_queryables(cid)
        first = page["features"][0]
        assert api.collection_item(cid, first["id"])["id"] == first["id"]
    box = api.collection_items("grids", bbox=[98.2, 39.7, 98.3, 39.8], limit=1000)
    assert 0 < box["numberMatched"] < 613


def test_owslib_pages_through_every_address(server: str) -> None:
    features_mod = pytest.importorskip("owslib.ogcapi.features")
    api = features_mod.Features(f"{server}/ogcapi")
    ids: list[str] = []
    for offset in range(0, 12000, 1000):
        page = api.collection_items("addresses", limit=1000, offset=offset)
        assert page["numberMatched"] == 11702
        ids.extend(f["id"] for f in page["features"])
    assert len(ids) == 11702 == len(set(ids))


# --------------------------------------------------------------------------- plain HTTP


def test_paging_through_all_11702_addresses_by_next_links(server: str, demo: dict[str, gpd.GeoDataFrame]) -> None:
    url: str | None = f"{server}/ogcapi/collections/addresses/items?limit=1000"
    ids: list[str] = []
    pages = 0
    while url:
        doc = get_json(url, {"Accept": "application/geo+json"})
        pages += 1
        assert doc["numberMatched"] == 11702
        assert doc["numberReturned"] == len(doc["features"]) <= 1000
        ids.extend(f["id"] for f in doc["features"])
        url = next((link["href"] for link in doc["links"] if link["rel"] == "next"), None)
        assert url is None or url.startswith(server + "/ogcapi/")
    assert pages == 12
    assert len(ids) == 11702 == len(set(ids))
    assert set(ids) == set(demo["addresses"]["id"].astype(str))


def test_anonymous_http_never_gets_staff_fields(server: str, expected: dict[str, int],
                                                demo: dict[str, gpd.GeoDataFrame]) -> None:
    phones = set(demo["grids"]["leader_phone"].dropna().astype(str))
    assert phones
    for cid, count in expected.items():
        for offset in range(0, count, 10000):
            req = urllib.request.Request(f"{server}/ogcapi/collections/{cid}/items?limit=10000&offset={offset}")
            with urllib.request.urlopen(req, timeout=120) as resp:
                body = resp.read().decode("utf-8")
            doc = json.loads(body)
            assert all(not PERSONAL_FIELDS & set(f["properties"]) for f in doc["features"]), cid
            assert not any(p in body for p in phones), cid
    staff = get_json(f"{server}/ogcapi/collections/grids/items?limit=1", basic("staff"))
    assert "leader_phone" in staff["features"][0]["properties"]


def test_etag_and_304_over_the_wire(server: str) -> None:
    url = f"{server}/ogcapi/collections/grids/items?limit=5"
    with urllib.request.urlopen(url, timeout=60) as resp:
        etag = resp.headers["ETag"]
        assert resp.headers["Content-Crs"] == f"<{CRS84}>"
    req = urllib.request.Request(url, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=60)
    assert err.value.code == 304
