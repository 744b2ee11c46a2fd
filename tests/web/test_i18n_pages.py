"""Every page in Chinese and English: no untranslated i18n keys, and no English-only sentences on Chinese pages."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.web import i18n
from tests import helpers

#: Pages anyone can open (path, expected status).
PUBLIC = [
    ("/", 200), ("/locate", 200), ("/coverage", 200), ("/login", 200),
    ("/ogcapi/?f=html", 200), ("/ogcapi/collections?f=html", 200), ("/ogcapi/collections/grids?f=html", 200),
    ("/no-such-page", 404), ("/grids/NO-SUCH-GRID", 404), ("/committees/NO-SUCH", 404),
    ("/ogcapi/collections/no-such?f=html", 404),
]
#: Pages of a signed-in administrator.
ADMIN = [("/admin", 200), ("/admin/audit", 200), ("/admin/users", 200), ("/admin/rollback", None)]

#: Text that is the same in both languages: names, standards, formats, the language switch.
ALLOWED_ENGLISH = re.compile(
    r"OpenStreetMap|Leaflet|OGC API|GeoJSON|GeoPackage|Shapefile|English|EPSG|WGS84|CGCS2000|GCJ-02|BD-09"
    r"|Gauss-Kruger|CSV|XLSX|JSON|HTML|PDF|OpenAPI|Features|CJ/T|GB \d+", re.I)
_CJK = re.compile(r"[\u3400-\u9fff]")
_SENTENCE = re.compile(r"[A-Za-z]{2,}(?:[ ,;:'’-]+[A-Za-z]{2,}){2,}")


class _Text(HTMLParser):
    """The visible text and the user-facing attributes of a page (scripts and styles left out)."""

    ATTRS = ("title", "placeholder", "aria-label", "alt", "value", "data-config")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        hidden = tag == "input" and ("type", "hidden") in attrs  # e.g. a CSRF token: never shown
        for name, value in attrs:
            if name in self.ATTRS and value and not hidden:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def _texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.parts


def _key_pattern() -> re.Pattern[str]:
    prefixes = sorted({k.split(".", 1)[0] for k in i18n.STRINGS}, key=len, reverse=True)
    return re.compile(r"(?<![\w/.@-])(?:" + "|".join(map(re.escape, prefixes)) + r")\.[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*"
                      r"(?![\w/-])")


_FILE = re.compile(r"\.(?:js|css|png|svg|json|geojson|html|csv|xlsx|gpkg|zip|pdf)$")


def untranslated(texts: list[str]) -> list[str]:
    """The i18n keys (``admin.title``, ``layer.grids``) that appear as text."""
    pattern = _key_pattern()
    return sorted({m for t in texts for m in pattern.findall(t) if not _FILE.search(m)})


def _strings(value: object) -> list[str]:
    """The strings inside a JSON value, URLs left out."""
    if isinstance(value, str):
        return [] if value.startswith(("/", "http")) else [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def english_only(texts: list[str]) -> list[str]:
    """Texts (and the strings of JSON attributes such as data-config) of three or more English words and no Chinese."""
    found = []
    expanded = []
    for t in texts:
        if t.startswith(("{", "[")):
            try:
                expanded += _strings(json.loads(t))
                continue
            except ValueError:
                pass
        expanded.append(t)
    for t in expanded:
        if _CJK.search(t):
            continue
        rest = ALLOWED_ENGLISH.sub(" ", t)
        if _SENTENCE.search(rest):
            found.append(t[:120])
    return found


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory: pytest.TempPathFactory) -> tuple[Flask, FlaskClient, FlaskClient, str, str]:
    """The demo-sized mini city on a versioned store, an anonymous client and an admin's, a grid and a committee."""
    from app.geo import users

    users.set_hash_cost(1, 1024)
    try:
        app = helpers.make_app(tmp_path_factory.mktemp("i18n"), RATELIMIT_ENABLED=False)
        admin = app.test_client()
        r = helpers.login(admin, "admin")
        assert r.status_code in (200, 302), r.get_data(as_text=True)[:500]
    finally:
        users.set_hash_cost()
    with app.app_context():
        from app.web import dataset

        ds = dataset()
        grid, committee = str(ds.grids["code"].iloc[0]), str(ds.layer("committees")["code"].iloc[0])
    return app, app.test_client(), admin, grid, committee


def _pages(grid: str, committee: str) -> list[tuple[str, int | None, bool]]:
    pages = [(p, s, False) for p, s in PUBLIC] + [(p, s, True) for p, s in ADMIN]
    return pages + [(f"/grids/{grid}", 200, False), (f"/committees/{committee}", 200, False)]


def _get(client: FlaskClient, path: str, lang: str):
    sep = "&" if "?" in path else "?"
    return client.get(f"{path}{sep}lang={lang}", headers={"Accept": "text/html"})


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_page_shows_an_i18n_key(signed_in, lang: str) -> None:
    _, anon, admin, grid, committee = signed_in
    problems = {}
    for path, status, needs_admin in _pages(grid, committee):
        r = _get(admin if needs_admin else anon, path, lang)
        if status is not None:
            assert r.status_code == status, (path, r.status_code)
        assert r.mimetype == "text/html", (path, r.mimetype)
        keys = untranslated(_texts(r.get_data(as_text=True)))
        if keys:
            problems[path] = keys
    assert problems == {}


def test_chinese_pages_have_no_english_only_sentences(signed_in) -> None:
    _, anon, admin, grid, committee = signed_in
    problems = {}
    for path, _status, needs_admin in _pages(grid, committee):
        r = _get(admin if needs_admin else anon, path, "zh")
        found = english_only(_texts(r.get_data(as_text=True)))
        if found:
            problems[path] = found
    assert problems == {}


def test_the_scanners_catch_what_they_look_for() -> None:
    assert untranslated(["admin.title", "见 layer.grids 图层", "/static/gridmap/locate.js", "locate.js"]) == [
        "admin.title", "layer.grids"]
    assert english_only(["The request could not be done", "网格 Grid", "OpenStreetMap", "WGS84 / GPS (EPSG:4326)"]) == [
        "The request could not be done"]
    token = '<input type="hidden" name="csrf_token" value="ZZxCtyM-KxDYbaHCnuVKrLLmvmOZ-YPgrC5NnruWDBA">'
    assert english_only(_texts(token + '<input value="Send it now">')) == ["Send it now"]


def test_error_pages_translate_core_refusals(signed_in) -> None:
    app, anon, *_ = signed_in
    r = anon.get("/ogcapi/collections/no-such?f=html&lang=zh", headers={"Accept": "text/html"})
    text = " ".join(_texts(r.get_data(as_text=True)))
    assert r.status_code == 404 and _CJK.search(text)
