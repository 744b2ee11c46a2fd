"""Tests for app.geo.features: collections, paging, privacy, CRS and axis order, bbox, filters and sorting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

from app.geo import coverage, features
from app.geo.dataset import Dataset
from app.geo.features import COLLECTIONS, CRS84, CollectionNotFound, FeatureNotFound, FeaturesError
from app.geo.geojson_store import FolderStore
from app.geo.schema import CATEGORIES, FIELDS, PERSONAL_FIELDS

EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG4542 = "http://www.opengis.net/def/crs/EPSG/0/4542"


def everything(ds: Dataset, cid: str, **kw) -> features.FeaturePage:
    """All features of a collection on one page."""
    return features.query(ds, cid, limit=features.MAX_LIMIT, **kw)


def ids(page: features.FeaturePage) -> list[str]:
    return [f["id"] for f in page.features]


def to_metric(lon: float, lat: float) -> tuple[float, float]:
    """(easting, northing) in EPSG:4542."""
    return pyproj.Transformer.from_crs(4326, 4542, always_xy=True).transform(lon, lat)


# -- collections -------------------------------------------------------------------------------


def test_collections_list_every_layer_category_and_preset(ds: Dataset) -> None:
    got = [c["id"] for c in features.collections(ds, personal=False)]
    expected = ["divisions", "committees", "grids", "facilities", "addresses", "roads",
                *(f"facilities-{k}" for k in CATEGORIES), *(f"coverage-{k}" for k in coverage.PRESETS)]
    assert got == expected == list(COLLECTIONS)
    grids = features.collection(ds, "grids", personal=False)
    assert grids["itemType"] == "feature" and grids["title"] == "网格"
    assert features.collection(ds, "grids", personal=False, lang="en")["title"] == "Grids"
    assert grids["crs"] == features.SUPPORTED_CRS(ds) == [CRS84, EPSG4490, EPSG4542]
    assert grids["storageCrs"] == CRS84
    (bbox,) = grids["extent"]["spatial"]["bbox"]
    assert bbox == pytest.approx(list(ds.grids.total_bounds))
    assert grids["extent"]["spatial"]["crs"] == CRS84


def test_listing_runs_no_coverage_and_a_query_runs_only_its_own(ds: Dataset) -> None:
    listed = features.collections(ds, personal=False)
    assert "coverage.results" not in ds.cache
    cov = next(c for c in listed if c["id"] == "coverage-park")
    assert cov["extent"]["spatial"]["bbox"] == [pytest.approx(list(ds.grids.total_bounds))]
    assert cov["coverage"]["categories"] == ["park"] and cov["coverage"]["radius_m"] == 500.0
    features.query(ds, "coverage-park", limit=1)
    assert len(ds.cache["coverage.results"]) == 1
    # cached per data version: the same table object answers again
    assert features._table(ds, COLLECTIONS["coverage-park"]) is ds.cache["features.table.coverage-park"]
    features.query(ds, "coverage-park", limit=5, offset=3)
    assert len(ds.cache["coverage.results"]) == 1


def test_unknown_collection_and_feature_are_404(ds: Dataset) -> None:
    for call in (lambda: features.collection(ds, "nope", personal=False),
                 lambda: features.query(ds, "nope"), lambda: features.queryables(ds, "nope", personal=False)):
        with pytest.raises(CollectionNotFound) as err:
            call()
        assert err.value.status == 404
    with pytest.raises(FeatureNotFound) as err:
        features.item(ds, "grids", "000")
    assert err.value.status == 404
    bus = ds.layer("facilities").query("category == 'bus_stop'")["id"].iloc[0]
    assert features.item(ds, "facilities-bus_stop", bus)["id"] == bus
    with pytest.raises(FeatureNotFound):  # a bus stop is no park
        features.item(ds, "facilities-park", bus)


def test_a_city_without_a_layer_lists_no_collection_of_it(data_dir: Path) -> None:
    (data_dir / "roads.geojson").unlink()
    (data_dir / "addresses.geojson").unlink()
    ds = Dataset(FolderStore(data_dir))
    got = {c["id"] for c in features.collections(ds, personal=False)}
    assert "roads" not in got and "addresses" not in got and not any(c.startswith("coverage-") for c in got)
    with pytest.raises(CollectionNotFound):
        features.query(ds, "roads")


# -- counts, ids and paging --------------------------------------------------------------------


@pytest.mark.parametrize("cid", list(COLLECTIONS))
def test_every_collection_serves_every_row_once_in_id_order(ds: Dataset, cid: str) -> None:
    cdef = COLLECTIONS[cid]
    page = everything(ds, cid)
    if cdef.kind == "category":
        layer = ds.layer("facilities").query(f"category == '{cdef.category}'")
    else:
        layer = ds.layer(cdef.layer)
    key = "code" if "code" in layer.columns else "id"
    assert page.number_matched == page.number_returned == len(layer)
    assert ids(page) == sorted(layer[key].astype(str))
    for f in page.features:
        assert f["type"] == "Feature" and f["properties"][key] == f["id"]
        assert f["geometry"]["type"] in {"Point", "Polygon", "MultiPolygon", "LineString", "MultiLineString"}
    json.dumps(page.to_geojson(), allow_nan=False)  # strict JSON: no NaN


def test_category_collections_partition_the_facilities(ds: Dataset) -> None:
    total = sum(everything(ds, f"facilities-{k}").number_matched for k in CATEGORIES)
    assert total == len(ds.layer("facilities"))
    for f in everything(ds, "facilities-park").features:
        assert f["properties"]["category"] == "park"


def test_paging_gives_each_address_exactly_once(ds: Dataset) -> None:
    seen, offset = [], 0
    while True:
        page = features.query(ds, "addresses", limit=7, offset=offset)
        assert page.number_matched == len(ds.layer("addresses"))
        seen += ids(page)
        if page.next_offset is None:
            break
        assert page.next_offset == offset + 7
        offset = page.next_offset
    assert seen == sorted(ds.layer("addresses")["id"]) and len(set(seen)) == len(seen)
    assert page.prev_offset == offset - 7


def test_limit_and_offset_rules(ds: Dataset) -> None:
    assert features.query(ds, "addresses").number_returned == 10
    assert features.query(ds, "addresses", limit="3", offset="2").number_returned == 3
    assert features.query(ds, "addresses", limit=10**6).limit == features.MAX_LIMIT  # capped, not refused
    past = features.query(ds, "addresses", offset=10**5)
    assert past.features == [] and past.number_matched == len(ds.layer("addresses"))
    assert past.next_offset is None
    for kw in ({"limit": 0}, {"limit": -1}, {"limit": "x"}, {"limit": 2.5}, {"offset": -1}, {"offset": "a"},
               {"limit": True}):
        with pytest.raises(FeaturesError) as err:
            features.query(ds, "addresses", **kw)
        assert err.value.status == 400


def test_page_mapping_access(ds: Dataset) -> None:
    page = features.query(ds, "grids", limit=3)
    assert page["type"] == "FeatureCollection" and page["numberMatched"] == 10 == page.numberMatched
    assert page["numberReturned"] == 3 == page.numberReturned and page.version == ds.version
    assert page.crs == CRS84 and page.collection == "grids"


# -- privacy -----------------------------------------------------------------------------------


def _with_extra_columns(data_dir: Path) -> Dataset:
    """The mini city with a non-schema attribute on grids and facilities."""
    for layer in ("grids", "facilities"):
        path = data_dir / f"{layer}.geojson"
        doc = json.loads(path.read_text(encoding="utf-8"))
        for i, f in enumerate(doc["features"]):
            f["properties"]["internal_note"] = f"secret {i}"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return Dataset(FolderStore(data_dir))


@pytest.mark.parametrize("cid", list(COLLECTIONS))
def test_public_results_carry_no_personal_field_and_no_extra_column(data_dir: Path, cid: str) -> None:
    ds = _with_extra_columns(data_dir)
    cdef = COLLECTIONS[cid]
    schema_names = {f.name for f in FIELDS[cdef.layer]} if cdef.kind != "coverage" else None
    q = features.queryables(ds, cid, personal=False)
    names = set(q["properties"]) - {"geometry"}
    assert not names & PERSONAL_FIELDS and "internal_note" not in names
    assert q["additionalProperties"] is False and q["type"] == "object" and "$schema" in q
    page = everything(ds, cid)
    one = features.item(ds, cid, page.features[0]["id"])
    for f in [*page.features, one]:
        keys = set(f["properties"])
        assert not keys & PERSONAL_FIELDS and "internal_note" not in keys
        assert keys <= names
        if schema_names is not None:
            assert keys <= schema_names
    text = json.dumps([page.to_geojson(), q, features.collections(ds, personal=False)], ensure_ascii=False)
    assert "secret" not in text
    leaders = ds.grids["leader_phone"].astype(str)
    assert not any(p in text for p in leaders)


def test_personal_callers_see_staff_fields_and_extra_columns(data_dir: Path) -> None:
    ds = _with_extra_columns(data_dir)
    q = features.queryables(ds, "grids", personal=True)
    assert {"leader_name", "leader_phone", "internal_note"} <= set(q["properties"])
    page = features.query(ds, "grids", personal=True, limit=1)
    row = ds.grids.sort_values("code").iloc[0]
    assert page.features[0]["properties"]["leader_phone"] == row["leader_phone"]
    assert page.features[0]["properties"]["internal_note"].startswith("secret")
    assert features.item(ds, "grids", row["code"], personal=True)["properties"]["worker_name"] == row["worker_name"]
    fac = features.query(ds, "facilities-park", personal=True, limit=1).features[0]["properties"]
    assert "internal_note" in fac
    # filters and sort keys on staff fields work for staff ...
    hit = features.query(ds, "grids", personal=True, filters={"leader_name": row["leader_name"]})
    assert row["code"] in ids(hit)
    features.query(ds, "grids", personal=True, sortby="-leader_name")


@pytest.mark.parametrize("kw", [{"filters": {"leader_name": "马英"}}, {"filters": {"internal_note": "secret 0"}},
                                {"sortby": "leader_phone"}, {"sortby": "-internal_note"}])
def test_anonymous_callers_cannot_probe_staff_fields(data_dir: Path, kw: dict) -> None:
    ds = _with_extra_columns(data_dir)
    with pytest.raises(FeaturesError) as err:
        features.query(ds, "grids", **kw)
    assert err.value.status == 400
    assert not set(err.value.detail["queryables"]) & (PERSONAL_FIELDS | {"internal_note"})


# -- CRS and axis order ------------------------------------------------------------------------


def test_supported_crs_names_are_normalised_and_others_refused(ds: Dataset) -> None:
    ok = features.SUPPORTED_CRS(ds)
    for text, uri in [(None, CRS84), ("", CRS84), ("CRS84", CRS84), ("OGC:CRS84", CRS84), ("[OGC:CRS84]", CRS84),
                      ("https://www.opengis.net/def/crs/OGC/1.3/CRS84", CRS84), ("EPSG:4490", EPSG4490),
                      ("[EPSG:4542]", EPSG4542), (EPSG4542, EPSG4542), ("epsg:4490", EPSG4490)]:
        assert features.normalise_crs(text, ok) == uri
    for bad in ("EPSG:3857", "http://www.opengis.net/def/crs/EPSG/0/4326", "WGS84", "EPSG:abc", "4490"):
        with pytest.raises(FeaturesError) as err:
            features.query(ds, "grids", crs=bad)
        assert err.value.status == 400 and err.value.detail["supported"] == ok
        with pytest.raises(FeaturesError):
            features.query(ds, "grids", bbox="0,0,1,1", bbox_crs=bad)
        with pytest.raises(FeaturesError):
            features.query(ds, "grids", bbox_crs=bad)  # checked even without a bbox
        with pytest.raises(FeaturesError):
            features.item(ds, "grids", "620201001001001", crs=bad)


def test_crs84_is_lon_lat_as_stored(ds: Dataset) -> None:
    a = ds.layer("addresses").sort_values("id").iloc[0]
    f = features.item(ds, "addresses", a["id"])
    assert f["geometry"]["coordinates"] == pytest.approx([a.geometry.x, a.geometry.y], abs=1e-9)
    assert 97 < f["geometry"]["coordinates"][0] < 100 and 39 < f["geometry"]["coordinates"][1] < 40
    assert features.query(ds, "addresses", limit=1, crs=CRS84).crs == CRS84


def test_epsg4490_is_lat_lon(ds: Dataset) -> None:
    a = ds.layer("addresses").sort_values("id").iloc[0]
    f = features.item(ds, "addresses", a["id"], crs=EPSG4490)
    assert f["geometry"]["coordinates"] == pytest.approx([a.geometry.y, a.geometry.x], abs=1e-9)
    grid = ds.grids.sort_values("code").iloc[0]
    ring = features.query(ds, "grids", limit=1, crs="EPSG:4490").features[0]["geometry"]["coordinates"][0]
    exterior = shapely.get_coordinates(grid.geometry.exterior)
    assert np.allclose(np.array(ring), exterior[:, ::-1], atol=1e-9)
    assert features.query(ds, "grids", limit=1, crs="EPSG:4490").crs == EPSG4490


def test_metric_crs_is_northing_easting_in_metres(ds: Dataset) -> None:
    a = ds.layer("addresses").sort_values("id").iloc[0]
    east, north = to_metric(a.geometry.x, a.geometry.y)
    page = features.query(ds, "addresses", limit=1, crs=EPSG4542)
    assert page.crs == EPSG4542
    coords = page.features[0]["geometry"]["coordinates"]
    assert coords == pytest.approx([north, east], abs=1e-3)  # EPSG:4542's axes: X north, Y east
    assert 4.0e6 < coords[0] < 4.8e6 and 3.0e5 < coords[1] < 7.0e5  # metres, false easting 500 km
    # lengths come out in metres: a grid's polygon area equals its area_m2
    g = features.query(ds, "grids", limit=1, crs=EPSG4542).features[0]
    poly = shapely.Polygon(np.array(g["geometry"]["coordinates"][0])[:, ::-1])
    assert poly.area == pytest.approx(g["properties"]["area_m2"], rel=1e-4)


def _brute_bbox(ds: Dataset, layer: str, box: shapely.Geometry, crs: str = "EPSG:4326") -> list[str]:
    gdf = ds.layer(layer).to_crs(crs)
    return sorted(gdf[gdf.intersects(box)]["id"])


def test_bbox_in_crs84(ds: Dataset) -> None:
    a = ds.layer("addresses").sort_values("id")
    x, y = a.geometry.iloc[5].x, a.geometry.iloc[5].y
    box = (x - 0.003, y - 0.002, x + 0.003, y + 0.002)
    page = everything(ds, "addresses", bbox=",".join(map(str, box)))
    assert a["id"].iloc[5] in ids(page)
    assert ids(page) == _brute_bbox(ds, "addresses", shapely.box(*box)) and 0 < page.number_matched < len(a)
    assert ids(everything(ds, "addresses", bbox=list(box), bbox_crs=CRS84)) == ids(page)
    six = f"{box[0]},{box[1]},-10,{box[2]},{box[3]},100"  # heights are ignored
    assert ids(everything(ds, "addresses", bbox=six)) == ids(page)
    # polygons that only overlap the box match too
    grids = everything(ds, "grids", bbox=",".join(map(str, box)))
    assert {f["id"] for f in grids.features} == set(ds.grids[ds.grids.intersects(shapely.box(*box))]["code"])
    assert everything(ds, "addresses", bbox="0,0,1,1").number_matched == 0


def test_bbox_in_epsg4490_is_lat_lon(ds: Dataset) -> None:
    a = ds.layer("addresses").sort_values("id")
    x, y = a.geometry.iloc[5].x, a.geometry.iloc[5].y
    lonlat = (x - 0.003, y - 0.002, x + 0.003, y + 0.002)
    latlon = f"{lonlat[1]},{lonlat[0]},{lonlat[3]},{lonlat[2]}"
    want = ids(everything(ds, "addresses", bbox=",".join(map(str, lonlat))))
    assert ids(everything(ds, "addresses", bbox=latlon, bbox_crs=EPSG4490)) == want
    # lon/lat order in a lat/lon CRS puts latitude 98 out of range: refused, not silently empty
    with pytest.raises(FeaturesError):
        features.query(ds, "addresses", bbox=",".join(map(str, lonlat)), bbox_crs="EPSG:4490")
    # answer in 4490 and bbox in CRS84 combine
    page = everything(ds, "addresses", bbox=",".join(map(str, lonlat)), crs=EPSG4490)
    assert all(lonlat[1] <= f["geometry"]["coordinates"][0] <= lonlat[3] for f in page.features)


def test_bbox_in_metric_crs_is_northing_easting(ds: Dataset) -> None:
    a = ds.layer("addresses").sort_values("id")
    east, north = to_metric(a.geometry.iloc[5].x, a.geometry.iloc[5].y)
    d = 150.0
    box = f"{north - d},{east - d},{north + d},{east + d}"
    page = everything(ds, "addresses", bbox=box, bbox_crs=EPSG4542)
    assert a["id"].iloc[5] in ids(page)
    assert ids(page) == _brute_bbox(ds, "addresses", shapely.box(east - d, north - d, east + d, north + d),
                                    "EPSG:4542")
    assert 0 < page.number_matched < len(a)
    # the answer in the same CRS falls inside the box
    inside = everything(ds, "addresses", bbox=box, bbox_crs=EPSG4542, crs=EPSG4542)
    for f in inside.features:
        n, e = f["geometry"]["coordinates"]
        assert north - d - 1e-3 <= n <= north + d + 1e-3 and east - d - 1e-3 <= e <= east + d + 1e-3
    # easting, northing (the GIS habit) is another box: nothing of the city lies there
    assert everything(ds, "addresses", bbox=f"{east - d},{north - d},{east + d},{north + d}",
                      bbox_crs=EPSG4542).number_matched == 0


@pytest.mark.parametrize("bad", ["1,2,3", "a,b,c,d", "1,2,3,4,5", "0,50,1,40", "0,0,1,nan", "0,-91,1,1"])
def test_malformed_bbox_is_refused(ds: Dataset, bad: str) -> None:
    with pytest.raises(FeaturesError) as err:
        features.query(ds, "addresses", bbox=bad)
    assert err.value.status == 400


def test_bbox_across_the_antimeridian_is_two_boxes(ds: Dataset) -> None:
    assert everything(ds, "addresses", bbox="170,-10,175,10").number_matched == 0
    assert everything(ds, "addresses", bbox="90,30,-170,50").number_matched == len(ds.layer("addresses"))


# -- filters, sorting, datetime ----------------------------------------------------------------


def test_property_filters_are_equality_on_queryables(ds: Dataset) -> None:
    fac = ds.layer("facilities")
    park = everything(ds, "facilities", filters={"category": "park"})
    assert ids(park) == sorted(fac[fac["category"] == "park"]["id"])
    both = everything(ds, "facilities", filters={"category": ["park", "parking"]})
    assert both.number_matched == int(fac["category"].isin(["park", "parking"]).sum())
    grid = fac["grid_code"].iloc[0]
    two = everything(ds, "facilities", filters={"category": fac["category"].iloc[0], "grid_code": grid})
    assert ids(two) == sorted(fac[(fac["category"] == fac["category"].iloc[0]) & (fac["grid_code"] == grid)]["id"])
    g = ds.grids.iloc[3]
    assert ids(everything(ds, "grids", filters={"households": str(g["households"])})) == sorted(
        ds.grids[ds.grids["households"] == g["households"]]["code"])
    assert everything(ds, "facilities", filters={"f": "json", "limit": "3", "category": "park"}).number_matched == \
        park.number_matched  # reserved names are not filters
    for bad in ({"nope": "1"}, {"households": "many"}, {"households": "1.5"}, {"geometry": "POINT(0 0)"}):
        with pytest.raises(FeaturesError) as err:
            features.query(ds, "grids", filters=bad)
        assert err.value.status == 400


def test_filters_on_coverage_results(ds: Dataset) -> None:
    result = coverage.analyse(ds, ["bus_stop"], 500.0)
    table = result.grids
    below = everything(ds, "coverage-bus_stop", filters={"below_target": "true"})
    assert ids(below) == sorted(table[table["below_target"]]["code"])
    page = everything(ds, "coverage-bus_stop")
    by_code = {f["id"]: f["properties"] for f in page.features}
    for _, row in table.iterrows():
        assert by_code[row["code"]]["residents_pct"] == pytest.approx(row["residents_pct"], nan_ok=True)
    with pytest.raises(FeaturesError):
        features.query(ds, "coverage-bus_stop", filters={"below_target": "maybe"})


def test_sortby(ds: Dataset) -> None:
    pop = everything(ds, "grids", sortby="-population")
    values = [f["properties"]["population"] for f in pop.features]
    assert values == sorted(values, reverse=True)
    up = everything(ds, "grids", sortby="+population")
    assert [f["properties"]["population"] for f in up.features] == sorted(values)
    assert ids(everything(ds, "grids", sortby="population")) == ids(up)
    # several keys; ties keep id order
    two = everything(ds, "addresses", sortby=["street", "-number"])
    keys = [(f["properties"]["street"], -f["properties"]["number"], f["id"]) for f in two.features]
    assert keys == sorted(keys)
    # missing values go last either way
    cap = [f["properties"]["capacity"] for f in everything(ds, "facilities", sortby="-capacity").features]
    assert cap[-1] is None and [c for c in cap if c is not None] == sorted([c for c in cap if c is not None],
                                                                         reverse=True)
    # paging a sorted query is deterministic and complete
    seen = [fid for off in range(0, 69, 10) for fid in ids(features.query(ds, "addresses", sortby="-residents",
                                                                           limit=10, offset=off))]
    assert seen == ids(everything(ds, "addresses", sortby="-residents")) and len(set(seen)) == 69
    for bad in ("nope", "-", "geometry"):
        with pytest.raises(FeaturesError) as err:
            features.query(ds, "grids", sortby=bad)
        assert err.value.status == 400


def test_datetime_is_checked_and_selects_nothing_away(ds: Dataset) -> None:
    n = len(ds.layer("roads"))
    for ok in ("2024-01-01", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00+08:00/..", "../2025-01-01", None):
        assert everything(ds, "roads", datetime=ok).number_matched == n
    for bad in ("yesterday", "2024-13", "../..", "/"):
        with pytest.raises(FeaturesError):
            features.query(ds, "roads", datetime=bad)


def test_queryables_types_and_roles(ds: Dataset) -> None:
    q = features.queryables(ds, "grids", personal=False, lang="en")
    props = q["properties"]
    assert q["title"] == "Grids"
    assert props["code"]["x-ogc-role"] == "id" and props["code"]["type"] == "string"
    assert props["population"]["type"] == "integer" and props["area_m2"]["type"] == "number"
    assert props["geometry"]["format"] in ("geometry-polygon", "geometry-any", "geometry-multipolygon")
    assert features.queryables(ds, "addresses", personal=False)["properties"]["geometry"]["format"] == "geometry-point"
    cov = features.queryables(ds, "coverage-circle_10min", personal=False)["properties"]
    assert cov["below_target"]["type"] == "boolean" and cov["residents_pct"]["type"] == "number"
    assert "spaces_per_100_households" in cov and cov["code"]["x-ogc-role"] == "id"


def test_parameters_that_are_no_queryable_are_refused(ds: Dataset) -> None:
    for name in ("properties", "skipGeometry", "filter"):
        with pytest.raises(FeaturesError) as err:
            features.query(ds, "grids", filters={name: "x"})
        assert err.value.status == 400
