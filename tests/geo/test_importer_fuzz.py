"""Fuzzing the importer: any GeoJSON-like document and any bytes end in a report, never in an exception or a hang."""

from __future__ import annotations

import json
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.geo import importer
from app.geo.geojson_store import FolderStore
from app.geo.schema import LAYERS
from tests import helpers

CONTEXT = FolderStore(helpers.MINI)
LIMITS = importer.Limits(max_file_bytes=256 * 1024, max_unpacked_bytes=1024 * 1024, max_features=200)
#: Seconds one import of a small input may take before it counts as a hang.
HANG_SECONDS = 30
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=97.5, max_value=99.5),  # around the mini city, so that some features get far
    st.floats(min_value=39.5, max_value=40.0),
    st.integers(min_value=-(10 ** 400), max_value=10 ** 400),
    st.integers(min_value=-200, max_value=200),
)
texts = st.one_of(st.text(max_size=20), st.sampled_from(["", "620201001001001", "620201001001", "620201001",
                                                        "6202\u200b01001001001", "a\x00b", "\u202eabc",
                                                        "school", "社区", "Point", "Polygon", "Feature"]))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(texts, inner, max_size=4)), max_leaves=12)


@st.composite
def rings(draw: st.DrawFn) -> list[list[Any]]:
    """A ring near the mini city: mostly closed and simple, sometimes open, short, crossed or 3-D."""
    lon, lat = draw(st.floats(98.25, 98.32)), draw(st.floats(39.75, 39.79))
    size = draw(st.sampled_from([0.0, 1e-9, 0.001, 0.01]))
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size]]
    ring = draw(st.sampled_from([ring, ring[::-1], [ring[0], ring[2], ring[1], ring[3]], ring[:2]]))
    if draw(st.booleans()):
        ring = [*ring, ring[0]]
    if draw(st.integers(0, 5)) == 0:
        ring = [[*p, draw(numbers)] for p in ring]
    return ring


def coordinates() -> st.SearchStrategy[Any]:
    """Coordinates of any geometry type, well formed or not."""
    position = st.one_of(st.lists(numbers, min_size=0, max_size=4), values)
    return st.one_of(
        position,
        st.lists(position, max_size=5),
        st.lists(rings(), min_size=0, max_size=2),
        st.lists(st.lists(rings(), min_size=0, max_size=2), max_size=2),
        values,
    )


geometries = st.one_of(
    st.none(),
    values,
    st.fixed_dictionaries({"type": st.one_of(st.sampled_from(["Point", "MultiPoint", "LineString",
                                                              "MultiLineString", "Polygon", "MultiPolygon",
                                                              "GeometryCollection"]), values),
                           "coordinates": coordinates()},
                          optional={"geometries": values, "bbox": values}),
)
properties = st.one_of(
    values,
    st.fixed_dictionaries({}, optional={k: st.one_of(scalars, values) for k in (
        "code", "name", "committee_code", "division_code", "id", "category", "kind", "address", "grid_code",
        "households", "population", "area_m2", "capacity", "名称", "编码")}),
)
features = st.one_of(values, st.fixed_dictionaries(
    {"type": st.one_of(st.just("Feature"), values), "geometry": geometries},
    optional={"properties": properties, "id": values}))
documents = st.one_of(
    values,
    st.fixed_dictionaries({"type": st.one_of(st.just("FeatureCollection"), values),
                           "features": st.one_of(st.lists(features, max_size=6), values)},
                          optional={"crs": st.one_of(values, st.fixed_dictionaries(
                              {"type": st.just("name"),
                               "properties": st.fixed_dictionaries({"name": st.one_of(texts, numbers, st.sampled_from(
                                   ["EPSG:4326", "urn:ogc:def:crs:EPSG::4542", "EPSG:0", "CRS84"]))})}))}),
    features,
)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gridmap-fuzz-") as tmp:
        yield Path(tmp)


def _alarm(_signum: int, _frame: Any) -> None:
    raise TimeoutError(f"one import of a small input took over {HANG_SECONDS} s")


def _prepare(path: Path, layer: str, context: FolderStore | None) -> importer.ImportPlan:
    """Run ``prepare`` under an alarm, so that a hang fails the test instead of stopping the suite."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        return importer.prepare(path, layer, limits=LIMITS, context=context)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _check(plan: importer.ImportPlan) -> None:
    """The outcome is a report: a refusal has errors and no layer; an acceptance has a layer and no errors."""
    report = plan.report
    json.dumps(report.to_dict())
    assert report.format_text()
    if report.ok:
        assert plan.gdf is not None and len(plan.gdf) == report.features
        return
    assert plan.gdf is None and report.errors
    assert all(f.message for f in report.errors)


def _dumps(doc: Any) -> bytes:
    try:
        return json.dumps(doc, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")
    except ValueError:  # an integer too long for text: the file still says something
        return b'{"type": "FeatureCollection", "features": [1e999999]}'


def _collection(geometry: Any, **properties: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": geometry,
                                                       "properties": properties}]}


_POINT = {"type": "Point", "coordinates": [98.29, 39.77]}


@FUZZ
@given(doc=documents, layer=st.sampled_from(LAYERS), with_context=st.booleans(), name=st.sampled_from(
    ["f.geojson", "f.json", "f"]))
# what broke the importer before: integers beyond a float, a geometry type that is no string
@example(doc=_collection({"type": "Point", "coordinates": [10 ** 400, 39.77]}), layer="facilities",
         with_context=False, name="f.geojson")
@example(doc=_collection(_POINT, name="a", category="school", capacity=10 ** 400), layer="facilities",
         with_context=True, name="f.geojson")
@example(doc=_collection({"type": ["Point"], "coordinates": [98.29, 39.77]}), layer="facilities",
         with_context=False, name="f.geojson")
@example(doc=_collection(_POINT, id="F\u200b1", name="a\x00b", category="school"), layer="facilities",
         with_context=True, name="f.geojson")
def test_any_geojson_like_document_ends_in_a_report(folder, doc, layer, with_context, name):
    path = folder / name
    path.write_bytes(_dumps(doc))
    _check(_prepare(path, layer, CONTEXT if with_context else None))


@FUZZ
@given(data=st.one_of(st.binary(max_size=600),
                      st.tuples(st.sampled_from([b"PK\x03\x04", b"SQLite format 3\x00", b"{", b"\xef\xbb\xbf{",
                                                 b"lon,lat\n", b"code,name,wkt\n1,a,"]),
                                st.binary(max_size=400)).map(b"".join)),
       layer=st.sampled_from(LAYERS),
       name=st.sampled_from(["f.geojson", "f.csv", "f.txt", "f.zip", "f.gpkg", "f.xlsx", "f.shp", "f", "f.bin"]))
def test_any_bytes_end_in_a_report(folder, data, layer, name):
    path = folder / name
    path.write_bytes(data)
    _check(_prepare(path, layer, None))

