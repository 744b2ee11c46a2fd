"""UI language: Simplified Chinese by default, English on request (?lang=en, remembered in a cookie)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from app.errors import GridmapError
from app.geo.city import title_name
from app.geo.schema import METRIC_CRS

#: Supported UI languages, default first.
LANGUAGES: tuple[str, ...] = ("zh", "en")
#: Cookie that remembers the chosen language.
COOKIE = "gridmap_lang"
#: Where a request keeps its language once chosen (in its WSGI environ).
_ENVIRON_KEY = "gridmap.lang"

#: UI strings: key -> (Simplified Chinese, English). Other modules add theirs with :func:`register`.
STRINGS: dict[str, tuple[str, str]] = {
    "app.name": ("{city}网格地图", "{city} Grid Map"),
    "app.tagline": ("网格化治理一张图", "Community-governance grids on one map"),
    "nav.map": ("地图", "Map"),
    "nav.locate": ("定位", "Locate"),
    "nav.coverage": ("覆盖分析", "Coverage"),
    "nav.export": ("导出地图", "Export map"),
    "nav.language": ("语言", "Language"),
    "nav.menu": ("菜单", "Menu"),
    "nav.panel": ("设置与结果", "Settings and results"),
    "lang.zh": ("中文", "中文"),
    "lang.en": ("English", "English"),
    "layer.divisions": ("街道/镇", "Sub-districts & towns"),
    "layer.committees": ("社区/村", "Communities & villages"),
    "layer.grids": ("网格", "Grids"),
    "layer.basemap_none": ("空白底图", "Blank basemap"),
    "layer.buffer": ("500 米范围", "500 m zone"),
    "layer.neighbours": ("相邻网格", "Neighbouring grids"),
    "layer.facilities_inside": ("范围内设施", "Facilities inside"),
    "layer.facilities_near": ("500 米内设施", "Facilities within 500 m"),
    "legend.title": ("图例", "Legend"),
    "legend.attribute": ("分级显示", "Colour by"),
    "search.placeholder": ("搜索网格编码、网格或社区名称…", "Search grid code, grid or community…"),
    "search.notfound": ("未找到", "Not found"),
    "field.code": ("编码", "Code"),
    "field.name": ("名称", "Name"),
    "field.kind": ("类型", "Type"),
    "field.committee": ("社区/村", "Community/village"),
    "field.division": ("街道/镇", "Sub-district/town"),
    "field.population": ("人口", "Population"),
    "field.households": ("户数", "Households"),
    "field.area": ("面积", "Area"),
    "field.density": ("人口密度", "Population density"),
    "field.staff": ("网格力量", "Grid staff"),
    "field.facilities": ("设施", "Facilities"),
    "field.category": ("类别", "Category"),
    "field.subtype": ("细类", "Subtype"),
    "field.capacity": ("车位", "Spaces"),
    "field.distance": ("距离", "Distance"),
    "field.grid": ("所在网格", "Grid"),
    "field.grids": ("网格数", "Grids"),
    "field.location": ("位置", "Location"),
    "field.cjt214": ("部件编码 (CJ/T 214)", "Component code (CJ/T 214)"),
    "unit.people": ("人", "people"),
    "unit.households": ("户", "households"),
    "unit.km2": ("km²", "km²"),
    "unit.density": ("人/km²", "people/km²"),
    "unit.m": ("米", "m"),
    "staff.summary": ("网格长 {l} 名、专职网格员 {w} 名、网格指导员 {i} 名、兼职网格员 {n} 名",
                      "grid leaders {l}, full-time workers {w}, instructors {i}, part-time workers {n}"),
    "staff.hidden": ("姓名与联系方式仅对登录用户可见", "Names and contacts are shown to signed-in staff only"),
    "staff.leader": ("网格长", "Grid leader"),
    "staff.worker": ("专职网格员", "Full-time grid worker"),
    "staff.instructor": ("网格指导员", "Grid instructor"),
    "kind.subdistrict": ("街道", "Sub-district"),
    "kind.town": ("镇", "Town"),
    "kind.community": ("社区", "Community"),
    "kind.village": ("村", "Village"),
    "grid.title": ("网格 {code}", "Grid {code}"),
    "grid.details": ("查看网格详情", "Grid details"),
    "grid.attributes": ("基本信息", "Attributes"),
    "grid.neighbours": ("相邻网格", "Neighbouring grids"),
    "grid.facilities": ("设施（范围内及 500 米内）", "Facilities inside and within 500 m"),
    "grid.inside": ("范围内", "Inside"),
    "grid.none": ("无", "None"),
    "committee.title": ("{name}", "{name}"),
    "committee.details": ("查看社区/村详情", "Community details"),
    "committee.grids": ("所辖网格", "Grids"),
    "committee.neighbours": ("相邻社区/村", "Neighbouring communities"),
    "notfound.title": ("未找到", "Not found"),
    "error.title": ("请求未能完成", "The request could not be done"),
    "notfound.grid": ("没有编码为 {code} 的网格。", "There is no grid with code {code}."),
    "notfound.committee": ("没有编码为 {code} 的社区/村。", "There is no community or village with code {code}."),
    "notfound.page": ("页面不存在。", "This page does not exist."),
    "error.http": ("请求未能完成（HTTP {status}）。", "The request could not be done (HTTP {status})."),
    "notfound.back": ("返回地图", "Back to the map"),
    "basemap.none": ("无底图（离线）", "No basemap (offline)"),
    "basemap.osm": ("OpenStreetMap", "OpenStreetMap"),
    "basemap.tianditu": ("天地图", "Tianditu"),
    "basemap.amap": ("高德地图", "AMap"),
    "basemap.nokey": ("未配置天地图密钥（GRIDMAP_TIANDITU_KEY），已改用空白底图。",
                      "No Tianditu key (GRIDMAP_TIANDITU_KEY) is set; showing a blank basemap."),
    "map.loading": ("正在加载地图数据…", "Loading map data…"),
    "map.loadfailed": ("地图数据加载失败", "Map data failed to load"),
    "map.minimap": ("鹰眼图", "Overview"),
    "map.fullscreen": ("全屏", "Full screen"),
    "map.fullscreen_exit": ("退出全屏", "Exit full screen"),
    "map.measure_on": ("开始测距", "Measure distance"),
    "map.measure_off": ("结束测距", "Stop measuring"),
    "map.measure_clear": ("清除测量", "Clear measurements"),
    "map.measure_finish": ("单击：<b>结束测线</b><br>", "Click to <b>finish line</b><br>"),
    "map.measure_delete": ("按住 Shift 单击：<b>删除点</b>", "Press SHIFT-key and click to <b>delete point</b>"),
    "map.measure_move": ("单击并拖动：<b>移动点</b><br>", "Click and drag to <b>move point</b><br>"),
    "map.measure_resume": ("<br>按住 Ctrl 单击：<b>继续测线</b>", "<br>Press CTRL-key and click to <b>resume line</b>"),
    "map.measure_add": ("单击并拖动：<b>添加点</b>", "Click and drag to <b>add point</b>"),
    "export.note": ("离线地图导出于 {date}，数据版本 {version}", "Offline map exported {date}, data version {version}"),
    "footer.data": ("数据版本", "Data version"),
}


def register(strings: dict[str, tuple[str, str]]) -> None:
    """Add UI strings (key -> (zh, en)); existing keys are kept, so registration order does not matter.

    Parameters
    ----------
    strings : dict
        New strings.
    """
    for key, pair in strings.items():
        STRINGS.setdefault(key, pair)


def current_lang() -> str:
    """Return the language of the current request (``zh`` or ``en``), chosen on first use and kept in its environ.

    An answer that never shows text (most JSON API answers) never pays for the choice.
    """
    environ = request.environ  # per request (an app context, and so g, may outlive several test requests)
    lang = environ.get(_ENVIRON_KEY)
    if lang is None:
        lang = environ[_ENVIRON_KEY] = _choose()
    return lang


def _choose() -> str:
    asked = request.args.get("lang", "")
    if asked in LANGUAGES:
        return asked
    cookie = request.cookies.get(COOKIE, "")
    if cookie in LANGUAGES:
        return cookie
    return current_app.config["LANGUAGE"]


def t(key: str, lang: str | None = None, **fmt: Any) -> str:
    """Translate a UI string key, formatting ``{placeholders}`` with ``fmt``.

    Parameters
    ----------
    key : str
        A key of :data:`STRINGS`; an unknown key is returned as is.
    lang : str, optional
        ``zh`` or ``en``; the current request's language by default.
    **fmt
        Values for placeholders; ``{city}`` is filled with :func:`city_name`.

    Returns
    -------
    str
        The text (not escaped: Jinja autoescaping applies in templates).
    """
    pair = STRINGS.get(key)
    if pair is None:
        return key
    lang = lang or current_lang()
    text = pair[1] if lang == "en" else pair[0]
    if "{city}" in text and "city" not in fmt:
        fmt = {"city": city_name(lang), **fmt}
    return text.format(**fmt) if fmt else text


def _metadata() -> dict[str, Any]:
    """The current data version's metadata; empty when there is none or the store cannot be read."""
    data = current_app.extensions.get("gridmap.data")
    if data is None:
        return {}
    try:
        return data.current().metadata
    except GridmapError:  # the error page of an unreadable store still needs its title
        return {}


def city_name(lang: str | None = None) -> str:
    """Return the city name titles show.

    Parameters
    ----------
    lang : str, optional
        ``zh`` or ``en``; the current request's language by default.

    Returns
    -------
    str
        The CITY_NAME (CITY_NAME_EN) setting when set, else the stored city's short name (English
        name), else the metadata's ``name``, else ``gridmap`` (see :func:`app.geo.city.title_name`).
    """
    lang = lang or current_lang()
    override = current_app.config.get("CITY_NAME_EN" if lang == "en" else "CITY_NAME") or ""
    return override.strip() or title_name(_metadata(), lang)


def metric_crs() -> str:
    """Return the current data's metric CRS (``EPSG:4542`` for Jiayuguan), for hints and placeholders."""
    data = current_app.extensions.get("gridmap.data")
    try:
        return data.current().metric_crs if data is not None else METRIC_CRS
    except GridmapError:
        return METRIC_CRS


def label(zh: str, en: str, lang: str | None = None) -> str:
    """Pick the Chinese or English of a pair by language.

    Parameters
    ----------
    zh, en : str
        The two texts.
    lang : str, optional
        The language; the current request's by default.

    Returns
    -------
    str
        ``en`` for English, else ``zh``.
    """
    return en if (lang or current_lang()) == "en" else zh


def lang_url(lang: str) -> str:
    """Return the current URL with ``lang`` set, for the language switch.

    Parameters
    ----------
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    str
        Path and query string.
    """
    args = request.args.to_dict(flat=True)
    args["lang"] = lang
    return request.path + "?" + urlencode(args)


def init_app(app: Flask) -> None:
    """Choose the language per request, remember an explicit choice, and expose ``t`` to templates.

    Parameters
    ----------
    app : Flask
        The application.
    """
    if app.extensions.get("gridmap.i18n"):
        return
    app.extensions["gridmap.i18n"] = True

    @app.after_request
    def _remember_language(response: Response) -> Response:
        query = request.query_string
        if b"lang" not in query and b"%" not in query:  # no choice made: nothing to remember (most requests)
            return response
        asked = request.args.get("lang", "")
        if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
            response.set_cookie(COOKIE, asked, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
        return response

    @app.context_processor
    def _template_helpers() -> dict[str, Any]:
        return {"t": t, "lang": current_lang(), "label": label, "languages": LANGUAGES, "lang_url": lang_url,
                "city_name": city_name, "metric_crs": metric_crs}
