"""init-city's layer steps: field overrides, each layer's preparation before the importer's checks, derived layers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import geopandas as gpd

from app.geo import address as addressmod
from app.geo import crs as crsmod
from app.geo import fieldnames
from app.geo._import_base import _label, _safe_text
from app.geo._initcity_build import (
    Hierarchy,
    committee_kind,
    derive_hierarchy,
    division_kind,
    generate_grid_codes,
    map_categories,
    parse_address,
)
from app.geo._initcity_detect import CityMapping, layer_from_name
from app.geo.city import City
from app.geo.findings import Report

#: The fields init-city fills in itself, under these keys of a feature's properties.
GENERATED_KEYS: dict[str, str] = {"code": "code", "committee_code": "committee_code",
                                  "division_code": "division_code"}


def columns_of(raw: Any) -> list[str]:
    """A layer's columns in file order (the reader's ``columns``, else the keys of its features)."""
    cols = getattr(raw, "columns", None)
    if cols:
        return [str(c) for c in cols]
    return [str(k) for k in dict.fromkeys(k for p in raw.props for k in p)]


def add_column(raw: Any, key: str) -> None:
    """Record a property init-city added to every feature among the layer's columns (the importer matches those)."""
    cols = getattr(raw, "columns", None)
    if isinstance(cols, list) and key not in cols:
        cols.append(key)


def overrides_for(layer: str, columns: Sequence[str], mapping: CityMapping, options: Mapping[str, Mapping[str, str]],
                  report: Report) -> dict[str, str]:
    """The field overrides (target -> source column) for one file: mapping file, then ``--field``.

    ``--field target=SOURCE`` without a layer applies where the file has the column; an override
    that names a column the file lacks is an error (``missing_field``) naming the file and field.
    """
    allowed = set(fieldnames.targets(layer))
    by_norm = {fieldnames.norm(c): c for c in columns}

    def find(src: str) -> str | None:
        return src if src in columns else by_norm.get(fieldnames.norm(src))

    out: dict[str, str] = {}
    for target, src in options.get("*", {}).items():
        if target in allowed and find(src) is not None:
            out[target] = find(src) or src
    for where, table in (("mapping file", mapping.fields.get(layer, {})), ("--field", options.get(layer, {}))):
        for target, src in table.items():
            col = find(src)
            if col is None:
                report.error("missing_field", f"{where}: {target} = {_safe_text(src, 60)!r} names no column of "
                             f"the file; its columns are {_safe_text(', '.join(columns), 300)}", field=target)
                continue
            out[target] = col
    seen: dict[str, str] = {}
    for target, col in list(out.items()):
        if col in seen:
            report.error("ambiguous_field", f"column {_safe_text(col, 60)!r} is mapped to both {seen[col]} and "
                         f"{target}", field=target)
            del out[target]
        else:
            seen[col] = target
    return out


#: Column names of a grid file's division that :data:`fieldnames.SYNONYMS` may not know (districts used as divisions).
MORE_GROUPING: dict[str, dict[str, tuple[str, ...]]] = {
    "grids": {"division_name": ("所属区县", "区县", "所属区", "县区", "所属县区", "district", "district_name",
                                "county", "borough")},
}


def match(layer: str, columns: Sequence[str], overrides: dict[str, str]) -> fieldnames.ColumnMatch:
    """:func:`fieldnames.match_columns` of the columns, the overrides first (they are checked already).

    A grouping field still unmatched takes a column named as in :data:`MORE_GROUPING` (added to ``overrides``).
    """
    cm = fieldnames.match_columns(layer, columns, overrides)
    for target, words in MORE_GROUPING.get(layer, {}).items():
        if cm.column_of(target) is not None:
            continue
        keys = {fieldnames.norm(w) for w in words}
        col = next((c for c in cm.extras if fieldnames.norm(c) in keys), None)
        if col is not None:
            overrides[target] = col
            cm = fieldnames.match_columns(layer, columns, overrides)
    return cm


def _cell(props: Mapping[str, Any], col: str | None) -> Any:
    return props.get(col) if col else None


def prepare_grids(raw: Any, report: Report, cm: fieldnames.ColumnMatch, fields: dict[str, str],
                  mapping: CityMapping, city_name: str, committees: gpd.GeoDataFrame | None,
                  divisions: gpd.GeoDataFrame | None = None) -> Hierarchy | None:
    """Give every grid its code, committee code and division code before the importer checks it.

    The grid code comes from the file (its absence refuses, naming the file and field ``code``,
    unless the mapping sets ``generate_codes``); committee and division codes from the file, the
    given committees layer (matched by name), or :func:`derive_hierarchy`. The codes are written
    into the features' properties and ``fields`` is updated so the importer takes them.

    Returns
    -------
    Hierarchy or None
        The divisions and committees the grids name (None on an error, or when a committees layer
        is given: then the grids are matched to it).
    """
    col = {t: cm.column_of(t) for t in ("code", "committee_code", "committee_name", "division_code",
                                         "division_name")}
    if col["code"] is None and not mapping.generate_codes:
        report.error("missing_field", "the grid file has no grid code column (网格编码 / code); name it in the "
                     "mapping file ([fields.grids] code = \"…\"), with --field code=COLUMN, or set generate_codes = "
                     "true in the mapping file", field="code")
        return None
    rows = [{t: _cell(p, c) for t, c in col.items()} for p in raw.props]
    if committees is None and divisions is not None and col["division_code"] is None:
        _divisions_by_name(rows, raw.labels, divisions, report)
        if not report.ok:
            return None
    if committees is not None and col["committee_code"] is None:
        _committees_by_name(rows, raw.labels, committees, report)
        hier = None
        if not report.ok:
            return None
    elif committees is not None:
        hier = None
    else:
        hier = derive_hierarchy(rows, raw.labels, report, city_name)
        if hier is None:
            return None
        for r, cc, dc in zip(rows, hier.grid_committee, hier.grid_division, strict=True):
            r["committee_code"], r["division_code"] = cc, dc
    if col["code"] is None:
        codes = generate_grid_codes([str(r.get("committee_code") or "") for r in rows], raw.geoms)
        for r, c in zip(rows, codes, strict=True):
            r["code"] = c
        if hier is not None:
            hier.scheme = "free"
        report.warning("generated_codes", f"the grid file has no code column; codes {codes[0]}… were generated "
                       "west to east, north to south within each committee", field="code")
    if cm.column_of("name") is None:  # a grid is named by its code when the file names none
        key = "name" if "name" not in columns_of(raw) else "_grid_name"
        for p, r in zip(raw.props, rows, strict=True):
            p[key] = r.get("code")
        fields["name"] = key
        add_column(raw, key)
        report.warning("filled_fields", "the grid file has no name column; each grid is named by its code",
                       field="name")
    for target in ("code", "committee_code", "division_code"):
        key = col[target] or GENERATED_KEYS[target]
        for p, r in zip(raw.props, rows, strict=True):
            if r.get(target) is not None:
                p[key] = r[target]
        fields[target] = key
        add_column(raw, key)
    return hier


def _committees_by_name(rows: list[dict[str, Any]], labels: Sequence[str], committees: gpd.GeoDataFrame,
                        report: Report) -> None:
    """Fill in the committee and division codes of grids that name their committee, from the given committees."""
    by_name: dict[str, list[tuple[str, str]]] = {}
    for code, name, div in zip(committees["code"], committees["name"], committees["division_code"], strict=True):
        by_name.setdefault(str(name).strip(), []).append((str(code), str(div)))
    for r, lab in zip(rows, labels, strict=True):
        name = str(r.get("committee_name") or "").strip()
        hits = by_name.get(name, [])
        if len(hits) != 1:
            why = "names no committee" if not name else (
                f"names committee {_safe_text(name, 40)!r}, which the committees layer "
                + ("holds more than once" if hits else "does not hold"))
            report.error("unknown_parent", f"the grid {why}", feature=lab, field="committee_name")
            continue
        r["committee_code"], r["division_code"] = hits[0]


def _divisions_by_name(rows: list[dict[str, Any]], labels: Sequence[str], divisions: gpd.GeoDataFrame,
                       report: Report) -> None:
    """Fill in the division codes of grids that name their division, from the given divisions layer."""
    by_name: dict[str, list[str]] = {}
    for code, name in zip(divisions["code"], divisions["name"], strict=True):
        by_name.setdefault(str(name).strip(), []).append(str(code))
    for r, lab in zip(rows, labels, strict=True):
        name = str(r.get("division_name") or "").strip()
        hits = by_name.get(name, [])
        if len(hits) != 1:
            why = "names no division" if not name else (
                f"names division {_safe_text(name, 40)!r}, which the divisions layer "
                + ("holds more than once" if hits else "does not hold"))
            report.error("unknown_parent", f"the grid {why}", feature=lab, field="division_name")
            continue
        r["division_code"] = hits[0]


def hierarchy_frames(hier: Hierarchy) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The divisions' and committees' attribute rows of a :class:`Hierarchy` (kinds from their names)."""
    divisions = [{**d, "kind": d.get("kind") or division_kind(d["name"])} for d in hier.divisions]
    committees = [{**c, "kind": c.get("kind") or committee_kind(c["name"])} for c in hier.committees]
    return divisions, committees


def prepare_facilities(raw: Any, report: Report, cm: fieldnames.ColumnMatch, fields: dict[str, str],
                       file_name: str) -> None:
    """Turn category words into category keys; a file without a category column takes one from its name."""
    col = cm.column_of("category")
    if col is None:
        stem = file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        key = fieldnames.category_of(stem) or _category_in(stem)
        if key is None:
            report.error("missing_field", "the facility file has no category column (类别 / category) and its "
                         "name names no category", field="category")
            return
        for p in raw.props:
            p["category"] = key
        fields["category"] = "category"
        add_column(raw, "category")
        report.warning("filled_fields", f"category {key} taken from the file name for every facility",
                       field="category")
        return
    words = [p.get(col) for p in raw.props]
    values, changed = map_categories(words, fieldnames.category_of)
    sub_col = cm.column_of("subtype")
    for p, v, w in zip(raw.props, values, words, strict=True):
        p[col] = v
        if sub_col is None and w is not None and v != w:
            sub = fieldnames.subtype_of(w, v)
            if sub is not None:
                p["subtype"] = sub
    if sub_col is None and any("subtype" in p for p in raw.props):
        fields["subtype"] = "subtype"
        add_column(raw, "subtype")
    if changed:
        pairs = list(dict.fromkeys(f"{w} → {v}" for w, v in zip(words, values, strict=True)
                                   if w is not None and v != w))
        shown = "; ".join(pairs[:6]) + (" …" if len(pairs) > 6 else "")
        report.warning("mapped_fields", f"{changed} category words were read as categories: {_safe_text(shown, 300)}",
                       field="category")


def _category_in(text: str) -> str | None:
    for key, words in fieldnames.CATEGORY_WORDS.items():
        if any(fieldnames.norm(w) and fieldnames.norm(w) in fieldnames.norm(text) for w in words):
            return key
    return None


def address_normalizer(city: City, areas: Sequence[str], committees: Sequence[str]) -> Callable[[str], str]:
    """:func:`app.geo.address.normalize` with the city's optional prefixes (province, city, districts, divisions, committees)."""
    make = getattr(addressmod, "AddressPrefixes", None)
    if make is None:  # pragma: no cover - an address module without city prefixes
        return addressmod.normalize
    prefixes = make.for_city(city, areas, committees)
    return lambda text: addressmod.normalize(text, prefixes)


def prepare_addresses(raw: Any, report: Report, cm: fieldnames.ColumnMatch, fields: dict[str, str],
                      normalize: Callable[[str], str]) -> None:
    """Split each address into kind, street and number; drop (with a warning naming row and text) those that do not parse."""
    col = cm.column_of("address")
    parts = fieldnames.address_parts(columns_of(raw))
    if col is None and any(p in parts for p in ("road_or_compound", "road", "compound")):
        return  # a standard-address list (标准地址库): the importer composes the addresses from their parts
    if col is None:
        report.error("missing_field", "the address file has no address column (地址 / address)", field="address")
        return
    keep: list[int] = []
    bad = 0
    for i, p in enumerate(raw.props):
        text = p.get(col)
        parts = parse_address(str(text), normalize, addressmod.parse) if text not in (None, "") else None
        if parts is None:
            bad += 1
            if bad <= 20:
                report.warning("bad_value", f"the address {_safe_text(text, 80)!r} has no house or building number; "
                               "the row is skipped", feature=raw.labels[i], field="address")
            continue
        if parts["address"] != str(text).strip():
            p["address_text"] = text
            add_column(raw, "address_text")
        p[col] = parts["address"]
        for target in ("kind", "street", "number"):
            if cm.column_of(target) is None:
                p[target] = parts[target]
                fields[target] = target
                add_column(raw, target)
        keep.append(i)
    if bad > 20:
        report.warning("bad_value", f"… and {bad - 20} more addresses without a number were skipped", field="address")
    if bad:
        for name in ("props", "geoms", "labels"):
            seq = getattr(raw, name)
            setattr(raw, name, [seq[i] for i in keep])


def raw_from_frame(raw_type: type, gdf: gpd.GeoDataFrame) -> Any:
    """A reader's layer (``raw_type``, the importer's RawLayer) holding a derived frame in EPSG:4326."""
    props = [{k: v for k, v in row.items() if k != "geometry"} for row in gdf.to_dict("records")]
    labels = [_label(f"#{i + 1}", p) for i, p in enumerate(props)]
    values = {"props": props, "geoms": list(gdf.geometry.values), "labels": labels, "crs": crsmod.parse_crs(4326),
              "crs_from_file": True, "format": "derived", "encoding": "", "columns": [c for c in gdf.columns
                                                                                        if c != "geometry"],
              "geometry_types": tuple(dict.fromkeys(g.geom_type for g in gdf.geometry.values if g is not None))}
    names = {f.name for f in dataclasses.fields(raw_type)}
    return raw_type(**{k: v for k, v in values.items() if k in names})


def file_layer_by_name(name: str, source_layer: str | None) -> str | None:
    """A file's layer from a GeoPackage layer's name, then the file's name."""
    if source_layer:
        hit = layer_from_name(source_layer)
        if hit:
            return hit
    return layer_from_name(name.split(":", 1)[0])
