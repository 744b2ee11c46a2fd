"""The PostGIS store's tables and views: names, DDL, and the typed per-layer views of the current version."""

from __future__ import annotations

from app.geo.schema import FIELDS, LAYERS

#: Every table and view of the store starts with this, so it can share a database with accounts and audit.
PREFIX = "gridmap_"
#: The NOTIFY channel a commit or rollback announces the new current version on.
CHANNEL = "gridmap_version"
#: Key of the session-level advisory lock a writer holds (``hashtext`` of this name).
LOCK_NAME = "gridmap-store-writer"

VERSIONS = f"{PREFIX}versions"
CURRENT = f"{PREFIX}current"
HISTORY = f"{PREFIX}history"
FILES = f"{PREFIX}files"
LAYERS_TABLE = f"{PREFIX}layers"
LAYER_DATA = f"{PREFIX}layer_data"


def layer_table(layer: str) -> str:
    """Return the table that holds the rows of ``layer`` (one of :data:`app.geo.schema.LAYERS`).

    Parameters
    ----------
    layer : str
        Layer name.

    Returns
    -------
    str
        E.g. ``gridmap_grids``.
    """
    if layer not in LAYERS:
        raise KeyError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
    return f"{PREFIX}{layer}"


def layer_view(layer: str) -> str:
    """Return the view of ``layer``'s current rows with typed columns (for QGIS and SQL users)."""
    return f"{layer_table(layer)}_current"


def _ddl() -> list[str]:
    out = [
        f"""CREATE TABLE IF NOT EXISTS {VERSIONS} (
            seq integer PRIMARY KEY, id text UNIQUE NOT NULL, info json NOT NULL,
            created timestamptz NOT NULL DEFAULT now())""",
        f"""CREATE TABLE IF NOT EXISTS {CURRENT} (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            version text NOT NULL REFERENCES {VERSIONS}(id))""",
        f"""CREATE TABLE IF NOT EXISTS {HISTORY} (n bigserial PRIMARY KEY, entry json NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {LAYER_DATA} (
            data_id text PRIMARY KEY, layer text NOT NULL, columns jsonb NOT NULL, count integer NOT NULL,
            digest text NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {LAYERS_TABLE} (
            version text NOT NULL REFERENCES {VERSIONS}(id) ON DELETE CASCADE, layer text NOT NULL,
            data_id text NOT NULL REFERENCES {LAYER_DATA}(data_id), PRIMARY KEY (version, layer))""",
        f"CREATE INDEX IF NOT EXISTS {LAYERS_TABLE}_data ON {LAYERS_TABLE} (data_id)",
        f"""CREATE TABLE IF NOT EXISTS {FILES} (
            version text NOT NULL REFERENCES {VERSIONS}(id) ON DELETE CASCADE, name text NOT NULL,
            data bytea NOT NULL, PRIMARY KEY (version, name))""",
    ]
    for layer in LAYERS:
        table = layer_table(layer)
        out += [
            f"""CREATE TABLE IF NOT EXISTS {table} (
                data_id text NOT NULL, fid integer NOT NULL, geom geometry(Geometry, 4326),
                attrs jsonb NOT NULL, PRIMARY KEY (data_id, fid))""",
            f"CREATE INDEX IF NOT EXISTS {table}_geom ON {table} USING gist (geom)",
            _view(layer),
        ]
    return out


def _typed(field: str, dtype: str) -> str:
    """Return the SQL that gives one attribute as a real column: text, bigint or double precision."""
    value = f"t.attrs->'{field}'"
    text = f"t.attrs->>'{field}'"
    if dtype == "int":
        sql = f"CASE WHEN jsonb_typeof({value}) = 'number' THEN round(({text})::numeric)::bigint END"
    elif dtype == "float":
        sql = f"CASE WHEN jsonb_typeof({value}) = 'number' THEN ({text})::double precision END"
    else:
        sql = text
    return f'{sql} AS "{field}"'


def _view(layer: str) -> str:
    """Return the DDL of ``layer``'s view: the current version's rows, the schema's fields as typed columns."""
    columns = ", ".join(_typed(f.name, f.dtype) for f in FIELDS[layer])
    return (f"CREATE OR REPLACE VIEW {layer_view(layer)} AS "
            f"SELECT t.fid, {columns}, t.geom, t.attrs FROM {layer_table(layer)} t "
            f"JOIN {LAYERS_TABLE} l ON l.data_id = t.data_id AND l.layer = '{layer}' "
            f"JOIN {CURRENT} c ON c.version = l.version")


#: The statements that make the store's tables, indexes and views (each idempotent).
DDL: tuple[str, ...] = tuple(_ddl())
