"""The versioned store's history: identical commits, retention, and what a writer killed mid-change leaves."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest

from app import settings
from app.geo import geojson_store, importer
from app.geo._geojson_history import HISTORY
from app.geo.geojson import dump_geojson
from app.geo.geojson_store import VersionedStore
from app.geo.store import Store, open_data, open_store
from tests import helpers


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the point it is raised at runs, and no handler catches it."""


def _grids(tag: str) -> gpd.GeoDataFrame:
    """The mini city's grids with ``tag`` added to every name: a distinct version per tag."""
    g = gpd.read_file(helpers.MINI / "grids.geojson")
    g["name"] = g["name"] + tag
    return g


def _store(tmp_path: Path, keep: int = 0, url: str | None = None) -> VersionedStore:
    """The mini city seeded into a GeoJSON store in ``tmp_path`` or the store at ``url`` (any backend)."""
    s = VersionedStore(tmp_path / "store", lock_timeout=0.5, keep_versions=keep) if url is None \
        else open_store(url, keep_versions=keep)
    s.seed_from(helpers.MINI)
    return s


def _seqs(store: Store) -> list[int]:
    return [v.seq for v in store.list_versions()]


# --------------------------------------------------------------------------- identical content


@pytest.mark.both_stores
def test_an_identical_commit_makes_no_version(tmp_path, store_url):
    store = _store(tmp_path, url=store_url)
    v2 = store.commit({"grids": _grids("·2")}, author="a", message="first")
    before = helpers.store_state(store)
    again = store.commit({"grids": _grids("·2")}, author="b", message="same again")
    assert again == v2 and store.version() == v2.id and _seqs(store) == [1, 2]
    assert helpers.store_state(store) == before  # no version, no history entry
    # the same layers with other metadata are a change
    meta = json.dumps({"city": "elsewhere"}).encode()
    v3 = store.commit({"grids": _grids("·2")}, author="c", message="meta", extra_files={"metadata.json": meta})
    assert v3.seq == 3 and store.metadata() == {"city": "elsewhere"}


@pytest.mark.geojson_store
def test_an_identical_commit_writes_not_a_byte(tmp_path):
    store = _store(tmp_path)
    v2 = store.commit({"grids": _grids("·2")}, author="a", message="first")
    before = helpers.tree_digest(store.root)
    assert store.commit({"grids": _grids("·2")}, author="b", message="same again") == v2
    assert helpers.tree_digest(store.root) == before  # not a byte written: no version, no history line


@pytest.mark.both_stores
def test_reimporting_the_same_file_says_unchanged(tmp_path, store_url):
    store = _store(tmp_path, url=store_url)
    path = tmp_path / "g.geojson"
    path.write_bytes(dump_geojson(_grids("·x")))
    first = importer.run_import(store, "grids", path, author="t")
    assert first.version.seq == 2 and not first.unchanged
    for _ in range(3):
        out = importer.run_import(store, "grids", path, author="t")
        assert out.unchanged and out.version.id == first.version.id
    assert _seqs(store) == [1, 2] and len(store.history()) == 2


# --------------------------------------------------------------------------- history


@pytest.mark.both_stores
def test_history_names_every_change_with_its_author(tmp_path, store_url):
    store = _store(tmp_path, url=store_url)
    v1 = store.version()
    v2 = store.commit({"grids": _grids("·2")}, author="li", message="redraw")
    info, _ = store.rollback("1", author="wang", change_id="c-1")
    seed, commit, back = store.history()
    assert (seed.action, seed.source, seed.id, seed.version, seed.previous) == ("commit", "seed", v1, v1, None)
    assert (commit.action, commit.id, commit.author, commit.previous, commit.layers) == \
        ("commit", v2.id, "li", v1, ["grids"])
    assert commit.message == "redraw" and commit.time.endswith("Z")  # its summary is in its version.json
    assert (back.action, back.id, back.version, back.previous, back.author) == ("rollback", "c-1", v1, v2.id, "wang")
    assert info.id == v1 and back.summary["grids"]["added"] == [] and back.summary["grids"]["removed"] == []


def test_a_torn_last_line_swallows_no_later_entry(tmp_path):
    store = _store(tmp_path)
    with open(store.root / HISTORY, "ab") as fh:
        fh.write(b'{"id": "half-writ')  # a crash in the middle of a line
    v2 = store.commit({"grids": _grids("·2")}, author="t", message="m")
    assert [e.id for e in store.history()] == [store.list_versions()[0].id, v2.id]


def test_a_store_from_before_the_history_starts_it_with_a_baseline(tmp_path):
    store = _store(tmp_path)
    v2 = store.commit({"grids": _grids("·2")}, author="t", message="m")
    (store.root / HISTORY).unlink()  # as a store made before the history was kept
    store.recover()  # opening alone writes nothing
    assert not (store.root / HISTORY).exists()
    v3 = store.commit({"grids": _grids("·3")}, author="t", message="m")
    baseline, commit = store.history()
    assert baseline.action == "baseline" and baseline.version == v2.id and len(baseline.versions) == 2
    assert commit.id == v3.id and _seqs(store) == [1, 2, 3]


# --------------------------------------------------------------------------- killed writers


def _kill_at(monkeypatch, name: str) -> None:
    """Make ``geojson_store.<name>`` (or a VersionedStore method) die the first time it is called."""
    def die(*args, **kwargs):
        raise Killed(name)

    if hasattr(VersionedStore, name):
        monkeypatch.setattr(VersionedStore, name, die)
    else:
        monkeypatch.setattr(geojson_store, name, die)


def test_a_commit_killed_before_its_history_line_never_happened(tmp_path, monkeypatch):
    store = _store(tmp_path)
    v1 = store.version()
    _kill_at(monkeypatch, "append")
    with pytest.raises(Killed):
        store.commit({"grids": _grids("·2")}, author="t", message="m")
    monkeypatch.undo()
    assert _seqs(store) == [1, 2]  # the folder is there, but no entry names it
    fresh = VersionedStore(store.root)
    fresh.recover()
    assert fresh.version() == v1 and _seqs(fresh) == [1] and len(fresh.history()) == 1
    assert fresh.commit({"grids": _grids("·3")}, author="t", message="m").seq == 2


def test_a_commit_killed_before_the_pointer_moved_is_finished(tmp_path, monkeypatch):
    store = _store(tmp_path)
    _kill_at(monkeypatch, "_set_pointer")
    with pytest.raises(Killed):
        store.commit({"grids": _grids("·2")}, author="t", message="m")
    monkeypatch.undo()
    assert store.version().startswith("0001-")  # still serving the old one, and it is complete
    recorded = store.history()[-1]
    fresh = VersionedStore(store.root)
    fresh.recover()
    assert fresh.version() == recorded.id and recorded.id.startswith("0002-") and fresh.verify() == []


def test_a_rollback_killed_before_the_pointer_moved_is_finished_by_the_next_writer(tmp_path, monkeypatch):
    store = _store(tmp_path)
    v2 = store.commit({"grids": _grids("·2")}, author="t", message="m")
    _kill_at(monkeypatch, "_set_pointer")
    with pytest.raises(Killed):
        store.rollback("1", author="t")
    monkeypatch.undo()
    assert store.version() == v2.id
    v3 = VersionedStore(store.root).commit({"grids": _grids("·3")}, author="t", message="m")
    assert v3.parent.startswith("0001-")  # the lock finished the rollback before the commit began


def test_a_version_served_without_a_history_line_stays_served(tmp_path, monkeypatch):
    store = _store(tmp_path)
    monkeypatch.setattr(geojson_store, "append", lambda root, entry: None)  # a gridmap from before the history
    old = store.commit({"grids": _grids("·2")}, author="t", message="m")
    monkeypatch.undo()
    VersionedStore(store.root).recover()
    assert store.version() == old.id and _seqs(store) == [1, 2]
    v3 = store.commit({"grids": _grids("·3")}, author="t", message="m")
    assert v3.parent == old.id and _seqs(store) == [1, 2, 3]


def test_staging_and_pointer_temp_files_go_when_the_store_is_opened(tmp_path):
    store = _store(tmp_path)
    junk = store.root / "staging" / "deadbeef"
    junk.mkdir(parents=True)
    (junk / "grids.geojson").write_text("half")
    (store.root / ".CURRENT.tmp-1-abc").write_text("x")
    cfg = settings.resolve({"DATA_DIR": str(store.root), "INSTANCE_DIR": str(tmp_path / "inst")}, environ={})
    assert open_data(cfg).current().version == store.version()
    assert not junk.exists() and not list(store.root.glob(".CURRENT.tmp-*"))


def test_recover_leaves_a_running_writer_alone(tmp_path):
    store = _store(tmp_path)
    with store.lock():
        (store.root / "staging" / "in-progress").mkdir(parents=True)
        VersionedStore(store.root).recover()  # does not wait, and does not touch the writer's folder
        assert (store.root / "staging" / "in-progress").is_dir()


# --------------------------------------------------------------------------- retention


@pytest.mark.both_stores
def test_pruning_keeps_the_newest_those_rolled_back_to_and_the_current(tmp_path, store_url):
    store = _store(tmp_path, keep=3, url=store_url)
    store.commit({"grids": _grids("·2")}, author="t", message="m")
    store.commit({"grids": _grids("·3")}, author="t", message="m")
    store.rollback("1", author="t")  # version 1 is kept from now on
    for k in range(4, 8):
        store.commit({"grids": _grids(f"·{k}")}, author="t", message="m")
    assert _seqs(store) == [1, 5, 6, 7]
    assert store.version().startswith("0007-")
    pruned = [p for e in store.history() for p in e.pruned]
    assert [int(p[:4]) for p in pruned] == [2, 3, 4]
    if isinstance(store, VersionedStore):  # the GeoJSON store's folders went too
        assert not any((store.versions_dir / p).exists() for p in pruned)
        assert not any((store.root / "staging").iterdir())
    for v in store.list_versions():  # the layer files were shared between versions: the rest are intact
        assert store.verify(v.id) == []
    assert len(store.snapshot(store.list_versions()[0].id).read("grids")) == 10
    store.rollback("1", author="t")
    assert store.commit({"grids": _grids("·8")}, author="t", message="m").parent.startswith("0001-")
    assert _seqs(store) == [1, 6, 7, 8]  # 5 went; 1 stays (rolled back to, and it was replaced just now)


@pytest.mark.both_stores
def test_keep_versions_zero_keeps_every_version(tmp_path, store_url):
    store = _store(tmp_path, keep=0, url=store_url)
    for k in range(2, 6):
        store.commit({"grids": _grids(f"·{k}")}, author="t", message="m")
    assert _seqs(store) == [1, 2, 3, 4, 5] and all(not e.pruned for e in store.history())


def test_a_prune_killed_halfway_is_finished(tmp_path, monkeypatch):
    store = _store(tmp_path, keep=1)
    store.commit({"grids": _grids("·2")}, author="t", message="m")
    _kill_at(monkeypatch, "_remove_versions")
    with pytest.raises(Killed):
        store.commit({"grids": _grids("·3")}, author="t", message="m")
    monkeypatch.undo()
    assert store.version().startswith("0003-") and _seqs(store) == [1, 2, 3]
    VersionedStore(store.root).recover()
    assert _seqs(store) == [2, 3]  # 1 was pruned; 2 is the one 3 replaced


@pytest.mark.both_stores
def test_open_data_passes_keep_versions(tmp_path, store_url):
    cfg = settings.resolve({"DATA_DIR": str(helpers.copy_mini(tmp_path / "geodata")),
                            "STORE_URL": store_url, "INSTANCE_DIR": str(tmp_path / "inst"),
                            "KEEP_VERSIONS": 2}, environ={})
    store = open_data(cfg).store
    for k in range(2, 6):
        store.commit({"grids": _grids(f"·{k}")}, author="t", message="m")
    assert [v.seq for v in store.list_versions()] == [4, 5]
    assert store.history()[-1].pruned[0].startswith("0003-")


@pytest.mark.both_stores
def test_importing_the_seeded_grids_again_changes_nothing(tmp_path, store_url):
    store = _store(tmp_path, url=store_url)
    outcome = importer.run_import(store, "grids", helpers.MINI / "grids.geojson", author="t")
    assert outcome.unchanged and [v.seq for v in store.list_versions()] == [1]
