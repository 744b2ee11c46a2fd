"""OGC API – Features under /ogcapi: landing page, conformance, OpenAPI, collections and items in JSON, GeoJSON and HTML."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, render_template, request, url_for

from app.errors import GridmapError
from app.geo import audit, features, users
from app.web import auth, dataset, i18n
from app.web.errors import ApiError, error_page

bp = Blueprint("ogcapi", __name__, url_prefix="/ogcapi")

#: Conformance classes this service implements (each is tested in tests/web/test_ogcapi*.py).
CONFORMANCE: tuple[str, ...] = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/sorting",
)
CRS84 = features.CRS84
JSON, GEOJSON, HTML = "application/json", "application/geo+json", "text/html"
OAS30 = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA = "application/schema+json"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
REL_SORTABLES = "http://www.opengis.net/def/rel/ogc/1.0/sortables"
REL_CONFORMANCE = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
REL_DATA = "http://www.opengis.net/def/rel/ogc/1.0/data"
#: Most features one page returns; a larger ``limit`` is answered with this many (Part 1: not an error).
MAX_LIMIT = features.MAX_LIMIT
DEFAULT_LIMIT = features.DEFAULT_LIMIT
#: Query parameters of /items that are not property filters.
ITEM_PARAMS = frozenset({"f", "lang", "limit", "offset", "bbox", "bbox-crs", "crs", "sortby", "datetime"})
#: Seconds a verified HTTP Basic name and password is remembered (argon2 is slow on purpose).
BASIC_CACHE_SECONDS = 300

i18n.register({
    "ogc.title": ("OGC API – Features 数据服务", "OGC API – Features service"),
    "ogc.intro": ("QGIS、ArcGIS Pro、GDAL/OGR 与 FME 可直接读取本服务的区划、网格、设施、地址和覆盖分析结果。",
                  "QGIS, ArcGIS Pro, GDAL/OGR and FME read divisions, grids, facilities, addresses and coverage "
                  "results straight from this service."),
    "ogc.connect": ("在 QGIS 中：图层 → 添加图层 → 添加 WFS / OGC API – Features 图层，新建连接，URL 填写：",
                    "In QGIS: Layer → Add Layer → Add WFS / OGC API – Features Layer, new connection, URL:"),
    "ogc.auth_hint": ("工作人员可用 HTTP Basic 认证（同一账户）查看网格员联系方式；匿名访问只含公开字段。",
                      "Staff see grid workers' contacts with HTTP Basic authentication (the same accounts); "
                      "anonymous requests get public fields only."),
    "ogc.collections": ("数据集", "Collections"),
    "ogc.collection": ("数据集", "Collection"),
    "ogc.conformance": ("符合性类别", "Conformance classes"),
    "ogc.api": ("API 定义（OpenAPI 3.0）", "API definition (OpenAPI 3.0)"),
    "ogc.items": ("要素", "Features"),
    "ogc.item": ("要素 {id}", "Feature {id}"),
    "ogc.queryables": ("可查询属性", "Queryables"),
    "ogc.sortables": ("可排序属性", "Sortables"),
    "ogc.extent": ("范围", "Extent"),
    "ogc.crs": ("坐标参考系", "Coordinate reference systems"),
    "ogc.count": ("共 {matched} 个，本页 {returned} 个（第 {first}–{last} 个）",
                  "{matched} in all, {returned} on this page ({first}–{last})"),
    "ogc.prev": ("上一页", "Previous"),
    "ogc.next": ("下一页", "Next"),
    "ogc.property": ("属性", "Property"),
    "ogc.type": ("类型", "Type"),
    "ogc.value": ("值", "Value"),
    "ogc.json": ("JSON", "JSON"),
    "ogc.no_map": ("地图仅以 CRS84 显示；本页坐标为 {crs}。", "The map shows CRS84 only; this page's coordinates are in {crs}."),
    "ogc.path": ("路径", "Path"),
    "ogc.summary": ("说明", "Summary"),
    "ogc.basic_failed": ("HTTP Basic 认证失败：用户名或密码错误", "HTTP Basic authentication failed: wrong user name or password"),
})


# --------------------------------------------------------------------------- negotiation and responses


def _format(json_type: str = JSON) -> str:
    """The media type to answer: ``f=json|html`` first, then the Accept header (JSON when it names none)."""
    f = request.args.get("f")
    if f is not None:
        f = f.strip().lower()
        if f in ("json", "geojson", "jsonfg"):
            return json_type
        if f == "html":
            return HTML
        raise ApiError(f"unknown f={f!r}; expected json or html", 400, key="features.f")
    accepted = request.accept_mimetypes
    if not accepted:
        return json_type
    best = accepted.best_match([json_type, JSON, GEOJSON, SCHEMA, OAS30, HTML], default=json_type)
    return HTML if best == HTML else json_type


def _wants_html() -> bool:
    """True when an error of this request should be a page: ``f=html`` or a browser's Accept."""
    f = (request.args.get("f") or "").strip().lower()
    if f:
        return f == "html"
    best = request.accept_mimetypes.best_match([JSON, GEOJSON, HTML], default=JSON)
    return best == HTML


def _personal() -> bool:
    """Whether this request may see personal fields: a staff session or staff HTTP Basic credentials."""
    return auth.can_see_personal()


def _etag(ds_version: str, fmt: str, personal: bool) -> str:
    """A validator per data version and representation (URL, host, language, format, personal or not)."""
    variant = "|".join([request.host_url, request.full_path, fmt, i18n.current_lang(), str(personal)])
    digest = hashlib.sha256(variant.encode("utf-8")).hexdigest()[:16]
    safe = "".join(c for c in ds_version if c.isalnum() or c in "-_.:")
    return f"{safe}-{digest}"


def _not_modified(etag: str) -> bool:
    """True when If-None-Match names ``etag`` (weak or strong, gzip's ``W/`` included)."""
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/").strip('"') for t in header.split(",")}
    return etag in tags


def _finish(resp: Response, etag: str, personal: bool, crs: str | None = None) -> Response:
    """Add the version validator, caching rules and Content-Crs to an answer."""
    resp.headers["ETag"] = f'"{etag}"'
    resp.headers["Cache-Control"] = "private, no-cache" if personal else "no-cache"
    resp.vary.update(("Accept", "Authorization", "Cookie"))
    if crs is not None:
        resp.headers["Content-Crs"] = f"<{crs}>"
    return resp


def _answer(build: Callable[[], Any], *, json_type: str = JSON, template: str | None = None,
            crs: Callable[[], str | None] | None = None,
            context: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Response:
    """Answer a GET: 304 for a known version, else JSON (or the template for HTML) with the validators.

    ``build()`` returns the JSON document; for HTML it is passed to ``template`` as ``doc``, with
    ``context(doc)``'s names.
    """
    ds = dataset()
    fmt = _format(json_type)
    personal = _personal()
    etag = _etag(ds.version, fmt, personal)
    content_crs = crs() if crs else None
    if _not_modified(etag):
        return _finish(Response(status=304), etag, personal, content_crs)
    doc = build()
    if fmt == HTML and template:
        body = render_template(template, doc=doc, json_url=_self_url(f="json"), data_version=ds.version,
                               personal=personal, **(context(doc) if context else {}))
        resp = Response(body, mimetype=HTML)
    else:
        resp = Response(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), mimetype=json_type)
    return _finish(resp, etag, personal, content_crs)


def _self_url(**override: Any) -> str:
    """This request's absolute URL with some query parameters replaced (None removes one)."""
    args = request.args.to_dict(flat=False)
    for key, value in override.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = [str(value)]
    base = url_for(str(request.endpoint), **(request.view_args or {}), _external=True)
    return f"{base}?{urlencode(args, doseq=True)}" if args else base


def _link(href: str, rel: str, type_: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": type_, "title": title}


def _self_links(json_type: str = JSON) -> list[dict[str, str]]:
    """``self`` and ``alternate`` of this resource: the format asked for is ``self``."""
    fmt = _format(json_type)
    as_json = _link(_self_url(f="json"), "self" if fmt != HTML else "alternate", json_type, "this document as JSON")
    as_html = _link(_self_url(f="html"), "self" if fmt == HTML else "alternate", HTML, "this document as HTML")
    return [as_json, as_html]


def _version_link(version: str) -> dict[str, str]:
    return _link(url_for("admin.api_versions", _external=True), "version-history", JSON,
                 f"data version {version} (the list of versions needs the admin role)")


# --------------------------------------------------------------------------- HTTP Basic for desktop clients


_basic_cache: dict[str, tuple[float, int]] = {}
_basic_lock = threading.Lock()


def _basic_key(db: object, name: str, password: str) -> str:
    """A keyed digest of the credentials of one accounts database (the password itself is never kept)."""
    secret = str(current_app.config.get("SECRET_KEY") or "").encode()
    return hmac.new(secret, f"{db}\0{name}\0{password}".encode(), hashlib.sha256).hexdigest()


def _basic_user() -> users.User | None:
    """The account of valid HTTP Basic credentials, checked under the same lock-out rule as the sign-in form.

    A verified pair is remembered for :data:`BASIC_CACHE_SECONDS` while the account's session
    generation is unchanged (a new password, role or sign-out ends it); failures are never remembered.

    Raises
    ------
    ApiError
        401 for a wrong name or password, 429 while the name is locked.
    """
    creds = request.authorization
    if creds is None or (creds.type or "").lower() != "basic":
        return None
    name, password = (creds.username or "").strip()[:64], creds.password or ""
    db = auth.db_file()
    key = _basic_key(db, name, password)
    now = time.monotonic()
    with _basic_lock:
        hit = _basic_cache.get(key)
    if hit is not None and hit[0] > now:
        user = users.get_user(db, name)
        if user is not None and user.generation == hit[1]:
            return user
    cfg = current_app.config
    attempt = users.sign_in(db, name, password, attempts=cfg["LOCKOUT_ATTEMPTS"], seconds=cfg["LOCKOUT_SECONDS"])
    if attempt.user is None:
        with _basic_lock:
            _basic_cache.pop(key, None)
        if attempt.locked_seconds:
            audit.record(db, name or "(empty)", "sign_in_locked", ip=auth.client_ip(),
                         detail={"failures": attempt.failures, "seconds": attempt.locked_seconds, "via": "basic"})
            raise ApiError(i18n.t("auth.locked", attempts=cfg["LOCKOUT_ATTEMPTS"],
                                  wait=auth._wait_text(attempt.locked_seconds)), 429, key="auth.locked",
                           retry_after=attempt.locked_seconds)
        audit.record(db, name or "(empty)", "sign_in_failed", ip=auth.client_ip(),
                     detail={"failures": attempt.failures, "via": "basic"})
        raise ApiError(i18n.t("ogc.basic_failed"), 401, key="auth.basic")
    user = attempt.user
    audit.record(db, user.name, "sign_in", detail={"role": user.role, "via": "basic"}, ip=auth.client_ip())
    with _basic_lock:
        if len(_basic_cache) > 1024:
            _basic_cache.clear()
        _basic_cache[key] = (now + BASIC_CACHE_SECONDS, user.generation)
    return user


@bp.before_request
def _authenticate() -> None:
    """Take HTTP Basic credentials as the request's account (for QGIS, ArcGIS Pro, GDAL); a session works too."""
    user = _basic_user()
    if user is not None:
        g.gm_user = user


@bp.errorhandler(GridmapError)
def _error(err: GridmapError) -> Any:
    """Refusals as JSON for clients (``f=json``, ``application/geo+json``) and as the error page for browsers.

    The app-wide handler decides by ``/api/`` and ``application/json`` only, which would send GDAL (Accept:
    ``application/geo+json``) an HTML page; the body and status are the same as there.
    """
    headers: dict[str, str] = {}
    if err.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="gridmap", charset="UTF-8"'
    if err.status == 429 and "retry_after" in err.detail:
        headers["Retry-After"] = str(err.detail["retry_after"])
    if _wants_html():
        body, status = error_page(err.status, err.message)
        return body, status, headers
    return Response(json.dumps(err.to_dict(), ensure_ascii=False), err.status, headers, mimetype=JSON)


# --------------------------------------------------------------------------- documents


def _collection_links(cid: str) -> list[dict[str, str]]:
    def url(endpoint: str, **kw: Any) -> str:
        return url_for(endpoint, cid=cid, _external=True, **kw)

    return [
        _link(url("ogcapi.collection_page", f="json"), "self", JSON, "this collection"),
        _link(url("ogcapi.collection_page", f="html"), "alternate", HTML, "this collection as HTML"),
        _link(url("ogcapi.items", f="json"), "items", GEOJSON, "the features as GeoJSON"),
        _link(url("ogcapi.items", f="html"), "items", HTML, "the features as HTML"),
        _link(url("ogcapi.queryables", f="json"), REL_QUERYABLES, SCHEMA, "queryable properties"),
        _link(url("ogcapi.sortables", f="json"), REL_SORTABLES, SCHEMA, "sortable properties"),
    ]


def _collection_doc(raw: dict[str, Any], crs_list: list[str]) -> dict[str, Any]:
    """A collection of the core with its links and the Part 2 ``crs`` and ``storageCrs``."""
    doc = dict(raw)
    doc.setdefault("itemType", "feature")
    doc.setdefault("crs", crs_list)
    doc.setdefault("storageCrs", CRS84)
    doc["links"] = _collection_links(doc["id"])
    return doc


def _crs_list() -> list[str]:
    return list(features.SUPPORTED_CRS(dataset()))


def _landing() -> dict[str, Any]:
    ds = dataset()
    ext = {"_external": True}
    return {
        "title": f"{i18n.city_name()} · {i18n.t('ogc.title')}",
        "description": i18n.t("ogc.intro"),
        "dataVersion": ds.version,
        "links": [
            *_self_links(),
            _link(url_for("ogcapi.api", f="json", **ext), "service-desc", OAS30, "the API definition (OpenAPI 3.0)"),
            _link(url_for("ogcapi.api", f="html", **ext), "service-doc", HTML, "the API documentation"),
            _link(url_for("ogcapi.conformance", f="json", **ext), "conformance", JSON, "conformance classes"),
            _link(url_for("ogcapi.conformance", f="json", **ext), REL_CONFORMANCE, JSON, "conformance classes"),
            _link(url_for("ogcapi.collections", f="json", **ext), "data", JSON, "the collections"),
            _link(url_for("ogcapi.collections", f="json", **ext), REL_DATA, JSON, "the collections"),
            _version_link(ds.version),
        ],
    }


@bp.get("/", strict_slashes=False)
def landing() -> Response:
    """The landing page: links to the API definition, the conformance classes and the collections."""
    return _answer(_landing, template="ogcapi/landing.html")


@bp.get("/conformance")
def conformance() -> Response:
    """The conformance classes the service implements."""
    return _answer(lambda: {"conformsTo": list(CONFORMANCE), "links": _self_links()},
                   template="ogcapi/conformance.html")


@bp.get("/api")
def api() -> Response:
    """The OpenAPI 3.0 definition of /ogcapi (HTML: a list of its paths)."""
    return _answer(lambda: openapi_document(dataset(), _personal()), json_type=OAS30, template="ogcapi/api.html")


@bp.get("/collections")
def collections() -> Response:
    """Every collection with its extent, CRS list and links."""

    def build() -> dict[str, Any]:
        crs_list = _crs_list()
        cols = features.collections(dataset(), personal=_personal(), lang=i18n.current_lang())
        return {"links": _self_links(), "crs": crs_list, "dataVersion": dataset().version,
                "collections": [_collection_doc(c, crs_list) for c in cols]}

    return _answer(build, template="ogcapi/collections.html")


@bp.get("/collections/<cid>")
def collection_page(cid: str) -> Response:
    """One collection's description."""

    def build() -> dict[str, Any]:
        doc = _collection_doc(features.collection(dataset(), cid, personal=_personal(), lang=i18n.current_lang()),
                              _crs_list())
        doc["dataVersion"] = dataset().version
        return doc

    return _answer(build, template="ogcapi/collection.html")


def _schema_doc(cid: str, endpoint: str, title_key: str) -> dict[str, Any]:
    schema = dict(features.queryables(dataset(), cid, personal=_personal(), lang=i18n.current_lang()))
    schema["$id"] = url_for(endpoint, cid=cid, _external=True)
    schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
    schema.setdefault("type", "object")
    schema.setdefault("title", f"{cid} · {i18n.t(title_key)}")
    schema["links"] = [*_self_links(SCHEMA), _link(url_for("ogcapi.collection_page", cid=cid, f="json",
                                                           _external=True), "collection", JSON, "the collection")]
    return schema


@bp.get("/collections/<cid>/queryables")
def queryables(cid: str) -> Response:
    """The properties a request may filter on (``?name=value``), as a JSON Schema."""
    return _answer(lambda: _schema_doc(cid, "ogcapi.queryables", "ogc.queryables"), json_type=SCHEMA,
                   template="ogcapi/queryables.html")


@bp.get("/collections/<cid>/sortables")
def sortables(cid: str) -> Response:
    """The properties ``sortby`` accepts (the queryables), as a JSON Schema."""
    return _answer(lambda: _schema_doc(cid, "ogcapi.sortables", "ogc.sortables"), json_type=SCHEMA,
                   template="ogcapi/queryables.html")


#: Parameters of other OGC parts this service does not implement: refused rather than silently ignored.
UNSUPPORTED_PARAMS = ("filter", "filter-lang", "filter-crs", "properties", "skipGeometry")


def _items_args() -> dict[str, Any]:
    """The core's query arguments from the query string; any other parameter is a property filter."""
    for name in UNSUPPORTED_PARAMS:
        if name in request.args:
            raise ApiError(f"{name} is not supported here; filter with ?property=value (see the queryables)", 400,
                           key="features.unsupported")
    filters: dict[str, str] = {}
    for key in request.args:
        if key in ITEM_PARAMS:
            continue
        values = request.args.getlist(key)
        if len(values) > 1:
            raise ApiError(f"give {key} once, not {len(values)} times", 400, key="features.filter")
        filters[key] = values[0]
    arg = request.args.get
    return {"limit": arg("limit"), "offset": arg("offset"), "bbox": arg("bbox") or None,
            "bbox_crs": arg("bbox-crs") or None, "crs": arg("crs") or None, "filters": filters or None,
            "sortby": arg("sortby") or None, "datetime": arg("datetime") or None}


def _content_crs() -> str:
    """The canonical URI of the ``crs`` parameter (400 listing the supported ones when it is not one)."""
    return features.normalise_crs(request.args.get("crs"), _crs_list(), "crs")


def _items_doc(cid: str) -> dict[str, Any]:
    ds = dataset()
    page = features.query(ds, cid, personal=_personal(), **_items_args())
    fmt = _format(GEOJSON)
    links = [*_self_links(GEOJSON),
             _link(url_for("ogcapi.collection_page", cid=cid, f="json", _external=True), "collection", JSON,
                   "the collection")]
    if page.next_offset is not None:
        links.append(_link(_self_url(offset=page.next_offset, limit=page.limit), "next", fmt, "next page"))
    if page.prev_offset is not None:
        links.append(_link(_self_url(offset=page.prev_offset or None, limit=page.limit), "prev", fmt,
                           "previous page"))
    links.append(_version_link(ds.version))
    return {"type": "FeatureCollection", "features": page.features, "numberMatched": page.number_matched,
            "numberReturned": page.number_returned,
            "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "dataVersion": ds.version, "links": links}


def _html_context(cid: str, **extra: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What an items or item page needs besides the document: the collection, the CRS and Leaflet."""
    from app.web.assets import vendor_url

    def context(doc: dict[str, Any]) -> dict[str, Any]:
        args = request.args
        offset = int(args["offset"]) if (args.get("offset") or "").isdigit() else 0
        return {"collection": features.collection(dataset(), cid, personal=_personal(), lang=i18n.current_lang()),
                "crs": _content_crs(), "offset": offset, "leaflet_js": vendor_url("leaflet/leaflet.js"),
                "leaflet_css": vendor_url("leaflet/leaflet.css"), **extra}

    return context


@bp.get("/collections/<cid>/items")
def items(cid: str) -> Response:
    """A page of features: ``limit``/``offset``, ``bbox``/``bbox-crs``, ``crs``, ``sortby`` and ``?property=value``."""
    return _answer(lambda: _items_doc(cid), json_type=GEOJSON, template="ogcapi/items.html", crs=_content_crs,
                   context=_html_context(cid))


@bp.get("/collections/<cid>/items/<fid>")
def item(cid: str, fid: str) -> Response:
    """One feature by its id (the layer's code)."""

    def build() -> dict[str, Any]:
        ds = dataset()
        doc = dict(features.item(ds, cid, fid, crs=request.args.get("crs") or None, personal=_personal()))
        doc["links"] = [*_self_links(GEOJSON),
                        _link(url_for("ogcapi.collection_page", cid=cid, f="json", _external=True), "collection",
                              JSON, "the collection"),
                        _version_link(ds.version)]
        doc["dataVersion"] = ds.version
        return doc

    return _answer(build, json_type=GEOJSON, template="ogcapi/item.html", crs=_content_crs,
                   context=_html_context(cid))


# --------------------------------------------------------------------------- OpenAPI 3.0


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query",
           required: bool = False, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema, **extra}


def _common_item_params(crs_list: list[str]) -> list[dict[str, Any]]:
    return [
        _param("limit", "Features per page", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                              "default": DEFAULT_LIMIT}, style="form", explode=False),
        _param("offset", "Features to skip (the next link sets it)", {"type": "integer", "minimum": 0, "default": 0}),
        _param("bbox", "minx,miny,maxx,maxy in the axis order of bbox-crs (CRS84: lon,lat)",
               {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
               style="form", explode=False),
        _param("bbox-crs", "CRS of bbox", {"type": "string", "format": "uri", "enum": crs_list, "default": CRS84}),
        _param("crs", "CRS of the answer", {"type": "string", "format": "uri", "enum": crs_list, "default": CRS84}),
        _param("sortby", "Comma-separated properties, each with an optional + or - (descending)",
               {"type": "array", "items": {"type": "string", "pattern": r"[+|-]?[A-Za-z_].*"}},
               style="form", explode=False),
        _param("datetime", "Accepted and ignored: no collection has a time", {"type": "string"}),
        _param("f", "json or html (else the Accept header decides)", {"type": "string", "enum": ["json", "html"]}),
    ]


def _responses(media: str, description: str) -> dict[str, Any]:
    return {"200": {"description": description, "content": {media: {"schema": {"type": "object"}},
                                                             HTML: {"schema": {"type": "string"}}}},
            "304": {"description": "not modified since the ETag (same data version)"},
            "400": {"description": "bad parameter", "content": {JSON: {"schema": {"type": "object"}}}},
            "404": {"description": "no such collection or feature"}}


def openapi_document(ds: Any, personal: bool) -> dict[str, Any]:
    """The OpenAPI 3.0 definition of the /ogcapi paths, with each collection's items path and its property filters.

    GDAL's OAPIF driver reads it to learn the page size limit and which properties it may filter on
    the server.

    Parameters
    ----------
    ds : Dataset
        The data version (its collections and queryables).
    personal : bool
        Whether staff-only properties are queryable for this caller.

    Returns
    -------
    dict
        The document.
    """
    crs_list = list(features.SUPPORTED_CRS(ds))
    f_param = _param("f", "json or html", {"type": "string", "enum": ["json", "html"]})
    cid_param = _param("collectionId", "collection id", {"type": "string"}, where="path", required=True)
    fid_param = _param("featureId", "feature id (the code)", {"type": "string"}, where="path", required=True)
    crs_param = _common_item_params(crs_list)[4]

    def get(op: str, summary: str, params: list[dict[str, Any]], media: str, desc: str) -> dict[str, Any]:
        return {"get": {"operationId": op, "summary": summary, "parameters": params,
                        "responses": _responses(media, desc)}}

    paths: dict[str, Any] = {
        "/": get("getLandingPage", "Landing page", [f_param], JSON, "links to the API, conformance and collections"),
        "/conformance": get("getConformance", "Conformance classes", [f_param], JSON, "conformsTo"),
        "/api": get("getApi", "This API definition", [f_param], OAS30, "the OpenAPI document"),
        "/collections": get("getCollections", "The collections", [f_param], JSON, "collections"),
        "/collections/{collectionId}": get("describeCollection", "One collection", [cid_param, f_param], JSON,
                                           "the collection"),
        "/collections/{collectionId}/queryables": get("getQueryables", "Queryable properties", [cid_param, f_param],
                                                      SCHEMA, "JSON Schema"),
        "/collections/{collectionId}/sortables": get("getSortables", "Sortable properties", [cid_param, f_param],
                                                     SCHEMA, "JSON Schema"),
        "/collections/{collectionId}/items": get("getFeatures", "Features of any collection",
                                                 [cid_param, *_common_item_params(crs_list)], GEOJSON, "features"),
        "/collections/{collectionId}/items/{featureId}": get("getFeature", "One feature",
                                                             [cid_param, fid_param, crs_param, f_param], GEOJSON,
                                                             "the feature"),
    }
    for col in features.collections(ds, personal=personal):
        cid = col["id"]
        props = features.queryables(ds, cid, personal=personal).get("properties", {})
        filters = [_param(name, f"features whose {name} equals this value",
                          {k: v for k, v in spec.items() if k in ("type", "format", "enum")} or {"type": "string"},
                          style="form", explode=False)
                   for name, spec in props.items() if name != "geometry" and spec.get("format") != "geometry"]
        paths[f"/collections/{cid}/items"] = get(f"getFeatures_{cid}", f"Features of {cid}",
                                                 [*_common_item_params(crs_list), *filters], GEOJSON, "features")
        paths[f"/collections/{cid}/items/{{featureId}}"] = get(f"getFeature_{cid}", f"One feature of {cid}",
                                                               [fid_param, crs_param, f_param], GEOJSON, "the feature")
    return {
        "openapi": "3.0.3",
        "info": {"title": "gridmap OGC API – Features", "version": "1.0",
                 "description": "Divisions, committees, grids, facilities, addresses, roads and coverage results. "
                                "Staff-only properties need HTTP Basic credentials of a staff account."},
        "servers": [{"url": url_for("ogcapi.landing", _external=True).rstrip("/")}],
        "paths": paths,
        "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}},
        "security": [{}, {"basic": []}],
    }
