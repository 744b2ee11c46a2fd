"""app.web.assets on its own: the manifest, install stamps, a local install, CDN rewriting, inlining and gzip.

Nothing here touches the network: install() runs against a fake Python package and a fake ``npm pack``.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import sys
import tarfile
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

import pytest
from flask import Response

from app.web import assets
from app.web.assets import Asset, OfflineAssetError

# --------------------------------------------------------------------------- the manifest


def _installs(path: str) -> bool:
    """Whether some manifest asset installs the vendor file ``path`` (``<asset>/<file>``)."""
    name, _, rel = path.partition("/")
    asset = assets.ASSETS.get(name)
    return asset is not None and any(rel == dest or (dest.endswith("/") and rel.startswith(dest))
                                     for _, dest in asset.files)


def test_manifest_pins_every_asset_once():
    names = [a.name for a in assets.MANIFEST]
    assert len(names) == len(set(names)) and set(assets.ASSETS) == set(names)
    for a in assets.MANIFEST:
        assert a.version[0].isdigit() and a.licence and a.files, a.name
        assert a.source in ("pypi", "npm"), a.name
        assert (a.source == "pypi") == bool(a.module), a.name
        assert a.folder == assets.VENDOR_DIR / a.name
        for src, dest in a.files:
            for rel in (src, dest):
                p = PurePosixPath(rel)
                assert not p.is_absolute() and ".." not in p.parts, (a.name, rel)
            assert src.endswith("/") == dest.endswith("/"), (a.name, src, dest)


def test_every_cdn_link_maps_to_an_installed_file():
    for url, path in assets.FOLIUM_CDN.items():
        assert not url.startswith(("http:", "https:", "/")), url  # a path: no CDN host in the app
        if path is not None:
            assert _installs(path), (url, path)


def test_vendor_url():
    assert assets.vendor_url("leaflet/leaflet.js") == "/static/vendor/leaflet/leaflet.js"


def test_asset_error_is_a_503_gridmap_error():
    err = OfflineAssetError("missing")
    assert err.status == 503 and err.to_dict()["code"] == "assets" and isinstance(err, RuntimeError)


# --------------------------------------------------------------------------- stamps and install


@pytest.fixture
def vendor(tmp_path, monkeypatch) -> Path:
    """An empty vendor folder in place of app/web/static/vendor/ (its parent in place of app/web/static/)."""
    folder = tmp_path / "vendor"
    monkeypatch.setattr(assets, "VENDOR_DIR", folder)
    monkeypatch.setattr(assets, "STATIC_DIR", tmp_path)
    return folder


@pytest.fixture
def fake_pypi(tmp_path, monkeypatch):
    """A Python package on sys.path shaped like an XStatic one: BASE_DIR with the files, VERSION."""
    name = f"gridmap_fake_xstatic_{tmp_path.name.replace('-', '_')}"
    pkg = tmp_path / "site" / name
    (pkg / "data" / "images").mkdir(parents=True)
    (pkg / "data" / "fake.js").write_text("fake()", encoding="utf-8")
    (pkg / "data" / "images" / "icon.png").write_bytes(b"\x89PNG")
    (pkg / "__init__.py").write_text(
        "from pathlib import Path\nBASE_DIR = Path(__file__).parent / 'data'\nVERSION = '1.2.3'\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield name
    sys.modules.pop(name, None)


def _pypi_asset(module: str, version: str = "1.2.3.0", files=(("fake.js", "fake.js"), ("images/", "img/"))):
    return Asset("fake", "XStatic-Fake", version, "MIT", "pypi", tuple(files), module=module)


def _npm_asset() -> Asset:
    return Asset("npmfake", "npmfake", "0.1.0", "MIT", "npm", (("dist/a.js", "a.js"), ("LICENSE", "LICENSE")))


def _fake_npm_pack(calls: list[list[str]]):
    """A stand-in for ``npm pack``: writes one tarball per spec with the files of _npm_asset() and one more."""

    def pack(specs: list[str], workdir: Path) -> list[Path]:
        calls.append(list(specs))
        out = []
        for spec in specs:
            tgz = workdir / (spec.replace("@", "-") + ".tgz")
            with tarfile.open(tgz, "w:gz") as tar:
                for name, body in (("package/dist/a.js", b"a()"), ("package/LICENSE", b"MIT"),
                                   ("package/unlisted.js", b"no")):
                    info = tarfile.TarInfo(name)
                    info.size = len(body)
                    tar.addfile(info, io.BytesIO(body))
            out.append(tgz)
        return out

    return pack


def test_is_installed_needs_the_matching_stamp_and_every_file(vendor, fake_pypi):
    a = _pypi_asset(fake_pypi)
    assert not assets.is_installed(a)
    a.folder.mkdir(parents=True)
    (a.folder / "fake.js").write_text("x")
    (a.folder / "img").mkdir()
    stamp = a.folder / ".gridmap-asset.json"
    stamp.write_text("not json")
    assert not assets.is_installed(a)
    stamp.write_text(json.dumps({"name": "fake", "package": "XStatic-Fake", "version": "1.2.3.0", "source": "pypi"}))
    assert assets.is_installed(a)
    assert not assets.is_installed(_pypi_asset(fake_pypi, version="1.2.4.0"))  # the pin moved on
    (a.folder / "fake.js").unlink()
    assert not assets.is_installed(a)


def test_install_copies_from_local_packages_then_skips_them(vendor, fake_pypi, monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(assets, "MANIFEST", (_pypi_asset(fake_pypi), _npm_asset()))
    monkeypatch.setattr(assets, "_npm_pack", _fake_npm_pack(calls))
    assert assets.missing() == ["fake", "npmfake"]
    said: list[str] = []
    assert assets.install(progress=said.append) == ["fake", "npmfake"]
    assert calls == [["npmfake@0.1.0"]]
    assert (vendor / "fake" / "fake.js").read_text() == "fake()"
    assert (vendor / "fake" / "img" / "icon.png").read_bytes() == b"\x89PNG"
    assert (vendor / "npmfake" / "a.js").read_bytes() == b"a()" and (vendor / "npmfake" / "LICENSE").exists()
    assert not list(vendor.rglob("unlisted.js"))
    assert assets.missing() == [] and len(said) == 2 and said[0].startswith("install  fake 1.2.3.0")
    said.clear()
    assert assets.install(progress=said.append) == [] and calls == [["npmfake@0.1.0"]]
    assert said == ["ok       fake 1.2.3.0", "ok       npmfake 0.1.0"]
    (vendor / "fake" / "stale.txt").write_text("old")
    assert assets.install(force=True) == ["fake", "npmfake"]
    assert not (vendor / "fake" / "stale.txt").exists()  # a reinstall replaces the folder


def test_install_refuses_a_package_of_another_version(vendor, fake_pypi, monkeypatch):
    monkeypatch.setattr(assets, "MANIFEST", (_pypi_asset(fake_pypi, version="2.0.0.0"),))
    with pytest.raises(OfflineAssetError, match="installed 1.2.3, manifest pins 2.0.0"):
        assets.install()
    assert not (vendor / "fake").exists()


def test_install_refuses_a_file_the_package_lacks(vendor, fake_pypi, monkeypatch):
    monkeypatch.setattr(assets, "MANIFEST", (_pypi_asset(fake_pypi, files=(("nope.js", "nope.js"),)),))
    with pytest.raises(OfflineAssetError, match="XStatic-Fake 1.2.3.0 has no nope.js"):
        assets.install()


def test_install_never_writes_outside_the_asset_folder(vendor, fake_pypi, monkeypatch, tmp_path):
    monkeypatch.setattr(assets, "MANIFEST", (_pypi_asset(fake_pypi, files=(("fake.js", "../../escaped.js"),)),))
    with pytest.raises(OfflineAssetError, match="refusing to write outside"):
        assets.install()
    assert not list(tmp_path.rglob("escaped.js"))


def test_install_without_npm_names_what_it_needed(vendor, monkeypatch):
    monkeypatch.setattr(assets, "MANIFEST", (_npm_asset(),))
    monkeypatch.setattr(assets.shutil, "which", lambda _name: None)
    with pytest.raises(OfflineAssetError, match="npm is not installed.*npmfake@0.1.0"):
        assets.install()


# --------------------------------------------------------------------------- CDN links rewritten


def _element(js=(), css=(), children=()):
    return SimpleNamespace(default_js=list(js), default_css=list(css), _children={str(i): c for i, c in enumerate(children)})


def test_localise_rewrites_the_whole_tree():
    leaflet = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
    glyphs = "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css"
    jquery = "https://code.jquery.com/jquery-3.7.1.min.js"
    child = _element(js=[("jquery", jquery)], css=[("glyphs", glyphs)])
    root = _element(js=[("leaflet", leaflet), ("own", "/static/gridmap/map.js")], children=[child])
    assert assets.localise(root) is root
    assert root.default_js == [("leaflet", "/static/vendor/leaflet/leaflet.js"), ("own", "/static/gridmap/map.js")]
    assert child.default_js == [("jquery", "/static/vendor/jquery/jquery.min.js")]
    assert child.default_css == []  # no offline copy is wanted for it: the link is dropped


def test_localise_drops_what_the_page_already_loads():
    root = _element(js=[("jquery", "https://code.jquery.com/jquery-3.7.1.min.js")])
    assets.localise(root, drop=["jquery/jquery.min.js"])
    assert root.default_js == []


@pytest.mark.parametrize("url", ["https://unpkg.com/leaflet@1.9.3/dist/leaflet.js", "//cdn.example.com/x.js"])
def test_an_unknown_cdn_link_raises(url):
    with pytest.raises(OfflineAssetError, match="no offline copy of"):
        assets.localise(_element(js=[("x", url)]))


def test_folium_parts_of_a_real_map_load_nothing_from_a_cdn():
    import folium

    parts = assets.folium_parts(folium.Map(tiles=None))
    assert set(parts) == {"header", "html", "script"}
    assert "/static/vendor/leaflet/leaflet.js" in parts["header"]
    assert "https://" not in parts["header"] and "<script>" not in parts["script"]
    assert folium.Map.default_js[0][1].startswith("https://"), "folium's own class is left alone"


def test_localise_rewrites_real_folium_plugins_and_refuses_a_foreign_element():
    import folium
    from folium import plugins

    m = folium.Map(tiles=None)
    plugins.Fullscreen().add_to(m)
    plugins.MarkerCluster().add_to(m)
    assets.localise(m)
    html = m.get_root().render()
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html and "/static/vendor/leaflet/leaflet.js" in html
    assert folium.Map.default_js[0][1].startswith("https://"), "folium's own classes are left alone"

    class Foreign(folium.MacroElement):
        default_js = [("x", "https://example.com/x.js")]

    m2 = folium.Map(tiles=None)
    Foreign().add_to(m2)
    with pytest.raises(OfflineAssetError, match="example.com"):
        assets.localise(m2)


# --------------------------------------------------------------------------- inlining


@pytest.fixture
def static(tmp_path, monkeypatch) -> Path:
    """A static folder in place of app/web/static/ with a script, a stylesheet and its image."""
    root = tmp_path / "static"
    (root / "css" / "img").mkdir(parents=True)
    (root / "a.js").write_text("if (a </script> b) {}", encoding="utf-8")
    (root / "css" / "img" / "dot.png").write_bytes(b"\x89PNG-dot")
    (root / "css" / "a.css").write_text(
        ".a{background:url(img/dot.png)} .b{background:url('missing.png')} .c{background:url(data:x)}"
        " .d{background:url(https://example.com/x.png)} .e{background:url(../../../secret.png)}"
        " @font-face{src:url(f.woff2) format('woff2'), url(f.ttf) format('truetype')}", encoding="utf-8")
    (tmp_path / "secret.png").write_bytes(b"secret")
    monkeypatch.setattr(assets, "STATIC_DIR", root)
    return root


def test_static_path(static):
    assert assets.static_path("/static/a.js?v=3#x") == (static / "a.js").resolve()
    with pytest.raises(OfflineAssetError, match="not a static URL"):
        assets.static_path("/other/a.js")
    with pytest.raises(OfflineAssetError, match="static file missing"):
        assets.static_path("/static/b.js")
    with pytest.raises(OfflineAssetError, match="refusing"):
        assets.static_path("/static/../secret.png")


def test_real_static_files_resolve():
    assert assets.static_path("/static/gridmap/app.css").is_file()


def test_inline_css_embeds_local_images_only(static):
    css = assets.inline_css(static / "css" / "a.css")
    dot = base64.b64encode(b"\x89PNG-dot").decode()
    assert f'.a{{background:url("data:image/png;base64,{dot}")}}' in css
    assert ".b{background:url()}" in css and ".e{background:url()}" in css  # missing, or outside static/
    assert "url(data:x)" in css and "url(https://example.com/x.png)" in css
    assert "truetype" not in css and "f.ttf" not in css


def test_inline_html_embeds_scripts_and_styles(static):
    html = ('<head><link rel="stylesheet" href="/static/css/a.css?v=1"><link rel="icon" href="/static/i.svg">'
            '</head><script src="/static/a.js"></script><script src="https://example.com/x.js"></script>')
    out = assets.inline_html(html)
    assert "<script>if (a <\\/script> b) {}</script>" in out
    assert "<style>" in out and "data:image/png;base64," in out and 'rel="icon"' not in out
    assert '<script src="https://example.com/x.js"></script>' in out  # only /static/ links are inlined


def test_inline_html_fails_on_a_missing_file(static):
    with pytest.raises(OfflineAssetError, match="static file missing"):
        assets.inline_html('<script src="/static/gone.js"></script>')


# --------------------------------------------------------------------------- gzip


def test_gzip_bytes_is_deterministic_and_cached():
    data = b"gridmap " * 500
    assert gzip.decompress(assets.gzip_bytes(data)) == data
    assert assets.gzip_bytes(data) == assets.gzip_bytes(data)  # no timestamp in the header
    first = assets.gzip_bytes(data, key='"etag-test-1"')
    assert assets.gzip_bytes(data, key='"etag-test-1"') is first


def _response(body: bytes, mimetype: str = "text/html", **headers) -> Response:
    return Response(body, mimetype=mimetype, headers=headers)


def test_compress_response_gzips_large_text():
    body = b"<p>grid</p>" * 200
    r = assets.compress_response(_response(body, ETag='"v1"'), "gzip, deflate")
    assert r.headers["Content-Encoding"] == "gzip" and gzip.decompress(r.get_data()) == body
    assert "Accept-Encoding" in r.vary and r.headers["ETag"] == 'W/"v1"'


@pytest.mark.parametrize(("body", "mimetype", "accept"), [
    (b"small", "text/html", "gzip"),  # not worth it
    (b"x" * 5000, "image/png", "gzip"),  # not compressible
    (b"x" * 5000, "text/html", "identity"),  # the client does not take gzip
])
def test_compress_response_leaves_others_alone(body, mimetype, accept):
    r = assets.compress_response(_response(body, mimetype), accept)
    assert "Content-Encoding" not in r.headers and r.get_data() == body


def test_compress_response_keeps_an_encoded_body():
    r = assets.compress_response(_response(b"x" * 5000, **{"Content-Encoding": "br"}), "gzip")
    assert r.headers["Content-Encoding"] == "br" and r.get_data() == b"x" * 5000
