"""The versioned store: commits, summaries, pointer caching, pinning, locking, rollback and SIGKILL safety."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import geopandas as gpd
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely import affinity

from app import settings
from app.geo import importer
from app.geo.changes import format_summary, grid_changes
from app.geo.dataset import DataManager
from app.geo.geojson import dump_geojson
from app.geo.geojson_store import FolderStore, VersionedStore, folder_version
from app.geo.store import ReadOnlyStore, Store, StoreBusy, StoreError, open_data, open_store
from tests import helpers


@pytest.fixture
def store(tmp_path: Path, store_backend: str, store_url: str) -> Store:
    """The mini city seeded into a versioned store: a GeoJSON folder, or a PostGIS database."""
    s = VersionedStore(tmp_path / "store", lock_timeout=0.5) if store_backend == "geojson" else open_store(store_url)
    s.seed_from(helpers.MINI)
    return s


@pytest.mark.geojson_store
def test_seed_makes_version_one_with_all_layers(store):
    assert store.version().startswith("0001-") and len(store.version()) == 12
    info = store.info()
    assert info.source == "seed" and info.content_hash == folder_version(helpers.MINI)
    assert info.counts["grids"] == 10
    assert store.verify() == []
    assert set(store.layer_names()) == {"divisions", "committees", "grids", "facilities", "addresses", "roads"}
    assert (store.snapshot().folder / "metadata.json").exists()
    assert store.seed_from(helpers.MINI) is None  # same content: nothing to do


@pytest.mark.geojson_store
def test_commit_summarises_grid_changes_and_rollback_restores(store):
    original = store.read("grids")
    grids = original.copy()
    first = grids["code"].iloc[0]
    grids.loc[0, "geometry"] = affinity.scale(grids.geometry.iloc[0], 0.9, 0.9)
    grids = grids.drop(index=1)
    extra = grids.iloc[[0]].copy()
    extra["code"] = "620201001001099"
    grids = gpd.GeoDataFrame(list(grids.itertuples(index=False)) + list(extra.itertuples(index=False)),
                             columns=grids.columns, crs=grids.crs)
    v2 = store.commit({"grids": grids}, author="test", message="redraw")
    assert store.version() == v2.id and v2.seq == 2 and v2.parent.startswith("0001-")
    g = v2.summary["grids"]
    assert g["added"] == ["620201001001099"]
    assert len(g["removed"]) == 1 and first in g["reshaped"]
    assert "1 added (620201001001099)" in format_summary(v2.summary, lang="en")
    assert "网格：新增 1 个（620201001001099）" in format_summary(v2.summary)  # Chinese by default
    # other layers are carried over byte for byte
    old = store.snapshot("0001-" + store.list_versions()[0].id[5:])
    assert (old.folder / "roads.geojson").read_bytes() == (store.snapshot().folder / "roads.geojson").read_bytes()
    info, summary = store.rollback("1")
    assert store.version() == info.id and info.seq == 1
    assert summary["grids"]["removed"] == ["620201001001099"]
    assert [v.seq for v in store.list_versions()] == [1, 2]
    assert_geodataframe_equal(store.read("grids"), original)


@pytest.mark.geojson_store
def test_rollback_refuses_unknown_current_and_damaged_versions(store):
    with pytest.raises(StoreError, match="no version"):
        store.rollback("42")
    with pytest.raises(StoreError, match="already current"):
        store.rollback(store.version())
    v2 = store.commit({"roads": store.read("roads")}, author="t", message="same roads")
    (store.versions_dir / store.list_versions()[0].id / "grids.geojson").write_bytes(b"{}")
    with pytest.raises(StoreError, match="recorded hash"):
        store.rollback("1")
    assert store.version() == v2.id


@pytest.mark.both_stores
def test_resolve_by_number_prefix_and_hash(store):
    vid = store.version()
    assert store.resolve("1") == vid
    assert store.resolve(vid[:6]) == vid
    assert store.resolve(vid[5:]) == vid
    with pytest.raises(StoreError):
        store.resolve("")


@pytest.mark.geojson_store
def test_version_is_cached_by_stat_and_follows_the_pointer(store, monkeypatch):
    vid = store.version()
    reads = []
    real = Path.read_text

    def counting(self, *a, **k):
        reads.append(self)
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", counting)
    for _ in range(50):
        assert store.version() == vid
    assert reads == []
    monkeypatch.undo()
    v2 = store.commit({"roads": store.read("roads")}, author="t", message="m")
    assert VersionedStore(store.root).version() == v2.id
    assert store.version() == v2.id


@pytest.mark.geojson_store
def test_bad_pointer_is_an_error(store):
    store.pointer.write_text("../../etc/passwd\n")
    with pytest.raises(StoreError, match="not a version id"):
        store.version()


@pytest.mark.both_stores
def test_pinned_dataset_never_mixes_versions(store):
    dm = DataManager(store)
    ds = dm.current()
    before = len(ds.layer("grids"))
    grids = store.read("grids").iloc[:5]
    store.commit({"grids": grids, "committees": store.read("committees").iloc[:1]}, author="t", message="m")
    # the old Dataset still reads the old version, even for a layer it had not loaded yet
    assert len(ds.layer("committees")) == 3 and len(ds.layer("grids")) == before
    fresh = dm.current()
    assert fresh is not ds and len(fresh.layer("grids")) == 5 and len(fresh.layer("committees")) == 1


@pytest.mark.geojson_store
def test_lock_stops_a_second_writer(store):
    other = VersionedStore(store.root, lock_timeout=0.2)
    with store.lock(), pytest.raises(StoreBusy):
        other.commit({"roads": store.read("roads")}, author="t", message="m")
    assert store.version().startswith("0001-")


@pytest.mark.both_stores
def test_expect_guards_against_concurrent_change(store):
    base = store.version()
    store.commit({"roads": store.read("roads").iloc[1:]}, author="a", message="first")
    with pytest.raises(StoreError, match="changed"):
        store.commit({"roads": store.read("roads")}, author="b", message="second", expect=base)


@pytest.mark.geojson_store
def test_staging_left_by_a_crash_is_cleaned(store):
    junk = store.root / "staging" / "deadbeef"
    junk.mkdir(parents=True)
    (junk / "grids.geojson").write_text("half")
    store.commit({"roads": store.read("roads")}, author="t", message="m")
    assert not junk.exists()


def test_dump_geojson_rounds_and_is_deterministic():
    gdf = gpd.read_file(helpers.MINI / "grids.geojson")
    gdf.loc[0, "geometry"] = affinity.translate(gdf.geometry.iloc[0], 1e-9, 0)
    a, b = dump_geojson(gdf), dump_geojson(gdf)
    assert a == b
    doc = json.loads(a)
    assert len(doc["features"]) == 10 and doc["features"][0]["properties"]["code"] == "620201001001001"
    x = doc["features"][0]["geometry"]["coordinates"][0][0][0]
    assert round(x, 6) == x


def test_grid_changes_by_code():
    gdf = gpd.read_file(helpers.MINI / "grids.geojson")
    same = grid_changes(gdf, gdf.copy())
    assert same == {"added": [], "removed": [], "reshaped": []}


def _config(tmp_path: Path, data: Path, store: Path | str = "") -> settings.Config:
    return settings.resolve({"DATA_DIR": str(data), "STORE_URL": str(store),
                             "INSTANCE_DIR": str(tmp_path / "inst")}, environ={})


def test_open_data_chooses_the_store(tmp_path, monkeypatch):
    plain = open_data(_config(tmp_path, helpers.MINI))
    assert isinstance(plain.store, FolderStore) and not plain.store.writable
    seeded = open_data(_config(tmp_path, helpers.MINI, tmp_path / "s"))
    assert seeded.store.writable and seeded.current().version.startswith("0001-")
    again = open_data(_config(tmp_path, tmp_path / "s"))
    assert isinstance(again.store, VersionedStore)
    monkeypatch.setattr(settings, "DEMO_DATA_DIR", helpers.MINI)
    demo = open_data(_config(tmp_path, helpers.MINI))
    assert demo.store.writable and (tmp_path / "inst" / "store" / "CURRENT").exists()
    with pytest.raises(StoreError, match="no layers"):
        open_data(_config(tmp_path, tmp_path / "nothing", tmp_path / "empty-store"))


def test_open_store_picks_the_backend_by_url_or_path(tmp_path):
    assert isinstance(open_store(helpers.MINI), FolderStore)
    assert isinstance(open_store(f"file://{tmp_path / 'new'}"), VersionedStore)
    for store in (open_store(helpers.MINI), open_store(tmp_path / "new")):
        assert isinstance(store, Store)  # both protocols, runtime-checked
    with pytest.raises(StoreError, match="no store backend for ftp://"):
        open_store("ftp://example.org/x")


def test_a_plain_folder_refuses_every_write(tmp_path):
    store = open_store(helpers.MINI)
    assert store.list_versions() == [] and store.verify() == [] and store.info().counts["grids"] == 10
    for write in (lambda: store.commit({}, author="t", message="m"), lambda: store.rollback("1"),
                  lambda: store.seed_from(helpers.MINI), lambda: store.resolve("1"), store.lock):
        with pytest.raises(ReadOnlyStore, match="read-only"):
            write()


# --------------------------------------------------------------------------- SIGKILL


def _import_forever(root: str, files: list[str]) -> None:
    """Child process: import the two grid files alternately until killed."""
    store = VersionedStore(root, lock_timeout=5)
    k = 0
    while True:
        importer.run_import(store, "grids", files[k % 2], author="child")
        k += 1


def _make_variants(tmp_path: Path) -> list[str]:
    gdf = gpd.read_file(helpers.MINI / "grids.geojson")
    a = tmp_path / "a.geojson"
    a.write_bytes(dump_geojson(gdf))
    b_gdf = gdf.copy()
    b_gdf["name"] = b_gdf["name"] + "·新"
    b = tmp_path / "b.geojson"
    b.write_bytes(dump_geojson(b_gdf))
    return [str(a), str(b)]


def _first_import_seconds(ctx, root: Path, files: list[str]) -> float:
    """Run the importing child until it has made one version; return how long that took (then kill it)."""
    before = VersionedStore(root).version()
    proc = ctx.Process(target=_import_forever, args=(str(root), files))
    start = time.monotonic()
    proc.start()
    while VersionedStore(root).version() == before and time.monotonic() - start < 120:
        time.sleep(0.01)
    took = time.monotonic() - start
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    return took


def test_sigkill_at_random_points_leaves_a_complete_version(tmp_path, capsys):
    store = VersionedStore(tmp_path / "store", lock_timeout=5)
    store.seed_from(helpers.MINI)
    files = _make_variants(tmp_path)
    names = {gpd.read_file(f)["name"].iloc[0] for f in [*files, helpers.MINI / "grids.geojson"]}
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(6)
    versions_seen: set[str] = {store.version()}
    # kill within the time one import takes on this machine now, so that kills land everywhere in it
    window = 1.5 * _first_import_seconds(ctx, store.root, files)
    kills = mid_write = 0
    versions_seen.add(VersionedStore(store.root).version())
    while kills < 30:
        proc = ctx.Process(target=_import_forever, args=(str(store.root), files))
        proc.start()
        time.sleep(rng.uniform(0.0, window))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        assert proc.exitcode == -signal.SIGKILL
        kills += 1
        staging = store.root / "staging"
        if (staging.is_dir() and any(staging.iterdir())) or list(store.root.glob(".CURRENT.tmp-*")):
            mid_write += 1
        fresh = VersionedStore(store.root)
        vid = fresh.version()
        assert fresh.verify(vid) == [], f"kill {kills}: version {vid} is incomplete"
        grids = fresh.read("grids")
        assert len(grids) == 10 and grids["name"].iloc[0] in names
        assert fresh.info(vid).counts["addresses"] == 69
        for v in fresh.list_versions():  # every version that made it into versions/ is complete too
            assert fresh.verify(v.id) == []
        fresh.recover()  # as opening the workspace does: the history and the versions agree again
        history = fresh.history()
        assert fresh.version() == history[-1].version
        assert {v.id for v in fresh.list_versions()} <= {e.version for e in history if e.action == "commit"}
        assert not (staging.is_dir() and any(staging.iterdir()))
        if fresh.version() in versions_seen:
            window = min(window * 1.1, 4.0)  # the machine got slower: reach the end of an import again
        versions_seen.add(fresh.version())
    with capsys.disabled():
        print(f"\n[sigkill] {kills} kills within {window:.2f} s, {mid_write} while a version was half written, "
              f"{len(versions_seen)} distinct current versions, {len(store.list_versions())} versions stored")
    assert len(versions_seen) > 1  # the first child's import completed


def test_version_messages_read_in_both_languages():
    from app.geo.changes import message_text

    assert message_text("import grids from 网格.zip") == "导入网格：网格.zip"
    assert message_text("import grids from 网格.zip", "en") == "import grids from 网格.zip"
    assert message_text("init-city from 河湾市") == "由 河湾市 建立城市（init-city）"
    assert message_text("seeded from geodata", "en") == "seeded from geodata"
    assert message_text("something else") == "something else"


def test_open_data_seeds_a_postgis_store_once(tmp_path, pg_url):
    data = helpers.copy_mini(tmp_path / "geodata")
    first = open_data(_config(tmp_path, data, pg_url))
    assert first.store.writable and first.current().version.startswith("0001-")
    assert first.store.info().source == "seed" and len(first.current().grids) == 10
    assert "secret" not in first.store.location
    again = open_data(_config(tmp_path, data, pg_url.replace("postgresql://", "postgres://", 1)))
    assert [v.seq for v in again.store.list_versions()] == [1]  # the same content: no second seed
