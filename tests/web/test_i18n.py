"""app.web.i18n on its own: t() in both languages, placeholders, the city name, language choice and register()."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, render_template_string

from app.web import i18n
from tests.helpers import MINI, folder_app


@pytest.fixture(scope="module")
def app() -> Flask:
    """The app with default settings on the committed mini city (nothing here changes data)."""
    return folder_app(MINI)


@pytest.fixture
def strings(monkeypatch) -> dict[str, tuple[str, str]]:
    """A private copy of the string table, so that register() in a test leaks nowhere."""
    table = dict(i18n.STRINGS)
    monkeypatch.setattr(i18n, "STRINGS", table)
    return table


# --------------------------------------------------------------------------- t()


@pytest.mark.parametrize(("lang", "text"), [("zh", "地图"), ("en", "Map")])
def test_t_in_each_language(lang, text):
    assert i18n.t("nav.map", lang) == text


def test_t_follows_the_request_language(app):
    with app.test_request_context("/"):
        assert i18n.t("nav.locate") == "定位"
    with app.test_request_context("/?lang=en"):
        assert i18n.t("nav.locate") == "Locate"


def test_placeholders_are_filled():
    assert i18n.t("grid.title", "en", code="620201001001001") == "Grid 620201001001001"
    assert i18n.t("grid.title", "zh", code="X") == "网格 X"
    assert i18n.t("staff.summary", "zh", n=3, l=1, w=1, i=0) == "网格长 1 名、专职网格员 1 名、网格指导员 0 名、兼职网格员 3 名"


def test_without_values_the_text_is_returned_unformatted():
    assert i18n.t("grid.title", "en") == "Grid {code}"


def test_city_comes_from_the_settings(app):
    with app.app_context():
        assert i18n.t("app.name", "zh") == "嘉峪关网格地图"
        assert i18n.t("app.name", "en") == "Jiayuguan Grid Map"
    other = folder_app(MINI, CITY_NAME="兰州", CITY_NAME_EN="Lanzhou")
    with other.app_context():
        assert i18n.t("app.name", "zh") == "兰州网格地图"
        assert i18n.t("app.name", "en") == "Lanzhou Grid Map"
        assert i18n.t("app.name", "en", city="Gansu") == "Gansu Grid Map"  # an explicit value wins


@pytest.mark.parametrize("lang", ["zh", "en", None])
def test_unknown_key_is_returned_as_is(lang):
    assert i18n.t("no.such.key", lang) == "no.such.key"
    assert i18n.t("no.such.key", lang, code="x") == "no.such.key"


def test_every_string_has_both_languages_with_the_same_placeholders():
    for key, (zh, en) in i18n.STRINGS.items():
        assert zh and en, key
        assert set(re.findall(r"{(\w+)}", zh)) == set(re.findall(r"{(\w+)}", en)), key


def test_label_picks_by_language(app):
    assert i18n.label("甲", "A", "en") == "A" and i18n.label("甲", "A", "zh") == "甲"
    with app.test_request_context("/?lang=en"):
        assert i18n.label("甲", "A") == "A"


# --------------------------------------------------------------------------- choosing the language


@pytest.mark.parametrize(("url", "cookie", "expected"), [
    ("/", None, "zh"),
    ("/?lang=en", None, "en"),
    ("/", "en", "en"),
    ("/?lang=zh", "en", "zh"),  # asking wins over the cookie
    ("/?lang=fr", None, "zh"),  # an unsupported language is ignored
    ("/?lang=fr", "en", "en"),
    ("/", "klingon", "zh"),
])
def test_language_from_query_then_cookie_then_default(app, url, cookie, expected):
    headers = {"Cookie": f"{i18n.COOKIE}={cookie}"} if cookie else {}
    with app.test_request_context(url, headers=headers):
        assert i18n.current_lang() == expected


def test_language_setting_is_the_default():
    app = folder_app(MINI, LANGUAGE="en")
    with app.test_request_context("/"):
        assert i18n.current_lang() == "en"
    with app.test_request_context("/?lang=zh"):
        assert i18n.current_lang() == "zh"


def _lang_cookies(response) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{i18n.COOKIE}=")]


def test_an_explicit_choice_is_remembered_in_a_cookie(app):
    c = app.test_client()
    r = c.get("/login?lang=en")
    assert "Sign in" in r.get_data(as_text=True)
    [cookie] = _lang_cookies(r)
    assert cookie.startswith(f"{i18n.COOKIE}=en;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Max-Age=31536000" in cookie
    r = c.get("/login")
    assert "Sign in" in r.get_data(as_text=True) and not _lang_cookies(r)
    assert not _lang_cookies(c.get("/login?lang=en"))  # already remembered
    r = c.get("/login?lang=zh")
    assert "登录" in r.get_data(as_text=True) and _lang_cookies(r)[0].startswith(f"{i18n.COOKIE}=zh;")


def test_lang_url_keeps_the_query(app):
    with app.test_request_context("/locate?q=新华路&lang=zh"):
        url = i18n.lang_url("en")
    parts = urlsplit(url)
    assert parts.path == "/locate"
    assert parse_qs(parts.query) == {"q": ["新华路"], "lang": ["en"]}
    with app.test_request_context("/"):
        assert i18n.lang_url("zh") == "/?lang=zh"


def test_templates_get_the_helpers(app):
    with app.test_request_context("/?lang=en"):
        out = render_template_string("{{ t('nav.map') }}|{{ lang }}|{{ label('甲', 'A') }}|{{ languages|join(',') }}")
    assert out == "Map|en|A|zh,en"


def test_init_app_installs_its_hooks_once(app):
    before = len(app.before_request_funcs[None]), len(app.after_request_funcs[None])
    i18n.init_app(app)
    assert (len(app.before_request_funcs[None]), len(app.after_request_funcs[None])) == before


# --------------------------------------------------------------------------- register()


def test_register_adds_new_strings(strings):
    i18n.register({"test.hello": ("你好，{name}", "Hello, {name}")})
    assert strings["test.hello"] == ("你好，{name}", "Hello, {name}")
    assert i18n.t("test.hello", "en", name="Li") == "Hello, Li"


def test_register_keeps_an_existing_key(strings):
    original = strings["nav.map"]
    i18n.register({"nav.map": ("别的", "Other"), "test.new": ("新", "New")})
    assert strings["nav.map"] == original and i18n.t("nav.map", "en") == "Map"
    assert i18n.t("test.new", "en") == "New"
