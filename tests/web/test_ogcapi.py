"""OGC API – Features blueprint (/ogcapi) through the Flask test client on the mini city."""

from __future__ import annotations

import base64
import re

import geopandas as gpd
import pyproj
import pytest
import shapely
from shapely.geometry import shape

from app.geo.schema import PERSONAL_FIELDS
from app.web.ogcapi import CONFORMANCE
from tests import helpers

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
GRIDS = gpd.read_file(helpers.MINI / "grids.geojson", engine="pyogrio")


def basic(name: str, password: str | None = None) -> dict[str, str]:
    """The Authorization header of HTTP Basic credentials (the helpers' password by default)."""
    pw = helpers.PASSWORDS.get(name, "") if password is None else password
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{pw}".encode()).decode()}


def links(doc: dict, rel: str) -> list[dict]:
    return [link for link in doc["links"] if link["rel"] == rel]


def get_all(client, url: str, **kw) -> list[dict]:
    """Every feature of an items URL, following the next links."""
    out, seen = [], set()
    while url:
        assert url not in seen, "the next links go round in a circle"
        seen.add(url)
        r = client.get(url, **kw)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        doc = r.get_json()
        out.extend(doc["features"])
        nxt = links(doc, "next")
        url = nxt[0]["href"].replace("http://localhost", "") if nxt else None
    return out


# --------------------------------------------------------------------------- core: landing, conformance, API


def test_landing_page_links_everything_absolutely(client):
    r = client.get("/ogcapi")
    assert r.status_code == 200 and r.mimetype == "application/json"
    doc = r.get_json()
    rels = {link["rel"]: link for link in doc["links"]}
    for rel in ("self", "alternate", "service-desc", "service-doc", "conformance", "data", "version-history"):
        assert rel in rels, rel
        assert rels[rel]["href"].startswith("http://localhost/"), rels[rel]
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert rels["alternate"]["type"] == "text/html"
    assert doc["dataVersion"]
    assert client.get("/ogcapi/").status_code == 200  # OWSLib asks with the slash


def test_conformance_claims_exactly_what_is_implemented(client):
    doc = client.get("/ogcapi/conformance").get_json()
    assert doc["conformsTo"] == list(CONFORMANCE)
    for name in ("core", "geojson", "html", "oas30"):
        assert CONF + name in doc["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in doc["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables" in doc["conformsTo"]


def test_openapi_document_is_oas30_with_each_collections_filters(client):
    r = client.get("/ogcapi/api")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.oai.openapi+json"
    doc = r.get_json()
    assert doc["openapi"].startswith("3.0.")
    assert doc["servers"][0]["url"] == "http://localhost/ogcapi"
    for path in ("/", "/conformance", "/api", "/collections", "/collections/{collectionId}",
                 "/collections/{collectionId}/items", "/collections/{collectionId}/items/{featureId}",
                 "/collections/{collectionId}/queryables", "/collections/grids/items"):
        assert path in doc["paths"], path
    params = {p["name"]: p for p in doc["paths"]["/collections/grids/items"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 10000
    assert {"bbox", "bbox-crs", "crs", "sortby", "offset", "committee_code", "population"} <= set(params)
    assert CRS84 in params["crs"]["schema"]["enum"]
    assert not PERSONAL_FIELDS & set(params)
    ops = [op["get"]["operationId"] for op in doc["paths"].values()]
    assert len(ops) == len(set(ops))


# --------------------------------------------------------------------------- collections


def test_collections_have_extent_crs_and_links(client):
    doc = client.get("/ogcapi/collections").get_json()
    ids = [c["id"] for c in doc["collections"]]
    for cid in ("divisions", "committees", "grids", "facilities", "addresses", "roads", "facilities-bus_stop"):
        assert cid in ids
    assert any(cid.startswith("coverage-") for cid in ids)
    assert doc["crs"][0] == CRS84 and CGCS2000 in doc["crs"] and "http://www.opengis.net/def/crs/EPSG/0/4542" in doc["crs"]
    grids = next(c for c in doc["collections"] if c["id"] == "grids")
    assert grids["itemType"] == "feature" and grids["storageCrs"] == CRS84 and grids["crs"][0] == CRS84
    west, south, east, north = grids["extent"]["spatial"]["bbox"][0]
    assert (west, south, east, north) == pytest.approx(tuple(GRIDS.total_bounds), abs=1e-6)
    rels = {(link["rel"], link["type"]) for link in grids["links"]}
    assert ("items", "application/geo+json") in rels and ("items", "text/html") in rels
    assert ("http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json") in rels


def test_one_collection_and_unknown_ones(client):
    doc = client.get("/ogcapi/collections/grids").get_json()
    assert doc["id"] == "grids" and links(doc, "self")[0]["href"].endswith("/ogcapi/collections/grids?f=json")
    r = client.get("/ogcapi/collections/nope")
    assert helpers.json_error(r, 404)
    assert client.get("/ogcapi/collections/nope", headers={"Accept": "text/html"}).status_code == 404
    assert helpers.json_error(client.get("/ogcapi/collections/nope/items",
                                         headers={"Accept": "application/geo+json"}), 404)
    assert helpers.json_error(client.get(f"/ogcapi/collections/grids/items/{'9' * 15}"), 404)


# --------------------------------------------------------------------------- items: paging


def test_items_default_page_and_links(client):
    r = client.get("/ogcapi/collections/addresses/items")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    assert r.headers["Content-Crs"] == f"<{CRS84}>"
    doc = r.get_json()
    assert doc["type"] == "FeatureCollection"
    assert doc["numberReturned"] == 10 == len(doc["features"]) and doc["numberMatched"] == 69
    assert doc["timeStamp"].endswith("Z") and doc["dataVersion"]
    nxt = links(doc, "next")[0]
    assert nxt["href"].startswith("http://localhost/ogcapi/collections/addresses/items?")
    assert "offset=10" in nxt["href"] and "limit=10" in nxt["href"]
    assert not links(doc, "prev")
    assert links(doc, "collection")[0]["href"] == "http://localhost/ogcapi/collections/addresses?f=json"


def test_paging_returns_every_feature_once_in_a_stable_order(client):
    feats = get_all(client, "/ogcapi/collections/addresses/items?limit=7")
    ids = [f["id"] for f in feats]
    assert len(ids) == 69 == len(set(ids))
    assert ids == sorted(ids)
    last = client.get("/ogcapi/collections/addresses/items?limit=7&offset=63").get_json()
    assert last["numberReturned"] == 6 and not links(last, "next")
    assert "offset=56" in links(last, "prev")[0]["href"]
    first_prev = client.get("/ogcapi/collections/addresses/items?limit=7&offset=3").get_json()
    assert "offset" not in links(first_prev, "prev")[0]["href"]


@pytest.mark.parametrize(("query", "status"), [("limit=0", 400), ("limit=abc", 400), ("offset=-1", 400),
                                               ("limit=100000", 200), ("offset=1000", 200)])
def test_limit_and_offset_bounds(client, query, status):
    r = client.get(f"/ogcapi/collections/addresses/items?{query}")
    assert r.status_code == status, r.get_data(as_text=True)[:200]
    if query == "limit=100000":
        assert r.get_json()["numberReturned"] == 69
    if query == "offset=1000":
        assert r.get_json()["features"] == []


# --------------------------------------------------------------------------- items: bbox, crs, filters, sortby


def expected_in_box(box: tuple[float, float, float, float]) -> set[str]:
    hit = GRIDS[GRIDS.intersects(shapely.box(*box))]
    return set(hit["code"].astype(str))


def test_bbox_in_crs84_and_in_other_crs(client):
    west, south, east, north = GRIDS.total_bounds
    box = (west, south, (west + east) / 2, (south + north) / 2)
    want = expected_in_box(box)
    assert 0 < len(want) < len(GRIDS)
    got = {f["id"] for f in get_all(client, "/ogcapi/collections/grids/items?bbox=" + ",".join(map(str, box)))}
    assert got == want
    lat_lon = f"{box[1]},{box[0]},{box[3]},{box[2]}"  # EPSG:4490 is latitude first
    got = {f["id"] for f in get_all(client, f"/ogcapi/collections/grids/items?bbox={lat_lon}&bbox-crs={CGCS2000}")}
    assert got == want
    tr = pyproj.Transformer.from_crs(4326, 4542, always_xy=True)
    (x1, x2), (y1, y2) = tr.transform([box[0], box[2]], [box[1], box[3]])
    inner = f"{y1 + 50},{x1 + 50},{y2 - 50},{x2 - 50}"  # EPSG:4542 is northing first
    got = {f["id"] for f in get_all(client, f"/ogcapi/collections/grids/items?bbox={inner}&bbox-crs=EPSG:4542")}
    assert got and got <= want
    assert helpers.json_error(client.get("/ogcapi/collections/grids/items?bbox=1,2,3"), 400)
    assert helpers.json_error(client.get("/ogcapi/collections/grids/items?bbox=1,2,3,4&bbox-crs=EPSG:3857"), 400)


def test_crs_parameter_follows_the_crs_axis_order(client):
    fid = str(GRIDS["code"].iloc[0])
    plain = client.get(f"/ogcapi/collections/grids/items/{fid}").get_json()
    r = client.get(f"/ogcapi/collections/grids/items/{fid}?crs={CGCS2000}")
    assert r.headers["Content-Crs"] == f"<{CGCS2000}>"
    lon, lat = plain["geometry"]["coordinates"][0][0]
    assert r.get_json()["geometry"]["coordinates"][0][0] == pytest.approx([lat, lon], abs=1e-7)
    r = client.get(f"/ogcapi/collections/grids/items?crs=EPSG:4542&code={fid}")
    assert r.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4542>"
    northing, easting = r.get_json()["features"][0]["geometry"]["coordinates"][0][0]
    x, y = pyproj.Transformer.from_crs(4326, 4542, always_xy=True).transform(lon, lat)
    assert (easting, northing) == pytest.approx((x, y), abs=0.01)
    body = helpers.json_error(client.get("/ogcapi/collections/grids/items?crs=EPSG:3857"), 400)
    assert CRS84 in body and CGCS2000 in body


def test_property_filters_and_unknown_parameters(client):
    committee = str(GRIDS["committee_code"].iloc[0])
    feats = get_all(client, f"/ogcapi/collections/grids/items?committee_code={committee}")
    assert {f["id"] for f in feats} == set(GRIDS.loc[GRIDS["committee_code"] == committee, "code"].astype(str))
    assert helpers.json_error(client.get("/ogcapi/collections/grids/items?colour=red"), 400)
    assert helpers.json_error(client.get("/ogcapi/collections/grids/items?leader_name=x"), 400)  # not public
    assert helpers.json_error(client.get("/ogcapi/collections/grids/items?population=many"), 400)
    assert helpers.json_error(client.get("/ogcapi/collections/grids/items?filter=population>1"), 400)
    assert helpers.json_error(client.get("/ogcapi/collections/grids/items?name=a&name=b"), 400)
    cat = client.get("/ogcapi/collections/facilities/items?category=bus_stop&limit=100").get_json()
    per_cat = client.get("/ogcapi/collections/facilities-bus_stop/items?limit=100").get_json()
    assert cat["numberMatched"] == per_cat["numberMatched"] > 0


def test_sortby_and_datetime(client):
    feats = get_all(client, "/ogcapi/collections/grids/items?sortby=-population&limit=4")
    pops = [f["properties"]["population"] for f in feats]
    assert pops == sorted(pops, reverse=True) and len(pops) == len(GRIDS)
    feats = get_all(client, "/ogcapi/collections/grids/items?sortby=%2Bname")
    assert [f["properties"]["name"] for f in feats] == sorted(GRIDS["name"])
    assert helpers.json_error(client.get("/ogcapi/collections/grids/items?sortby=leader_name"), 400)
    assert client.get("/ogcapi/collections/grids/items?datetime=2024-01-01T00:00:00Z").status_code == 200
    assert helpers.json_error(client.get("/ogcapi/collections/grids/items?datetime=yesterday"), 400)


def test_items_geometries_match_the_stored_layer(client):
    feats = {f["id"]: f for f in get_all(client, "/ogcapi/collections/grids/items?limit=100")}
    for code, geom in zip(GRIDS["code"].astype(str), GRIDS.geometry, strict=True):
        assert shape(feats[code]["geometry"]).equals_exact(geom, 1e-6)


# --------------------------------------------------------------------------- queryables


def test_queryables_are_a_json_schema_of_public_properties(client):
    r = client.get("/ogcapi/collections/grids/queryables")
    assert r.mimetype == "application/schema+json"
    doc = r.get_json()
    assert doc["$id"] == "http://localhost/ogcapi/collections/grids/queryables"
    assert doc["type"] == "object" and "$schema" in doc
    assert {"code", "name", "population", "committee_code"} <= set(doc["properties"])
    assert not PERSONAL_FIELDS & set(doc["properties"])
    assert doc["properties"]["population"]["type"] == "integer"
    sortables = client.get("/ogcapi/collections/grids/sortables").get_json()
    assert sortables["$id"].endswith("/sortables") and sortables["properties"].keys() == doc["properties"].keys()


# --------------------------------------------------------------------------- HTML


@pytest.mark.parametrize("url", ["/ogcapi", "/ogcapi/conformance", "/ogcapi/api", "/ogcapi/collections",
                                 "/ogcapi/collections/grids", "/ogcapi/collections/grids/items",
                                 "/ogcapi/collections/grids/queryables", "/ogcapi/collections/grids/sortables",
                                 "/ogcapi/collections/facilities/items", "/ogcapi/collections/coverage-bus_stop/items",
                                 f"/ogcapi/collections/grids/items/{GRIDS['code'].iloc[0]}"])
def test_every_resource_has_an_html_page(client, url):
    r = client.get(url + "?f=html")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert 'rel="alternate" type="application/json"' in page
    browser = client.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.mimetype == "text/html"
    assert client.get(url, headers={"Accept": "application/json"}).mimetype != "text/html"


def test_items_page_draws_features_on_the_offline_leaflet(client):
    page = client.get("/ogcapi/collections/grids/items?f=html&limit=3").get_data(as_text=True)
    assert "/static/vendor/leaflet/leaflet.js" in page and 'id="gm-ogc-map"' in page
    assert 'rel="next"' in page
    assert page.count("/ogcapi/collections/grids/items/") >= 3
    reprojected = client.get(f"/ogcapi/collections/grids/items?f=html&crs={CGCS2000}").get_data(as_text=True)
    assert 'id="gm-ogc-map"' not in reprojected and CGCS2000 in reprojected


def test_html_pages_in_english_and_chinese(client):
    assert "Collections" in client.get("/ogcapi/collections?f=html&lang=en").get_data(as_text=True)
    assert "数据集" in client.get("/ogcapi/collections?f=html&lang=zh").get_data(as_text=True)


def test_bad_f_is_refused(client):
    assert helpers.json_error(client.get("/ogcapi/collections?f=xml"), 400)


# --------------------------------------------------------------------------- ETag, versions


def test_etag_per_data_version_and_304(client):
    url = "/ogcapi/collections/grids/items?limit=2"
    first = client.get(url)
    etag = first.headers["ETag"]
    version = first.get_json()["dataVersion"]
    assert version in etag and "Accept" in first.headers["Vary"] and "Authorization" in first.headers["Vary"]
    assert client.get(url).headers["ETag"] == etag
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag and again.headers["Content-Crs"] == f"<{CRS84}>"
    assert client.get(url, headers={"If-None-Match": "W/" + etag}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(url + "&f=html").headers["ETag"] != etag
    assert client.get("/ogcapi/collections/grids/items?limit=3").headers["ETag"] != etag


def test_a_new_data_version_changes_the_etag(versioned_app):
    client = versioned_app.test_client()
    url = "/ogcapi/collections/grids/items?limit=1"
    old = client.get(url)
    ws = versioned_app.extensions["gridmap.workspace"]
    grids = ws.data.current().layer("grids")
    ws.store.commit({"grids": grids.assign(population=grids["population"] + 1)}, author="test",
                    message="one more resident per grid")
    new = client.get(url, headers={"If-None-Match": old.headers["ETag"]})
    assert new.status_code == 200
    assert new.get_json()["dataVersion"] != old.get_json()["dataVersion"]
    assert new.headers["ETag"] != old.headers["ETag"]


# --------------------------------------------------------------------------- privacy and HTTP Basic


def test_anonymous_requests_never_get_staff_fields(client):
    cols = client.get("/ogcapi/collections").get_json()["collections"]
    for col in cols:
        cid = col["id"]
        doc = client.get(f"/ogcapi/collections/{cid}/items?limit=10000").get_json()
        for feat in doc["features"]:
            assert not PERSONAL_FIELDS & set(feat["properties"]), (cid, feat["id"])
        html = client.get(f"/ogcapi/collections/{cid}/items?limit=10000&f=html").get_data(as_text=True)
        assert not any(name in html for name in PERSONAL_FIELDS), cid
        assert not PERSONAL_FIELDS & set(client.get(f"/ogcapi/collections/{cid}/queryables").get_json()["properties"])
    api = client.get("/ogcapi/api").get_data(as_text=True)
    assert not any(f'"{name}"' in api for name in PERSONAL_FIELDS)
    names = set(GRIDS["leader_name"].dropna().astype(str))
    body = client.get("/ogcapi/collections/grids/items?limit=100").get_data(as_text=True)
    assert names and not any(n in body for n in names)


def test_basic_auth_of_staff_shows_staff_fields_privately(versioned_app):
    client = versioned_app.test_client()
    url = "/ogcapi/collections/grids/items?limit=100"
    public = client.get(url)
    staff = client.get(url, headers=basic("staff"))
    assert staff.status_code == 200
    assert {"leader_name", "leader_phone"} <= set(staff.get_json()["features"][0]["properties"])
    assert "private" in staff.headers["Cache-Control"]
    assert staff.headers["ETag"] != public.headers["ETag"]
    assert "Set-Cookie" not in staff.headers  # no session is started for a desktop client
    q = client.get("/ogcapi/collections/grids/queryables", headers=basic("staff")).get_json()
    assert "leader_name" in q["properties"]
    assert client.get("/ogcapi/collections/grids/items?leader_name=x", headers=basic("staff")).status_code == 200
    again = client.get(url, headers={**basic("staff"), "If-None-Match": staff.headers["ETag"]})
    assert again.status_code == 304
    assert client.get(url, headers={"If-None-Match": staff.headers["ETag"]}).status_code == 200


def test_a_signed_in_session_also_shows_staff_fields(versioned_app):
    client = versioned_app.test_client()
    helpers.login(client, "staff")
    doc = client.get("/ogcapi/collections/grids/items?limit=1").get_json()
    assert "leader_name" in doc["features"][0]["properties"]


def test_wrong_basic_credentials_are_refused_and_audited(versioned_app, tmp_path):
    from app.geo import audit

    client = versioned_app.test_client()
    r = client.get("/ogcapi/collections/grids/items", headers=basic("staff", "wrong-password-1"))
    assert helpers.json_error(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Basic ")
    html = client.get("/ogcapi/collections/grids/items?f=html", headers=basic("staff", "wrong-password-1"))
    assert html.status_code == 401 and html.mimetype == "text/html"
    failed = audit.entries(versioned_app.extensions["gridmap.workspace"].db, action="sign_in_failed")
    assert failed and failed[0].detail.get("via") == "basic"


def test_basic_auth_respects_the_lockout(make_app):
    app = make_app(RATELIMIT_ENABLED=False, LOCKOUT_ATTEMPTS=2, LOCKOUT_SECONDS=60)
    client = app.test_client()
    url = "/ogcapi/collections/grids/items"
    assert client.get(url, headers=basic("admin", "not-the-password")).status_code == 401
    assert client.get(url, headers=basic("admin", "not-the-password")).status_code == 429  # the second locks
    locked = client.get(url, headers=basic("admin"))
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert client.get(url).status_code == 200  # anonymous reading goes on


def test_a_new_password_ends_remembered_basic_credentials(make_app):
    from app.geo import users

    app = make_app(RATELIMIT_ENABLED=False)
    client = app.test_client()
    url = "/ogcapi/collections/grids/items?limit=1"
    assert "leader_name" in client.get(url, headers=basic("staff")).get_json()["features"][0]["properties"]
    db = app.extensions["gridmap.workspace"].db
    users.set_password(db, "staff", "Another-Lantern-93", min_length=helpers.MIN_PASSWORD)
    assert client.get(url, headers=basic("staff")).status_code == 401


def test_reading_needs_no_origin_or_token(client):
    r = client.get("/ogcapi/collections/grids/items", headers={"User-Agent": "GDAL/3.12"})
    assert r.status_code == 200
    page = client.get("/ogcapi/collections/grids/items?f=html")
    assert "script-src 'self' 'sha256-" in page.headers["Content-Security-Policy"]
    assert re.search(r"<script>", page.get_data(as_text=True))
