"""Map pages: the home map, a page per grid and per committee, the layer payload and the offline export."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

import folium
import numpy as np
import shapely
from flask import Blueprint, Response, current_app, render_template, request, url_for
from folium import plugins
from folium.elements import JSCSSMixin
from folium.template import Template
from markupsafe import escape
from shapely.geometry import mapping

from app.geo import mapdata
from app.geo.dataset import Dataset
from app.geo.schema import CATEGORIES, SUBTYPES
from app.web import assets, dataset, i18n
from app.web.errors import error_page
from app.web.i18n import t

bp = Blueprint("maps", __name__)

#: Basemaps selectable with GRIDMAP_BASEMAP.
BASEMAPS = ("none", "local", "osm", "tianditu", "amap")
#: Vendor files the page layout (base.html) already loads: left out of Folium's header.
_LAYOUT_ASSETS = ("bootstrap/css/bootstrap.min.css", "fontawesome/css/all.min.css")
#: Folium defaults our maps do not use (jQuery, Bootstrap JS, awesome markers): not loaded at all.
_UNUSED_ASSETS = ("jquery/jquery.min.js", "bootstrap/js/bootstrap.bundle.min.js",
                  "leaflet.awesome-markers/leaflet.awesome-markers.js",
                  "leaflet.awesome-markers/leaflet.awesome-markers.css")


def show_personal() -> bool:
    """Return whether the current user may see personal fields (staff names and phones): signed-in staff only."""
    check = current_app.extensions.get("gridmap.can_see_personal")
    return bool(check and check())


@bp.record_once
def _setup(state: Any) -> None:
    app = state.app
    i18n.init_app(app)

    @app.after_request
    def _compress(response: Response) -> Response:
        length = response.headers.get("Content-Length")
        if (length is not None and len(length) < 4 and response.mimetype == "application/json"
                and not response.direct_passthrough):  # a small JSON answer (most API calls): never compressed
            if response.headers.get("Vary") is None:  # what compress_response would add, without parsing headers
                response.headers["Vary"] = "Accept-Encoding"
            else:
                response.vary.add("Accept-Encoding")
            return response
        if request.path.startswith("/static/") and response.status_code == 200:
            response.cache_control.public = True
            response.cache_control.max_age = 86400
        return assets.compress_response(response, request.headers.get("Accept-Encoding", ""))


# --- basemaps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Basemap:
    """A configured basemap: its tile layers, the datum its tiles use, and a notice if it fell back."""

    key: str
    datum: str = "wgs84"
    tiles: tuple[dict[str, Any], ...] = ()
    notice: str = ""
    overlays: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def basemap() -> Basemap:
    """Return the basemap chosen by the GRIDMAP_BASEMAP setting (``none`` when unknown or unusable)."""
    key = current_app.config["BASEMAP"]
    if key == "osm":
        return Basemap("osm", tiles=({
            "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "name": t("basemap.osm"), "max_zoom": 19,
            "attr": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
            "subdomains": "abc"},))
    if key == "tianditu":
        tk = current_app.config["TIANDITU_KEY"]
        if not tk:
            return Basemap("none", notice=t("basemap.nokey"))
        wmts = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
                "&TILECOL={x}&tk=" + quote(str(tk), safe=""))
        attr = '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a> 国家地理信息公共服务平台'
        return Basemap(
            "tianditu",
            tiles=({"url": wmts.replace("{layer}", "vec"), "name": t("basemap.tianditu"), "attr": attr,
                    "subdomains": "01234567", "max_zoom": 18},),
            overlays=({"url": wmts.replace("{layer}", "cva"), "name": "cva", "attr": attr,
                       "subdomains": "01234567", "max_zoom": 18},))
    if key == "local":  # the BASEMAP_FILE, served by the app (app/web/basemap.py)
        from app.web.basemap import tile_spec

        return Basemap("local", tiles=(tile_spec(),))
    if key == "amap":
        return Basemap("amap", datum="gcj02", tiles=({
            "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            "name": t("basemap.amap"), "subdomains": "1234", "max_zoom": 18,
            "attr": '&copy; <a href="https://www.amap.com/">高德地图</a> AutoNavi'},))
    return Basemap("none")


def _add_tiles(m: folium.Map, bm: Basemap) -> list[folium.TileLayer]:
    layers = []
    for spec in bm.tiles:
        layer = folium.TileLayer(tiles=spec["url"], attr=spec["attr"], name=spec["name"],
                                 subdomains=spec["subdomains"], max_zoom=spec["max_zoom"], overlay=False,
                                 **spec.get("options", {}))
        layer.add_to(m)
        layers.append(layer)
    for spec in bm.overlays:
        folium.TileLayer(tiles=spec["url"], attr=spec["attr"], name=spec["name"], subdomains=spec["subdomains"],
                         max_zoom=spec["max_zoom"], overlay=True, control=False).add_to(m)
    return layers


# --- shared helpers ------------------------------------------------------------------------------


def _script_json(obj: Any) -> str:
    """JSON that is safe inside an inline <script>."""
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _static_version() -> str:
    h = hashlib.sha256()
    for name in ("gridmap/map.js", "gridmap/map-live.js", "gridmap/app.css"):
        p = assets.STATIC_DIR / name
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()[:10]


def _own_url(name: str) -> str:
    return f"/static/{name}?v={_static_version()}"


def _categories(lang: str) -> dict[str, dict[str, str]]:
    return {k: {"label": c.en if lang == "en" else c.zh, "icon": c.icon, "color": c.color}
            for k, c in CATEGORIES.items()}


def _client_config(lang: str, attr: str, data_url: str, bm: Basemap,
                   live: dict[str, Any] | None = None) -> dict[str, Any]:
    def s(key: str, **fmt: Any) -> str:
        return t(key, lang=lang, **fmt)

    minimap = None
    if bm.tiles:
        spec = bm.tiles[0]
        minimap = {"url": spec["url"], "options": {"subdomains": spec["subdomains"], "attribution": ""}}
    return {
        "lang": lang,
        "attr": attr,
        "dataUrl": data_url,
        "gridUrl": "/grids/",
        "committeeUrl": "/committees/",
        "collapseLayers": False,
        # served pages: tiles, road layer, grid records and search (None in the standalone export)
        "live": live,
        "minimapTiles": minimap,
        "attributes": {k: {"label": a.en if lang == "en" else a.zh, "unit": a.unit_en if lang == "en" else a.unit_zh}
                       for k, a in mapdata.ATTRIBUTES.items()},
        "categories": _categories(lang),
        "subtypes": {c: {k: (v[1] if lang == "en" else v[0]) for k, v in subs.items()} for c, subs in SUBTYPES.items()},
        "kinds": {k: s(f"kind.{k}") for k in ("community", "village", "subdistrict", "town")},
        "strings": {
            "staffSummary": s("staff.summary"), "staffHidden": s("staff.hidden"), "leader": s("staff.leader"),
            "worker": s("staff.worker"), "instructor": s("staff.instructor"), "committee": s("field.committee"),
            "division": s("field.division"), "population": s("field.population"), "people": s("unit.people"),
            "households": s("field.households"), "householdsUnit": s("unit.households"), "area": s("field.area"),
            "density": s("field.density"), "densityUnit": s("unit.density"), "staff": s("field.staff"),
            "facilities": s("field.facilities"), "none": s("grid.none"), "gridDetails": s("grid.details"),
            "committeeDetails": s("committee.details"),
            "category": s("field.category"), "capacity": s("field.capacity"), "grid": s("field.grid"),
            "legend": s("legend.title"), "colourBy": s("legend.attribute"),
            "searchPlaceholder": s("search.placeholder"), "notFound": s("search.notfound"),
            "minimapHide": s("map.minimap") + " −", "minimapShow": s("map.minimap"),
            "layerDivisions": s("layer.divisions"), "layerCommittees": s("layer.committees"),
            "layerGrids": s("layer.grids"), "loadFailed": s("map.loadfailed"), "layerRoads": s("layer.roads"),
            "searchEverything": s("search.everything"), "searchEmpty": s("search.empty"),
            "kindLabels": {k: s(f"search.kind.{k}") for k in ("grid", "committee", "division", "facility", "address")},
        },
    }


class _HomeLayers(JSCSSMixin):
    """Folium element that loads the gridmap client and builds the data layers from the payload."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        gridmap.home({{ this._parent.get_name() }}, {{ this.cfg_json }}, {
            {%- for label, layer in this.base %}{{ label }}: {{ layer.get_name() }},{% endfor -%}
        });
        {% endmacro %}
    """)

    def __init__(self, cfg: dict[str, Any], base: list[folium.TileLayer]) -> None:
        super().__init__()
        self._name = "GridmapLayers"
        self.cfg_json = _script_json(cfg)
        self.base = [(_script_json(layer.layer_name), layer) for layer in base]
        v = assets.vendor_url
        self.default_js = [
            ("markerclusterjs", v("leaflet.markercluster/leaflet.markercluster.js")),
            ("Control_MiniMap_js", v("leaflet-minimap/Control.MiniMap.min.js")),
            *([("vectorgrid_js", v("leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"))] if cfg.get("live") else []),
            ("gridmap_map_js", _own_url("gridmap/map.js")),
            ("gridmap_map_live_js", _own_url("gridmap/map-live.js")),
        ]
        self.default_css = [
            ("markerclustercss", v("leaflet.markercluster/MarkerCluster.css")),
            ("Control_MiniMap_css", v("leaflet-minimap/Control.MiniMap.min.css")),
        ]


class _Tools(JSCSSMixin):
    """Metric scale bar and the distance tool (Leaflet.PolylineMeasure: works under the strict CSP, unlike
    leaflet-measure, which compiles templates with ``new Function``)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {% if this.measure %}L.control.polylineMeasure({{ this.options_json }}).addTo({{ this._parent.get_name() }});{% endif %}
        L.control.scale({imperial: false, maxWidth: 140}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, lang: str, measure: bool = True) -> None:
        super().__init__()
        self._name = "Tools"
        self.measure = measure
        self.options_json = _script_json({
            "position": "topleft", "unit": "metres", "showBearings": False, "clearMeasurementsOnStop": False,
            "showClearControl": True, "showUnitControl": False,
            "measureControlTitleOn": t("map.measure_on", lang=lang),
            "measureControlTitleOff": t("map.measure_off", lang=lang),
            "clearControlTitle": t("map.measure_clear", lang=lang),
            "tooltipTextFinish": t("map.measure_finish", lang=lang),
            "tooltipTextDelete": t("map.measure_delete", lang=lang),
            "tooltipTextMove": t("map.measure_move", lang=lang),
            "tooltipTextResume": t("map.measure_resume", lang=lang),
            "tooltipTextAdd": t("map.measure_add", lang=lang),
        })
        self.default_js = [("polylinemeasure_js", assets.vendor_url("leaflet.polylinemeasure/Leaflet.PolylineMeasure.js"))]
        self.default_css = [("polylinemeasure_css",
                             assets.vendor_url("leaflet.polylinemeasure/Leaflet.PolylineMeasure.css"))]


def _base_map(bounds: tuple[float, float, float, float], bm: Basemap, lang: str,
              measure: bool = True) -> tuple[folium.Map, list[folium.TileLayer]]:
    minx, miny, maxx, maxy = bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=12, tiles=None,
                   control_scale=False, max_zoom=19)
    base = _add_tiles(m, bm)
    plugins.Fullscreen(position="topleft", title=t("map.fullscreen", lang=lang),
                       title_cancel=t("map.fullscreen_exit", lang=lang), force_separate_button=True).add_to(m)
    _Tools(lang, measure).add_to(m)
    plugins.MousePosition(position="bottomright", separator=", ", num_digits=6, lng_first=True,
                          prefix="WGS84" if bm.datum == "wgs84" else "GCJ-02", empty_string="").add_to(m)
    return m, base


def home_data_url(ds: Dataset, bm: Basemap) -> str:
    """The URL of the home map's payload for this version and basemap: the tiled one or the whole one."""
    endpoint = "maps.tiled_data" if tiled(ds) else "maps.layer_data"
    return url_for(endpoint, version=ds.version, datum=bm.datum)


def tiled(ds: Dataset) -> bool:
    """Return whether the home map draws this version's polygons as vector tiles (VECTOR_TILES_MIN_GRIDS)."""
    return len(ds.layer("grids")) >= int(current_app.config["VECTOR_TILES_MIN_GRIDS"])


def _live(ds: Dataset, bm: Basemap) -> dict[str, Any]:
    """What the served home map fetches besides its payload: tiles, road labels, grid records, search."""
    from app.geo import tiles

    layers = set(ds.store.layer_names())
    return {
        "tiled": tiled(ds),
        "tileUrl": f"/tiles/{quote(ds.version, safe='')}/{bm.datum}/{{layer}}/{{z}}/{{x}}/{{y}}.pbf",
        **tiles.tile_info(ds),
        "roads": "roads" in layers and len(ds.layer("roads")) > 0,
        "roadLabelsUrl": f"/map/roads/{quote(ds.version, safe='')}.{bm.datum}.json",
        "gridRecordUrl": f"/map/grid/{quote(ds.version, safe='')}/",
        "searchUrl": f"/api/v1/search?datum={bm.datum}",
        # the choropleth's classes, so that tiled grids are drawn before the payload arrives
        "classes": mapdata.classes(ds) if tiled(ds) else None,
    }


def _home_parts(lang: str, attr: str, bm: Basemap, data_url: str, live: bool = True) -> dict[str, str]:
    """Render (once per data version, language, attribute and basemap) the Folium skeleton of the home map."""
    ds = dataset()
    key = f"maps.home.{lang}.{attr}.{bm.key}.{data_url}.{int(live)}"

    def build() -> dict[str, str]:
        grids = ds.layer("grids")
        box = shapely.box(*grids.total_bounds)
        bounds = mapdata.shift_geometries(np.asarray([box]), bm.datum)[0].bounds
        m, base = _base_map(bounds, bm, lang)
        _HomeLayers(_client_config(lang, attr, data_url, bm, _live(ds, bm) if live else None), base).add_to(m)
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
        return assets.folium_parts(m, drop=_LAYOUT_ASSETS + _UNUSED_ASSETS)

    return ds.cached(key, build)


@dataclass(frozen=True)
class _HomeRequest:
    """What the home map and its export are drawn from: the attribute, the data, the basemap and the language."""

    attr: str
    ds: Dataset
    bm: Basemap
    lang: str


def _home_request() -> _HomeRequest | None:
    """Read the home map's request; None when ``attr`` names no known attribute."""
    attr = request.args.get("attr", "population")
    if attr not in mapdata.ATTRIBUTES:
        return None
    return _HomeRequest(attr, dataset(), basemap(), i18n.current_lang())


def _bad_attr_page() -> tuple[str, int]:
    return error_page(400, f"unknown attribute {request.args.get('attr')!r}; expected one of "
                            + ", ".join(mapdata.ATTRIBUTES))


def _html(body: str, status: int = 200) -> Response:
    resp = Response(body, status=status, mimetype="text/html")
    resp.set_etag(hashlib.sha256(body.encode("utf-8")).hexdigest()[:20])
    resp.cache_control.no_cache = True
    return resp.make_conditional(request)


# --- views ---------------------------------------------------------------------------------------


@bp.get("/")
def home() -> Any:
    """The main map: grids as a choropleth, boundaries, facilities by category, with every control."""
    req = _home_request()
    if req is None:
        return _bad_attr_page()
    attr, ds, bm, lang = req.attr, req.ds, req.bm, req.lang
    data_url = home_data_url(ds, bm)
    parts = _home_parts(lang, attr, bm, data_url)
    body = render_template("maps/home.html", parts=parts, data_url=data_url, notice=bm.notice,
                           export_url=url_for("maps.export_map", attr=attr, lang=lang))
    return _html(body)


@bp.get("/map/data/<version>.<datum>.json")
def layer_data(version: str, datum: str) -> Any:
    """The compact layer payload of the home map (immutable per data version; ETag + gzip)."""
    if datum not in mapdata.DATUMS:
        return error_page(404, f"unknown datum {datum!r}")
    ds = dataset()
    body, etag = mapdata.payload_bytes(ds, datum, show_personal())
    resp = Response(body, mimetype="application/json")
    resp.set_etag(etag)
    if version == ds.version:
        resp.cache_control.public = True
        resp.cache_control.max_age = 31536000
        resp.cache_control.immutable = True
    else:  # an old version's URL: answer with the current data, but do not let it be cached
        resp.cache_control.no_cache = True
    return resp.make_conditional(request)


@bp.get("/map/tiled/<version>.<datum>.json")
def tiled_data(version: str, datum: str) -> Any:
    """The small payload of the tiled home map: tables, facilities and classes, no polygons (immutable per version)."""
    if datum not in mapdata.DATUMS:
        return error_page(404, f"unknown datum {datum!r}")
    ds = dataset()
    body, etag = mapdata.tiled_payload_bytes(ds, datum)
    resp = Response(body, mimetype="application/json")
    resp.set_etag(etag)
    if version == ds.version:
        resp.cache_control.public = True
        resp.cache_control.max_age = 31536000
        resp.cache_control.immutable = True
    else:
        resp.cache_control.no_cache = True
    return resp.make_conditional(request)


def _fac_marker(f: dict[str, Any], lang: str, datum: str, faded: bool) -> folium.Marker:
    cat = CATEGORIES.get(f["category"])
    color, icon = (cat.color, cat.icon) if cat else ("#555", "location-dot")
    label = (cat.en if lang == "en" else cat.zh) if cat else f["category"]
    sub = mapdata.subtype_label(f["category"], f.get("subtype"), lang)
    lon, lat = f["lon"], f["lat"]
    if datum == "gcj02":
        from app.geo.crs import wgs84_to_gcj02

        lon, lat = wgs84_to_gcj02(lon, lat)
    dist = t("grid.inside", lang=lang) if f["inside"] else f"{f['distance_m']:.0f} {t('unit.m', lang=lang)}"
    popup = (f'<div class="gm-popup"><div class="gm-popup-title">{escape(f["name"])}</div><table>'
             f'<tr><th>{escape(t("field.category", lang=lang))}</th><td>{escape(label)}'
             f'{" · " + str(escape(sub)) if sub else ""}</td></tr>'
             + (f'<tr><th>{escape(t("field.capacity", lang=lang))}</th><td>{f["capacity"]}</td></tr>'
                if f.get("capacity") is not None else "")
             + f'<tr><th>{escape(t("field.distance", lang=lang))}</th><td>{escape(dist)}</td></tr></table></div>')
    return folium.Marker(
        location=[lat, lon],
        icon=folium.DivIcon(html=f'<span style="background:{color}"><i class="fa-solid fa-{icon}"></i></span>',
                            class_name="gm-fac-icon" + (" gm-faded" if faded else ""),
                            icon_size=(24, 24), icon_anchor=(12, 12)),
        tooltip=folium.Tooltip(str(escape(f["name"]))),
        popup=folium.Popup(popup, max_width=300),
    )


def _shift(geom: Any, datum: str) -> Any:
    return mapdata.shift_geometries(np.asarray([geom]), datum)[0]


def _detail_parts(detail: dict[str, Any], lang: str, main_label: str, members: list[dict[str, Any]],
                  member_url: str, neighbour_url: str) -> dict[str, str]:
    bm = basemap()
    buffer = _shift(detail["buffer"], bm.datum)
    m, _base = _base_map(buffer.bounds, bm, lang, measure=False)
    folium.GeoJson(mapping(buffer), name=t("layer.buffer", lang=lang), control=True,
                   style_function=lambda _f: {"color": "#b5302a", "weight": 1.5, "dashArray": "6 5",
                                              "fillOpacity": 0.03}, interactive=False).add_to(m)
    nb_group = folium.FeatureGroup(name=t("layer.neighbours", lang=lang) if member_url == neighbour_url
                                   else t("committee.neighbours", lang=lang))
    for nb in detail["neighbours"]:
        html = (f'<div class="gm-popup"><div class="gm-popup-title">{escape(nb.get("name", ""))} '
                f'<span class="gm-code">{escape(nb["code"])}</span></div>'
                f'<a class="gm-popup-link" href="{neighbour_url}{escape(nb["code"])}">{escape(t("grid.details", lang=lang))}</a></div>')
        folium.GeoJson(mapping(_shift(nb["geometry"], bm.datum)),
                       style_function=lambda _f: {"color": "#51606f", "weight": 1, "fillColor": "#cfd8e3",
                                                  "fillOpacity": 0.35},
                       tooltip=folium.Tooltip(f'{escape(nb["code"])} {escape(nb.get("name", ""))}'),
                       popup=folium.Popup(html, max_width=280)).add_to(nb_group)
    nb_group.add_to(m)
    main = folium.FeatureGroup(name=str(escape(main_label)))  # the layer control inserts names as HTML
    folium.GeoJson(mapping(_shift(detail["geometry"], bm.datum)),
                   style_function=lambda _f: {"color": "#1d3557", "weight": 3, "fillColor": "#f99d59",
                                              "fillOpacity": 0.35}, interactive=False).add_to(main)
    for g in members:
        folium.GeoJson(mapping(_shift(g["geometry"], bm.datum)),
                       style_function=lambda _f: {"color": "#1d3557", "weight": 1, "fillOpacity": 0.0},
                       tooltip=folium.Tooltip(f'{escape(g["code"])} {escape(g.get("name", ""))}'),
                       popup=folium.Popup(f'<a href="{member_url}{escape(g["code"])}">{escape(g.get("name", ""))}</a>',
                                          max_width=240)).add_to(main)
    main.add_to(m)
    inside = folium.FeatureGroup(name=t("layer.facilities_inside", lang=lang))
    near = folium.FeatureGroup(name=t("layer.facilities_near", lang=lang))
    for f in detail["facilities"]:
        _fac_marker(f, lang, bm.datum, faded=not f["inside"]).add_to(inside if f["inside"] else near)
    inside.add_to(m)
    near.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    b = buffer.bounds
    m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    # folium's popups are built with jQuery, so detail maps keep it
    return assets.folium_parts(m, drop=_LAYOUT_ASSETS + tuple(a for a in _UNUSED_ASSETS if "jquery" not in a))


def _facility_rows(detail: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    rows = []
    for f in detail["facilities"]:
        cat = CATEGORIES.get(f["category"])
        rows.append(f | {"label": (cat.en if lang == "en" else cat.zh) if cat else f["category"],
                         "color": cat.color if cat else "#555", "icon": cat.icon if cat else "location-dot",
                         "subtype_label": mapdata.subtype_label(f["category"], f.get("subtype"), lang)})
    return rows


#: Longest code a page is looked up for (codes are free strings under any city's scheme).
_MAX_CODE = 64


@bp.get("/grids/<code>")
def grid_page(code: str) -> Any:
    """One grid: its own map, attribute table, neighbouring grids and facilities inside and within 500 m."""
    lang = i18n.current_lang()
    ds = dataset()
    detail = mapdata.grid_detail(ds, code, show_personal=show_personal()) if len(code) <= _MAX_CODE else None
    if detail is None:
        return error_page(404, t("notfound.grid", code=code))
    rec = detail["record"]
    parts = ds.cached(f"maps.grid.{code}.{lang}.{basemap().key}",
                    lambda: _detail_parts(detail, lang, str(rec.get("name", code)), [], "/grids/", "/grids/"))
    body = render_template("maps/grid.html", d=detail, rec=rec, parts=parts, facilities=_facility_rows(detail, lang),
                           personal=show_personal())
    return _html(body)


@bp.get("/committees/<code>")
def committee_page(code: str) -> Any:
    """One residents' or village committee: its map, totals, its grids, neighbours and nearby facilities."""
    lang = i18n.current_lang()
    ds = dataset()
    detail = mapdata.committee_detail(ds, code) if len(code) <= _MAX_CODE else None
    if detail is None:
        return error_page(404, t("notfound.committee", code=code))
    rec = detail["record"]
    parts = ds.cached(f"maps.committee.{code}.{lang}.{basemap().key}",
                    lambda: _detail_parts(detail, lang, str(rec.get("name", code)), detail["grids"], "/grids/",
                                          "/committees/"))
    body = render_template("maps/committee.html", d=detail, rec=rec, parts=parts,
                           facilities=_facility_rows(detail, lang))
    return _html(body)


@bp.get("/export/map.html")
def export_map() -> Any:
    """The current home map as one standalone HTML file: assets and data inlined, works with no server."""
    req = _home_request()
    if req is None:
        return _bad_attr_page()
    attr, ds, bm, lang = req.attr, req.ds, req.bm, req.lang

    def build() -> bytes:
        parts = _home_parts(lang, attr, bm, "", live=False)
        body, _etag = mapdata.payload_bytes(ds, bm.datum, show_personal=False)  # exports never carry personal data
        data_js = body.decode("utf-8").replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        html = render_template("maps/export.html", parts=parts, data_js=data_js, version=ds.version,
                               today=date.today().isoformat())
        return assets.inline_html(html).encode("utf-8")

    body = ds.cached(f"maps.export.{lang}.{attr}.{bm.key}", build)
    resp = Response(body, mimetype="text/html")
    resp.headers["Content-Disposition"] = f'attachment; filename="gridmap-{ds.version}-{attr}.html"'
    resp.set_etag(hashlib.sha256(body).hexdigest()[:20])
    return resp.make_conditional(request)
