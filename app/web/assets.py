"""Front-end assets served by the app itself: the pinned manifest, the installer, Folium overrides and gzip."""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import mimetypes
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from app.errors import GridmapError

#: Folder the third-party files are installed into (git-ignored).
STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
#: URL prefix of the app's static folder.
STATIC_URL = "/static"
#: Name of the stamp file written into each installed asset folder.
_STAMP = ".gridmap-asset.json"


class OfflineAssetError(GridmapError, RuntimeError):
    """A page would load a file from off the host, or a vendor asset is missing."""

    default_status = 503
    default_key = "assets"


@dataclass(frozen=True)
class Asset:
    """One pinned third-party front-end package.

    Attributes
    ----------
    name : str
        Folder under ``static/vendor/``.
    package : str
        PyPI distribution (``source="pypi"``) or npm package name (``source="npm"``).
    version : str
        Exact pinned version of the package.
    licence : str
        SPDX licence identifier(s) of what is installed.
    source : str
        ``pypi`` (an installed Python package, e.g. XStatic) or ``npm`` (fetched with ``npm pack``).
    files : tuple of (str, str)
        ``(path inside the package, path inside vendor/<name>/)``; a path ending in ``/`` copies a folder.
    module : str
        For ``pypi`` assets: the module whose ``BASE_DIR`` (XStatic) or folder holds the files.
    """

    name: str
    package: str
    version: str
    licence: str
    source: str
    files: tuple[tuple[str, str], ...]
    module: str = ""

    @property
    def folder(self) -> Path:
        """Where the asset is installed."""
        return VENDOR_DIR / self.name


MANIFEST: tuple[Asset, ...] = (
    Asset("leaflet", "XStatic-Leaflet", "1.9.3.0", "BSD-2-Clause", "pypi",
          (("leaflet.js", "leaflet.js"), ("leaflet.css", "leaflet.css"), ("images/", "images/")),
          module="xstatic.pkg.leaflet"),
    Asset("leaflet.markercluster", "XStatic-Leaflet-MarkerCluster", "1.4.1.1", "MIT", "pypi",
          (("leaflet.markercluster.js", "leaflet.markercluster.js"), ("MarkerCluster.css", "MarkerCluster.css"),
           ("MarkerCluster.Default.css", "MarkerCluster.Default.css")),
          module="xstatic.pkg.leaflet_markercluster"),
    Asset("jquery", "XStatic-jQuery", "3.7.1.1", "MIT", "pypi", (("jquery.min.js", "jquery.min.js"),),
          module="xstatic.pkg.jquery"),
    Asset("fontawesome", "XStatic-Font-Awesome", "6.2.1.2", "CC-BY-4.0 AND OFL-1.1 AND MIT", "pypi",
          (("css/", "css/"), ("webfonts/", "webfonts/"), ("LICENSE.txt", "LICENSE.txt")),
          module="xstatic.pkg.font_awesome"),
    Asset("leaflet.heat", "folium", "0.20.0", "BSD-2-Clause", "pypi",
          (("templates/leaflet_heat.min.js", "leaflet_heat.min.js"),), module="folium"),
    Asset("bootstrap", "bootstrap", "5.2.2", "MIT", "npm",
          (("dist/css/bootstrap.min.css", "css/bootstrap.min.css"),
           ("dist/js/bootstrap.bundle.min.js", "js/bootstrap.bundle.min.js"), ("LICENSE", "LICENSE"))),
    Asset("leaflet.awesome-markers", "leaflet.awesome-markers", "2.0.5", "MIT", "npm",
          (("dist/leaflet.awesome-markers.js", "leaflet.awesome-markers.js"),
           ("dist/leaflet.awesome-markers.css", "leaflet.awesome-markers.css"), ("dist/images/", "images/"),
           ("LICENSE", "LICENSE"))),
    Asset("leaflet.fullscreen", "leaflet.fullscreen", "3.0.0", "MIT", "npm",
          (("Control.FullScreen.js", "Control.FullScreen.js"), ("Control.FullScreen.css", "Control.FullScreen.css"),
           ("icon-fullscreen.svg", "icon-fullscreen.svg"), ("LICENSE", "LICENSE"))),
    Asset("leaflet-measure", "leaflet-measure", "2.1.7", "MIT", "npm",
          (("dist/leaflet-measure.js", "leaflet-measure.js"), ("dist/leaflet-measure.css", "leaflet-measure.css"),
           ("dist/images/", "images/"), ("LICENSE", "LICENSE"))),
    Asset("leaflet.polylinemeasure", "leaflet.polylinemeasure", "3.0.0", "BSD-2-Clause", "npm",
          (("Leaflet.PolylineMeasure.js", "Leaflet.PolylineMeasure.js"),
           ("Leaflet.PolylineMeasure.css", "Leaflet.PolylineMeasure.css"), ("LICENSE.txt", "LICENSE.txt"))),
    Asset("leaflet-minimap", "leaflet-minimap", "3.6.1", "BSD-2-Clause", "npm",
          (("dist/Control.MiniMap.min.js", "Control.MiniMap.min.js"),
           ("dist/Control.MiniMap.min.css", "Control.MiniMap.min.css"), ("dist/images/", "images/"),
           ("LICENSE.txt", "LICENSE.txt"))),
    Asset("leaflet-mouse-position", "leaflet-mouse-position", "1.2.0", "MIT", "npm",
          (("src/L.Control.MousePosition.js", "L.Control.MousePosition.js"),
           ("src/L.Control.MousePosition.css", "L.Control.MousePosition.css"),
           ("MIT-LICENCE.txt", "MIT-LICENCE.txt"))),
    Asset("leaflet-draw", "leaflet-draw", "1.0.2", "MIT", "npm",
          (("dist/leaflet.draw.js", "leaflet.draw.js"), ("dist/leaflet.draw.css", "leaflet.draw.css"),
           ("dist/images/", "images/"))),
    Asset("leaflet.vectorgrid", "leaflet.vectorgrid", "1.3.0", "Beerware", "npm",
          (("dist/Leaflet.VectorGrid.bundled.min.js", "Leaflet.VectorGrid.bundled.min.js"),
           ("README.md", "README.md"))),
    Asset("leaflet.locatecontrol", "leaflet.locatecontrol", "0.66.2", "MIT", "npm",
          (("dist/L.Control.Locate.min.js", "L.Control.Locate.min.js"),
           ("dist/L.Control.Locate.min.css", "L.Control.Locate.min.css"), ("LICENSE", "LICENSE"))),
)

ASSETS: dict[str, Asset] = {a.name: a for a in MANIFEST}

#: Folium's CDN links (``default_js`` / ``default_css`` of the Map and the supported plugins), by their
#: path without the scheme and host, mapped to the vendor file that replaces each, relative to
#: ``static/vendor/``. Keying by path keeps CDN host names out of the app; any off-host link is matched. None drops the link: the Bootstrap 3
#: glyphicons sheet and folium's awesome-rotate sheet have no installable package; use ``prefix="fa"`` icons.
FOLIUM_CDN: dict[str, str | None] = {
    "npm/leaflet@1.9.3/dist/leaflet.js": "leaflet/leaflet.js",
    "npm/leaflet@1.9.3/dist/leaflet.css": "leaflet/leaflet.css",
    "jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "ajax/libs/jquery/3.7.1/jquery.min.js": "jquery/jquery.min.js",
    "npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": "bootstrap/js/bootstrap.bundle.min.js",
    "npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    "ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js":
        "leaflet.awesome-markers/leaflet.awesome-markers.js",
    "ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css":
        "leaflet.awesome-markers/leaflet.awesome-markers.css",
    "npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": "fontawesome/css/all.min.css",
    "bootstrap/3.0.0/css/bootstrap-glyphicons.css": None,
    "gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css": None,
    "npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js":
        "leaflet.fullscreen/Control.FullScreen.js",
    "npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css":
        "leaflet.fullscreen/Control.FullScreen.css",
    "gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js":
        "leaflet-measure/leaflet-measure.js",
    "gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css":
        "leaflet-measure/leaflet-measure.css",
    "ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.js":
        "leaflet-minimap/Control.MiniMap.min.js",
    "ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.css":
        "leaflet-minimap/Control.MiniMap.min.css",
    "gh/ardhi/Leaflet.MousePosition/src/L.Control.MousePosition.min.js":
        "leaflet-mouse-position/L.Control.MousePosition.js",
    "gh/ardhi/Leaflet.MousePosition/src/L.Control.MousePosition.min.css":
        "leaflet-mouse-position/L.Control.MousePosition.css",
    "ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js":
        "leaflet.markercluster/leaflet.markercluster.js",
    "ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css":
        "leaflet.markercluster/MarkerCluster.css",
    "ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css":
        "leaflet.markercluster/MarkerCluster.Default.css",
    "gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js":
        "leaflet.heat/leaflet_heat.min.js",
    "ajax/libs/leaflet.draw/1.0.2/leaflet.draw.js": "leaflet-draw/leaflet.draw.js",
    "ajax/libs/leaflet.draw/1.0.2/leaflet.draw.css": "leaflet-draw/leaflet.draw.css",
    "ajax/libs/leaflet-locatecontrol/0.66.2/L.Control.Locate.min.js":
        "leaflet.locatecontrol/L.Control.Locate.min.js",
    "ajax/libs/leaflet-locatecontrol/0.66.2/L.Control.Locate.min.css":
        "leaflet.locatecontrol/L.Control.Locate.min.css",
}


def vendor_url(path: str) -> str:
    """Return the URL the app serves a vendor file at.

    Parameters
    ----------
    path : str
        Path relative to ``static/vendor/``, e.g. ``leaflet/leaflet.js``.

    Returns
    -------
    str
        ``/static/vendor/<path>``.
    """
    return f"{STATIC_URL}/vendor/{path}"


# --- installing ----------------------------------------------------------------------------------


def _stamp_of(asset: Asset) -> dict[str, str]:
    return {"name": asset.name, "package": asset.package, "version": asset.version, "source": asset.source}


def is_installed(asset: Asset) -> bool:
    """Return True if ``asset`` is installed at its pinned version with every file present.

    Parameters
    ----------
    asset : Asset
        A manifest entry.

    Returns
    -------
    bool
        Whether the stamp matches and every listed destination exists.
    """
    stamp = asset.folder / _STAMP
    try:
        if json.loads(stamp.read_text(encoding="utf-8")) != _stamp_of(asset):
            return False
    except (OSError, ValueError):
        return False
    return all((asset.folder / dest.rstrip("/")).exists() for _, dest in asset.files)


def _safe_join(root: Path, rel: str) -> Path:
    target = (root / rel).resolve()
    if root.resolve() not in target.parents and target != root.resolve():
        raise OfflineAssetError(f"refusing to write outside {root}: {rel}")
    return target


def _copy_files(asset: Asset, src_root: Path, dest_root: Path) -> None:
    for src_rel, dest_rel in asset.files:
        src = src_root / src_rel.rstrip("/")
        dest = _safe_join(dest_root, dest_rel.rstrip("/"))
        if not src.exists():
            raise OfflineAssetError(f"{asset.package} {asset.version} has no {src_rel}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest)


def _pypi_root(asset: Asset) -> Path:
    mod = importlib.import_module(asset.module)
    base = getattr(mod, "BASE_DIR", None)
    installed = getattr(mod, "VERSION", None) or getattr(mod, "__version__", None)
    pinned = asset.version.rsplit(".", 1)[0] if asset.package.lower().startswith("xstatic") else asset.version
    if installed and str(installed) != pinned:
        raise OfflineAssetError(f"{asset.package}: installed {installed}, manifest pins {pinned}; run pip install -e .")
    return Path(base) if base else Path(mod.__file__).resolve().parent


def _extract_npm(asset: Asset, tgz: Path, dest_root: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(tgz) as tar:
        wanted = [f"package/{src.rstrip('/')}" for src, _ in asset.files]
        members = [m for m in tar.getmembers()
                   if (m.isfile() or m.isdir()) and any(m.name == w or m.name.startswith(w + "/") for w in wanted)]
        tar.extractall(tmp, members=members, filter="data")
        _copy_files(asset, Path(tmp) / "package", dest_root)


def _npm_pack(specs: list[str], workdir: Path) -> list[Path]:
    npm = shutil.which("npm")
    if npm is None:
        raise OfflineAssetError("npm is not installed; it is needed to fetch " + ", ".join(specs))
    proc = subprocess.run([npm, "pack", "--silent", *specs], cwd=workdir, capture_output=True, text=True,
                          timeout=300, check=False)
    if proc.returncode != 0:
        raise OfflineAssetError(f"npm pack {' '.join(specs)} failed: {proc.stderr.strip()[-500:]}")
    names = [line.strip() for line in proc.stdout.splitlines() if line.strip().endswith(".tgz")]
    if len(names) != len(specs):
        raise OfflineAssetError(f"npm pack returned {names} for {specs}")
    return [workdir / n for n in names]


def install(force: bool = False, progress: Callable[[str], None] | None = None) -> list[str]:
    """Install every manifest asset into ``static/vendor/``; skip those already installed.

    XStatic and folium files are copied from the installed Python packages; npm packages are
    fetched with one ``npm pack`` into a temporary folder and the listed files extracted.
    Nothing is written outside ``static/``: last, every static file worth compressing gets its
    ``.br`` and ``.gz`` sidecars, so no server spends its first requests compressing them.

    Parameters
    ----------
    force : bool, default False
        Reinstall even when an asset's stamp says it is installed.
    progress : callable, optional
        Called with one line of text per asset.

    Returns
    -------
    list of str
        Names of the assets that were (re)installed.
    """
    say = progress or (lambda _msg: None)
    todo = [a for a in MANIFEST if force or not is_installed(a)]
    for a in MANIFEST:
        if a not in todo:
            say(f"ok       {a.name} {a.version}")
    if todo:
        _install(todo, say)
    from app.web._http_cache import write_sidecars

    write_sidecars(STATIC_DIR, say)
    return [a.name for a in todo]


def _install(todo: list[Asset], say: Callable[[str], None]) -> None:
    """Fetch and place the assets of ``todo`` (see :func:`install`)."""
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    npm_assets = [a for a in todo if a.source == "npm"]
    with tempfile.TemporaryDirectory(prefix="gridmap-assets-") as tmp:
        tgzs = _npm_pack([f"{a.package}@{a.version}" for a in npm_assets], Path(tmp)) if npm_assets else []
        by_name = dict(zip((a.name for a in npm_assets), tgzs, strict=True))
        for a in todo:
            staging = Path(tmp) / "stage" / a.name
            staging.mkdir(parents=True)
            if a.source == "pypi":
                _copy_files(a, _pypi_root(a), staging)
            elif a.source == "npm":
                _extract_npm(a, by_name[a.name], staging)
            else:
                raise OfflineAssetError(f"unknown source {a.source!r} for {a.name}")
            (staging / _STAMP).write_text(json.dumps(_stamp_of(a)), encoding="utf-8")
            if a.folder.exists():
                shutil.rmtree(a.folder)
            shutil.move(str(staging), a.folder)
            say(f"install  {a.name} {a.version} ({a.source} {a.package})")


def missing() -> list[str]:
    """Return the names of manifest assets that are not installed."""
    return [a.name for a in MANIFEST if not is_installed(a)]


# --- Folium: every CDN link replaced by a vendor URL ---------------------------------------------


def _local(url: str, drop: frozenset[str]) -> str | None:
    off_host = re.match(r"^(https?:)?//[^/]+/", url)
    if not off_host:
        return url  # already served by the app
    key = url[off_host.end():]
    if key not in FOLIUM_CDN:
        raise OfflineAssetError(
            f"no offline copy of {url}; add its package to MANIFEST and FOLIUM_CDN in app/web/assets.py")
    path = FOLIUM_CDN[key]
    if path is None or path in drop:
        return None
    return vendor_url(path)


def localise(element: Any, drop: Iterable[str] = ()) -> Any:
    """Point every ``default_js`` / ``default_css`` of a Folium element tree at vendor URLs.

    Only the instances in this tree are changed (instance attributes), never Folium's classes,
    so nothing leaks into other maps. Call it after the map is complete and before rendering.

    Parameters
    ----------
    element : branca Element
        A folium Map (or any element); its whole tree, from its root Figure down, is rewritten.
    drop : iterable of str
        Vendor paths (as in :data:`FOLIUM_CDN` values) to leave out, e.g. assets the page's
        layout already loads or that the map does not use.

    Returns
    -------
    Element
        ``element``, for chaining.

    Raises
    ------
    OfflineAssetError
        If an element links a CDN URL that has no offline copy.
    """
    drop_set = frozenset(drop)
    root = element.get_root() if hasattr(element, "get_root") else element
    stack = [root]
    while stack:
        el = stack.pop()
        for attr in ("default_js", "default_css"):
            links = getattr(el, attr, None)
            if links:
                local = [(name, _local(url, drop_set)) for name, url in links]
                setattr(el, attr, [(name, url) for name, url in local if url is not None])
        stack.extend(getattr(el, "_children", {}).values())
    return element


def folium_parts(m: Any, drop: Iterable[str] = ()) -> dict[str, str]:
    """Render a Folium map into the three pieces a page template places.

    Parameters
    ----------
    m : folium.Map
        The map, complete.
    drop : iterable of str
        Passed to :func:`localise`.

    Returns
    -------
    dict
        ``header`` (links and styles for ``<head>``), ``html`` (the map div) and ``script``
        (the JavaScript that builds the map, without ``<script>`` tags).
    """
    localise(m, drop)
    fig = m.get_root()
    fig.render()
    return {"header": fig.header.render(), "html": fig.html.render(), "script": fig.script.render()}


# --- inlining, for standalone exports -------------------------------------------------------------

_FILE_LOCK = threading.Lock()


def static_path(url: str) -> Path:
    """Return the file behind a ``/static/...`` URL (query string ignored).

    Parameters
    ----------
    url : str
        A URL path under ``/static/``.

    Returns
    -------
    Path
        The file inside the static folder.

    Raises
    ------
    OfflineAssetError
        If the URL is not under /static/ or the file does not exist.
    """
    path = url.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith(STATIC_URL + "/"):
        raise OfflineAssetError(f"not a static URL: {url}")
    target = _safe_join(STATIC_DIR, path[len(STATIC_URL) + 1:])
    if not target.is_file():
        raise OfflineAssetError(f"static file missing: {path} (run `gridmap assets install`)")
    return target


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".woff2":
        mime = "font/woff2"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def inline_css(path: Path) -> str:
    """Return a stylesheet with every relative ``url(...)`` embedded as a data URI.

    TrueType fallbacks of web fonts are dropped where a WOFF2 source is given, to keep exports small.

    Parameters
    ----------
    path : Path
        A CSS file inside the static folder.

    Returns
    -------
    str
        The CSS text, self-contained.
    """
    css = path.read_text(encoding="utf-8")
    css = re.sub(r',\s*url\([^)]*\.ttf\)\s*format\(["\']truetype["\']\)', "", css)

    def repl(match: re.Match[str]) -> str:
        ref = match.group(1).strip("'\" ")
        if ref.startswith(("data:", "#")) or re.match(r"^[a-z]+:", ref):
            return match.group(0)
        target = (path.parent / PurePosixPath(ref.split("?")[0].split("#")[0])).resolve()
        if STATIC_DIR.resolve() not in target.parents or not target.is_file():
            return "url()"
        return f'url("{_data_uri(target)}")'

    return re.sub(r"url\(([^)]*)\)", repl, css)


def inline_html(html: str) -> str:
    """Replace every ``/static/`` script and stylesheet link in a page by the file's content.

    Parameters
    ----------
    html : str
        A rendered page.

    Returns
    -------
    str
        The page with scripts and styles embedded, so it works from a file with no server.
    """

    def script(match: re.Match[str]) -> str:
        body = static_path(match.group(1)).read_text(encoding="utf-8").replace("</script", "<\\/script")
        return f"<script>{body}</script>"

    def style(match: re.Match[str]) -> str:
        body = inline_css(static_path(match.group(1))).replace("</style", "<\\/style")
        return f"<style>{body}</style>"

    html = re.sub(r'<script[^>]*\bsrc="(/static/[^"]+)"[^>]*>\s*</script>', script, html)
    html = re.sub(r'<link[^>]*\bhref="(/static/[^"]+\.css[^"]*)"[^>]*>', style, html)
    html = re.sub(r'<link[^>]*\brel="(?:icon|preload)"[^>]*>', "", html)
    return html


# --- gzip ------------------------------------------------------------------------------------------

_COMPRESSIBLE = ("text/", "application/json", "application/geo+json", "application/javascript",
                 "image/svg+xml")
_GZIP_CACHE: dict[tuple[str, str], bytes] = {}
_GZIP_CACHE_MAX = 256


def gzip_bytes(data: bytes, key: str | None = None) -> bytes:
    """Gzip ``data`` (level 6); results with a ``key`` are cached in memory.

    Parameters
    ----------
    data : bytes
        The body.
    key : str, optional
        A cache key that changes whenever ``data`` does (e.g. an ETag).

    Returns
    -------
    bytes
        The compressed body.
    """
    if key is None:
        return gzip.compress(data, compresslevel=6, mtime=0)
    ck = (key, str(len(data)))
    with _FILE_LOCK:
        hit = _GZIP_CACHE.get(ck)
    if hit is None:
        hit = gzip.compress(data, compresslevel=6, mtime=0)
        with _FILE_LOCK:
            if len(_GZIP_CACHE) >= _GZIP_CACHE_MAX:
                _GZIP_CACHE.clear()
            _GZIP_CACHE[ck] = hit
    return hit


def compress_response(response: Any, accept_encoding: str) -> Any:
    """Gzip a Flask response in place when the client accepts it and it is worth it.

    Parameters
    ----------
    response : flask.Response
        The outgoing response.
    accept_encoding : str
        The request's ``Accept-Encoding`` header.

    Returns
    -------
    flask.Response
        The same response, possibly compressed (``Content-Encoding: gzip``, ``Vary: Accept-Encoding``).
    """
    mimetype = response.mimetype or ""
    if not mimetype.startswith(_COMPRESSIBLE) and mimetype not in ("application/javascript",):
        return response
    response.vary.add("Accept-Encoding")
    if ("gzip" not in (accept_encoding or "").lower() or response.status_code != 200
            or response.is_streamed and not response.direct_passthrough
            or "Content-Encoding" in response.headers or "Content-Range" in response.headers):
        return response
    response.direct_passthrough = False
    data = response.get_data()
    if len(data) < 1024:
        return response
    etag = response.headers.get("ETag")
    response.set_data(gzip_bytes(data, key=etag))
    response.headers["Content-Encoding"] = "gzip"
    if etag:  # a different representation needs a different (weak) validator
        response.headers["ETag"] = etag if etag.startswith("W/") else f"W/{etag}"
    return response
