"""The PostGIS store: same contract as the GeoJSON store, one transaction a change, shared by several processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import geopandas as gpd
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely import affinity

from app.geo.geojson_store import VersionedStore, folder_version
from app.geo.postgis_store import PostgisStore
from app.geo.store import Store, StoreBusy, StoreError, open_store
from tests import helpers


@pytest.fixture
def store(pg_url: str) -> PostgisStore:
    s = open_store(pg_url)
    assert isinstance(s, PostgisStore)
    s.lock_timeout = 0.5
    s.seed_from(helpers.MINI)
    yield s
    s.close()


def _dbname(url: str) -> str:
    return url.split("?")[0].rsplit("/", 1)[-1]


def _redrawn(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = grids.copy()
    out.loc[0, "geometry"] = affinity.scale(out.geometry.iloc[0], 0.9, 0.9)
    return out.drop(index=1).reset_index(drop=True)


def test_open_store_picks_postgis_and_hides_the_password(pg_url):
    s = open_store(pg_url.replace("postgresql://postgres@", "postgres://postgres:s3cret@"))
    assert isinstance(s, Store) and isinstance(s, PostgisStore)
    assert "s3cret" not in s.location and "***" in s.location
    assert s.url.startswith("postgresql://")


def test_unreachable_database_is_a_503_store_error_without_the_password():
    from app.geo.postgis_store import StoreUnavailable

    s = open_store("postgresql://u:pw@/nodb?host=/nonexistent-gridmap&port=5999")
    with pytest.raises(StoreUnavailable) as err:
        s.exists()
    assert err.value.status == 503 and "pw" not in str(err.value) and isinstance(err.value, StoreError)


def test_bad_bytes_are_refused_and_a_collected_store_stops_listening(pg_url):
    import gc
    import threading

    s = open_store(pg_url)
    s.seed_from(helpers.MINI)
    with pytest.raises(StoreError, match="not readable GeoJSON"):
        s.commit({"roads": b"not json"}, author="t", message="x")
    s.version()
    assert any(t.name == "gridmap-store-listen" for t in threading.enumerate())
    del s
    gc.collect()
    deadline = time.monotonic() + 5
    while any(t.name == "gridmap-store-listen" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "gridmap-store-listen" for t in threading.enumerate())


def test_seed_reads_like_the_geojson_store(store, tmp_path):
    ref = VersionedStore(tmp_path / "ref")
    ref.seed_from(helpers.MINI)
    assert store.version().startswith("0001-") and store.version() == ref.version()[:5] + store.version()[5:]
    info = store.info()
    assert info.source == "seed" and info.content_hash == folder_version(helpers.MINI) == ref.info().content_hash
    assert info.counts == ref.info().counts and info.hashes == ref.info().hashes
    assert list(info.counts) == list(ref.info().counts) and list(info.hashes) == list(ref.info().hashes)
    assert store.layer_names() == ref.layer_names()
    assert store.metadata() == ref.metadata()
    for name in ref.layer_names():
        assert_geodataframe_equal(store.read(name), ref.read(name), check_crs=True)
    assert store.verify() == []
    assert store.seed_from(helpers.MINI) is None
    assert [e.action for e in store.history()] == ["commit"]


def test_commit_rollback_history_and_identical_content(store):
    original = store.read("grids")
    v1 = store.version()
    same = store.commit({"grids": original}, author="t", message="same")
    assert same.id == v1 and len(store.list_versions()) == 1
    v2 = store.commit({"grids": _redrawn(original)}, author="t", message="redraw")
    assert store.version() == v2.id and v2.seq == 2 and v2.parent == v1
    assert len(v2.summary["grids"]["removed"]) == 1 and v2.summary["grids"]["reshaped"]
    assert store.info().counts["grids"] == 9 and store.info().counts["roads"] == store.info(v1).counts["roads"]
    assert_geodataframe_equal(store.snapshot(v1).read("grids"), original)
    assert store.metadata() == store.snapshot(v1).metadata()
    with pytest.raises(StoreError, match="changed to version"):
        store.commit({"grids": original}, author="t", message="stale", expect=v1)
    info, summary = store.rollback("1", author="t", change_id="rb-1")
    assert info.id == v1 == store.version() and len(summary["grids"]["added"]) == 1
    assert_geodataframe_equal(store.read("grids"), original)
    with pytest.raises(StoreError, match="already current"):
        store.rollback(v1)
    with pytest.raises(StoreError, match="no version"):
        store.rollback("42")
    assert store.resolve(v2.id[5:9]) == v2.id and store.resolve("2") == v2.id
    hist = store.history()
    assert [(e.action, e.id) for e in hist] == [("commit", v1), ("commit", v2.id), ("rollback", "rb-1")]
    assert hist[-1].previous == v2.id and hist[1].layers == ["grids"]
    with pytest.raises(StoreError, match="unknown layer"):
        store.commit({"nope": original}, author="t", message="x")


def test_verify_finds_tampered_rows(store, pg_cluster):
    v1 = store.version()
    store.commit({"grids": _redrawn(store.read("grids"))}, author="t", message="redraw")
    db = _dbname(store.url)
    pg_cluster.psql("UPDATE gridmap_grids SET attrs = attrs || '{\"name\": \"x\"}' WHERE fid = 0 AND data_id IN "
                    f"(SELECT data_id FROM gridmap_layers WHERE version = '{v1}' AND layer = 'grids')", db)
    assert any("recorded hash" in p for p in store.verify(v1))
    with pytest.raises(StoreError, match="recorded hash"):
        store.rollback(v1)


def test_retention_keeps_the_newest_and_drops_unused_rows(store, pg_cluster):
    store.keep_versions = 2
    grids = store.read("grids")
    for i in range(3):
        g = grids.copy()
        g.loc[0, "name"] = f"renamed {i}"
        store.commit({"grids": g}, author="t", message=f"rename {i}")
    assert [v.seq for v in store.list_versions()] == [3, 4]
    assert store.history()[-1].pruned == ["0002-" + store.history()[1].id[5:]]
    db = _dbname(store.url)
    ids = pg_cluster.psql("SELECT count(DISTINCT data_id) FROM gridmap_grids", db).strip()
    assert ids == "2"


def test_typed_views_show_the_current_version(store, pg_cluster):
    db = _dbname(store.url)
    out = pg_cluster.psql("SELECT count(*), sum(households), pg_typeof(min(households))::text, "
                          "ST_SRID(min(geom)) FROM gridmap_grids_current", db).strip()
    grids = store.read("grids")
    assert out == f"10|{int(grids['households'].sum())}|bigint|4326"
    # desktop GIS finds every layer's view with its geometry column and SRID
    views = pg_cluster.psql("SELECT f_table_name, srid FROM geometry_columns WHERE f_table_name LIKE '%_current' "
                            "ORDER BY 1", _dbname(store.url)).split()
    assert views == sorted(f"gridmap_{n}_current|4326" for n in store.layer_names())
    names = pg_cluster.psql("SELECT string_agg(name, ',' ORDER BY fid) FROM gridmap_grids_current", db).strip()
    assert names == ",".join(grids["name"])


def test_two_store_objects_see_each_others_commits(store, pg_url, monkeypatch):
    from app.geo import _postgis_conn

    monkeypatch.setattr(_postgis_conn, "RECHECK", 3600.0)  # only NOTIFY can tell ``other`` now
    other = open_store(pg_url)
    try:
        assert other.version() == store.version()
        v2 = store.commit({"grids": _redrawn(store.read("grids"))}, author="t", message="redraw")
        deadline = time.monotonic() + 5
        while other.version() != v2.id and time.monotonic() < deadline:
            time.sleep(0.02)
        assert other.version() == v2.id
        with other.lock(), pytest.raises(StoreBusy):
            store.commit({"grids": store.read("grids").iloc[:3]}, author="t", message="blocked")
        assert store.version() == v2.id
    finally:
        other.close()


def test_an_error_inside_a_commit_leaves_the_old_version(store, monkeypatch):
    v1 = store.version()
    switch = store._switch

    def boom(*args, **kwargs):
        switch(*args, **kwargs)  # rows, version, history entry and the new current are written ...
        raise RuntimeError("killed mid-way")  # ... and then the writer dies before COMMIT

    monkeypatch.setattr(store, "_switch", boom)
    with pytest.raises(RuntimeError):
        store.commit({"grids": _redrawn(store.read("grids"))}, author="t", message="x")
    assert store.version() == v1 and len(store.list_versions()) == 1 and len(store.history()) == 1
    assert store.verify() == []


def _slow_commit(url: str, started) -> None:  # runs in a child process
    from app.geo import _postgis_layers, postgis_store

    real = _postgis_layers.copy_rows

    def slow(conn, layer, data_id, frame):
        real(conn, layer, data_id, frame)
        started.set()
        time.sleep(60)

    postgis_store.copy_rows = slow
    s = open_store(url)
    g = s.read("grids")
    g.loc[0, "name"] = "never"
    s.commit({"grids": g}, author="killed", message="killed")


def test_a_sigkilled_commit_leaves_the_old_version_and_no_rows(store, pg_url, pg_cluster):
    v1 = store.version()
    ctx = multiprocessing.get_context("fork")
    started = ctx.Event()
    proc = ctx.Process(target=_slow_commit, args=(pg_url, started))
    proc.start()
    try:
        assert started.wait(30), proc.exitcode
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    finally:
        if proc.is_alive():
            proc.kill()
    assert store.version() == v1 and len(store.list_versions()) == 1 and len(store.history()) == 1
    db = _dbname(store.url)
    assert pg_cluster.psql("SELECT count(DISTINCT data_id) FROM gridmap_grids", db).strip() == "1"
    # the killed writer's lock went with its connection
    v2 = store.commit({"grids": _redrawn(store.read("grids"))}, author="t", message="after")
    assert store.version() == v2.id and store.verify() == []


def test_demo_layers_read_identically_on_both_backends(pg_url, tmp_path):
    if not (helpers.DEMO / "grids.geojson").exists():
        pytest.skip("no demo data")
    pg = open_store(pg_url)
    ref = VersionedStore(Path(tmp_path / "ref"))
    try:
        pg.seed_from(helpers.DEMO)
        ref.seed_from(helpers.DEMO)
        assert pg.info().content_hash == ref.info().content_hash
        for name in ref.layer_names():
            assert_geodataframe_equal(pg.read(name), ref.read(name), check_crs=True)
        assert pg.metadata() == ref.metadata()
    finally:
        pg.close()


def _commit_in_child(store: PostgisStore) -> None:  # a forked worker, on the store its parent opened
    g = store.read("grids")
    g.loc[0, "name"] = "from a forked worker"
    store.commit({"grids": g}, author="child", message="fork")


def test_a_forked_worker_uses_its_own_connections_and_the_parent_keeps_its_own(store):
    v1 = store.version()
    assert len(store.read("grids")) == 10  # the parent's pool is open before the fork
    proc = multiprocessing.get_context("fork").Process(target=_commit_in_child, args=(store,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    deadline = time.monotonic() + 5
    while store.version() == v1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.version() != v1 and store.info().author == "child"
    assert store.read("grids").loc[0, "name"] == "from a forked worker"


def test_awkward_values_round_trip_as_in_the_geojson_store(store, tmp_path):
    roads = store.read("roads").iloc[:4].copy()
    roads["name"] = ["a\\b\tc\nd", '引号"和\\N', None, "\u2028e"]
    roads["kind"] = ["x", None, "z", "w"]
    roads["width"] = [1.5, float("nan"), 3.0, 1e-17]
    roads["lanes"] = [1, 2, 3, 4]
    roads.loc[2, "geometry"] = None
    ref = VersionedStore(tmp_path / "ref")
    ref.commit({"roads": roads}, author="t", message="x", base=None)
    store.commit({"roads": roads}, author="t", message="x")
    assert_geodataframe_equal(store.read("roads"), ref.read("roads"), check_crs=True)
    assert store.verify() == []


def test_dropped_connections_are_a_503_once_and_the_listener_reconnects(store, pg_url, pg_cluster, monkeypatch):
    from app.geo import _postgis_conn
    from app.geo.postgis_store import StoreUnavailable

    monkeypatch.setattr(_postgis_conn, "RECHECK", 3600.0)  # only the listener can move version()
    v1 = store.version()
    assert len(store.read("grids")) == 10
    pg_cluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()", _dbname(pg_url))
    for _ in range(5):  # each broken pooled connection fails one call, cleanly, and is replaced
        try:
            assert len(store.read("grids")) == 10
            break
        except StoreUnavailable as exc:
            assert exc.status == 503
    else:
        pytest.fail("the store did not get a working connection again")
    other = open_store(pg_url)
    try:
        v2 = other.commit({"grids": _redrawn(other.read("grids"))}, author="t", message="after the drop")
    finally:
        other.close()
    deadline = time.monotonic() + 10
    while store.version() == v1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.version() == v2.id
