"""Plain folders of ``<layer>.geojson`` files: reading them, their content hash, and the read-only FolderStore."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.geo.schema import LAYERS
from app.geo.store import HistoryEntry, ReadOnlyStore, StoreError, VersionInfo

if TYPE_CHECKING:  # imported where a layer is read
    import geopandas as gpd

#: File inside each version folder describing it.
VERSION_META = "version.json"


def layer_path(folder: Path, layer: str) -> Path:
    """Return the path of ``layer`` inside a geodata folder.

    Parameters
    ----------
    folder : Path
        A geodata folder.
    layer : str
        Layer name, one of :data:`app.geo.schema.LAYERS`.

    Returns
    -------
    Path
        ``folder / f"{layer}.geojson"``.
    """
    return Path(folder) / f"{layer}.geojson"


def content_hash(layer_bytes: dict[str, bytes]) -> str:
    """Return the data version of a set of layer files: 12 hex digits of a SHA-256 over names and bytes.

    Parameters
    ----------
    layer_bytes : dict
        Layer name -> the bytes of its GeoJSON file.

    Returns
    -------
    str
        The hash, the same for the same files whatever order they come in.
    """
    h = hashlib.sha256()
    for layer in LAYERS:
        if layer in layer_bytes:
            h.update(layer.encode())
            h.update(layer_bytes[layer])
    return h.hexdigest()[:12]


def folder_version(folder: Path) -> str:
    """Return the :func:`content_hash` of a geodata folder's layers: its data version.

    Parameters
    ----------
    folder : Path
        A geodata folder.

    Returns
    -------
    str
        12 hex digits.
    """
    return content_hash({n: p.read_bytes() for n in LAYERS if (p := layer_path(folder, n)).exists()})


class _LayerFolder:
    """Reads the ``<layer>.geojson`` files of one folder (shared by plain folders and version folders)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.location = str(self.folder)
        self._in_child: bool | None = None

    def read(self, layer: str) -> gpd.GeoDataFrame:
        """Read one layer from its GeoJSON file.

        The layers of a city of 2 MB of files or more (see :mod:`app.geo._geojson_child`) are read by a child process and
        handed over pickled: the same frame, without GDAL's libraries and parsing peak in this process.
        """
        import geopandas as gpd

        if layer not in LAYERS:
            raise KeyError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
        path = layer_path(self.folder, layer)
        if not path.exists():
            raise FileNotFoundError(f"layer {layer!r} not found: {path}")
        from app.geo import _geojson_child

        if self._in_child is None:
            self._in_child = _geojson_child.wanted(self.folder, LAYERS)
        if self._in_child:
            read = _geojson_child.read(path)
            if read is not None:
                return read
        gdf = gpd.read_file(path, engine="pyogrio")
        if gdf.crs is None:
            gdf = gdf.set_crs("EPSG:4326")
        return gdf

    def layer_names(self) -> list[str]:
        """Return the layers whose files exist in the folder."""
        return [name for name in LAYERS if layer_path(self.folder, name).exists()]

    def metadata(self) -> dict[str, Any]:
        """Return ``metadata.json`` of the folder, or an empty dict."""
        p = self.folder / "metadata.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


class FolderStore(_LayerFolder):
    """A read-only store over one folder of ``<layer>.geojson`` files.

    It has one version, the content hash of its files, and refuses every write with
    :class:`~app.geo.store.ReadOnlyStore`. Layers are read lazily and not pinned: someone who
    edits the files while the service runs may mix them within one request.

    Parameters
    ----------
    folder : str or Path
        The geodata folder, e.g. the repository's ``geodata/``.
    """

    writable = False

    def __init__(self, folder: str | Path) -> None:
        super().__init__(folder)
        self._stamp: tuple | None = None
        self._version = ""

    def version(self) -> str:
        """Return the content hash of the folder's layers, re-hashed only when a file's stat changes."""
        stamp = tuple(
            (st.st_mtime_ns, st.st_size) if (p := layer_path(self.folder, n)).exists() and (st := p.stat()) else None
            for n in LAYERS
        )
        if stamp != self._stamp:
            self._version = folder_version(self.folder)
            self._stamp = stamp
        return self._version

    def info(self, version_id: str | None = None) -> VersionInfo:
        """Return the folder's one version: its content hash and the feature counts."""
        names = self.layer_names()
        counts = {n: count_features(layer_path(self.folder, n).read_bytes()) for n in names}
        vid = self.version()
        return VersionInfo(id=vid, created="", author="", message=f"plain folder {self.folder}", parent=None,
                           source="folder", counts=counts, content_hash=vid)

    def snapshot(self, version_id: str | None = None) -> FolderStore:
        """Return the store itself: a plain folder has no other version to pin."""
        return self

    def exists(self) -> bool:
        """Return True when the folder holds at least one layer."""
        return bool(self.layer_names())

    def list_versions(self) -> list[VersionInfo]:
        """Return no versions: a plain folder keeps no history."""
        return []

    def verify(self, version_id: str | None = None) -> list[str]:
        """Return no problems: a plain folder records no hashes to check against."""
        return []

    def history(self) -> list[HistoryEntry]:
        """Return no changes: a plain folder keeps no history."""
        return []

    def recover(self) -> None:
        """Do nothing: nobody writes a plain folder through gridmap, so nothing is left half-done."""

    def _refuse(self) -> ReadOnlyStore:
        return ReadOnlyStore(f"the data folder {self.folder} is served read-only (plain GeoJSON, no versions); "
                             "set GRIDMAP_STORE_URL to a versioned store to import or roll back")

    def resolve(self, ref: str) -> str:
        """Refuse: a plain folder has no versions to name."""
        raise self._refuse()

    def commit(self, layers: dict[str, gpd.GeoDataFrame | bytes], **kwargs: Any) -> VersionInfo:
        """Refuse: a plain folder is read-only."""
        raise self._refuse()

    def rollback(self, ref: str, **kwargs: Any) -> tuple[VersionInfo, dict[str, Any]]:
        """Refuse: a plain folder is read-only."""
        raise self._refuse()

    def seed_from(self, folder: str | Path, author: str = "system") -> VersionInfo | None:
        """Refuse: a plain folder is read-only."""
        raise self._refuse()

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Refuse: a plain folder is read-only."""
        raise self._refuse()


class VersionSnapshot(_LayerFolder):
    """One stored version, pinned: reads never move to another version.

    Parameters
    ----------
    folder : Path
        The version's folder.
    version_id : str
        Its id.
    """

    def __init__(self, folder: str | Path, version_id: str) -> None:
        super().__init__(folder)
        self.version_id = version_id

    def version(self) -> str:
        """Return the pinned version id."""
        return self.version_id

    def info(self, version_id: str | None = None) -> VersionInfo:
        """Return the version's description."""
        return load_info(Path(self.folder))

    def snapshot(self, version_id: str | None = None) -> VersionSnapshot:
        """Return this snapshot (it is pinned already)."""
        if version_id not in (None, self.version_id):
            raise StoreError(f"snapshot {self.version_id} cannot show version {version_id}")
        return self


def load_info(folder: Path) -> VersionInfo:
    """Read the ``version.json`` of a version folder."""
    raw = json.loads((folder / VERSION_META).read_text(encoding="utf-8"))
    return VersionInfo(**raw)


def count_features(data: bytes) -> int:
    """Return how many features a GeoJSON FeatureCollection's bytes hold (0 if unreadable)."""
    try:
        return len(json.loads(data).get("features", []))
    except (ValueError, AttributeError):
        return 0
