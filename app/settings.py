"""Every gridmap setting, declared once with its type, default, environment variable and help text."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import GridmapError

#: The demo city shipped with the repository.
DEMO_DATA_DIR = Path(__file__).resolve().parent.parent / "geodata"
#: Where accounts, the audit log and the versioned store live unless INSTANCE_DIR says otherwise.
DEFAULT_INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def _setting(default: Any, help: str, *, secret: bool = False, choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"help": help, "secret": secret, "choices": choices})


@dataclass(frozen=True)
class Config:
    """The resolved settings: one typed, frozen value per declared setting.

    Each field is a setting; its environment variable is ``GRIDMAP_<NAME>``. Read them as
    attributes (``config.PORT``); the defaults live here and nowhere else.
    """

    DATA_DIR: str = _setting(str(DEMO_DATA_DIR), "Data to serve: the demo city in geodata/ (copied into the versioned store on first start), a versioned store, or a plain folder of GeoJSON layers (served read-only).")
    HOST: str = _setting("127.0.0.1", "Address `gridmap serve` listens on.")
    PORT: int = _setting(5000, "Port `gridmap serve` listens on.")
    THREADS: int = _setting(8, "Worker threads of the production WSGI server (waitress).")
    WORKERS: int = _setting(0, "Worker processes of `gridmap serve` (gunicorn on Linux; the data and its index are loaded once and shared). 0: one per CPU core; 1: a single waitress process, as on systems without fork.")
    WORKER_CLASS: str = _setting("granian", "How `gridmap serve` serves when WORKERS > 1: granian (a Rust HTTP server; each worker runs the app on WORKER_THREADS threads; a request head must arrive within min(CHANNEL_TIMEOUT, REQUEST_TIMEOUT) s, at most 60), or gunicorn with waitress in each worker (THREADS threads, with the CONNECTION_LIMIT, CHANNEL_TIMEOUT and REQUEST_TIMEOUT protections), or gunicorn's gthread or sync (put them behind a reverse proxy: no REQUEST_TIMEOUT).", choices=("granian", "waitress", "gthread", "sync"))
    WORKER_THREADS: int = _setting(2, "Threads each granian worker of `gridmap serve` runs the app on (WORKER_CLASS=granian). Python runs one of them at a time per process, so a few keep the tail latency of short requests low; raise it when many requests wait on slow work (uploads, long analyses).")
    GIL_SWITCH_US: int = _setting(500, "Microseconds a thread of `gridmap serve` may run Python before a waiting thread gets its turn (sys.setswitchinterval; Python's own default is 5000). Shorter lets a request that just arrived start sooner than behind several busy threads (a lower tail latency) for a little CPU. 0 keeps Python's default.")
    VERSION_CHECK_MS: int = _setting(200, "Milliseconds a worker of `gridmap serve` reuses its answer to which data version is current before it asks the store again; a version imported by another process is served by every worker within this time (an import or rollback made through a worker is served by it at once). 0 asks on every request.")
    FAST_LANE: bool = _setting(True, "Answer plain `GET /api/v1/locate/point` requests (lon, lat and crs only, no cookie) without Flask's per-request plumbing: the same answer, status and headers for about half the CPU. Anything else goes through Flask. 0 sends every request through Flask.")
    SECRET_KEY: str | None = _setting(None, "Key that signs session cookies. Set it in production; if unset a random key is made per start.", secret=True)
    LANGUAGE: str = _setting("zh", "Default UI language: zh (简体中文) or en.", choices=("zh", "en"))
    TIMEZONE: str = _setting("Asia/Shanghai", "Time zone the admin pages show times in (an IANA name such as Asia/Shanghai or Europe/Helsinki); stored times stay UTC.")
    CITY_NAME: str = _setting("", "City name shown in the title bar, in Chinese (e.g. 兰州); empty: the stored city's name (metadata.json).")
    CITY_NAME_EN: str = _setting("", "City name shown in the title bar, in English (e.g. Lanzhou); empty: the stored city's English name.")
    BASEMAP: str = _setting("none", "Basemap: none (offline), local (the BASEMAP_FILE, served by the app, offline), osm, tianditu or amap.", choices=("none", "local", "osm", "tianditu", "amap"))
    BASEMAP_FILE: str = _setting("", "Local basemap for BASEMAP=local: an .mbtiles or .pmtiles file of PNG/JPEG/WebP tiles in Web Mercator (e.g. from the surveying bureau), served at /basemap/{z}/{x}/{y}.<ext>. The app refuses to start if it cannot read it.")
    TIANDITU_KEY: str | None = _setting(None, "Tianditu (天地图) tk key, needed when BASEMAP=tianditu.", secret=True)
    MAX_UPLOAD_MB: int = _setting(20, "Largest upload accepted, in MiB; larger requests get HTTP 413.")
    INSTANCE_DIR: str = _setting("", "Folder for the accounts/audit database and the versioned data store (default: instance/ of the project).")
    STORE_URL: str = _setting("", "Versioned data store (imports, versions, rollback): a folder, or a `postgresql://user@host/db` URL of a PostGIS database (password in the URL, or from PGPASSWORD/~/.pgpass; never printed), or the URL of another registered store backend. Default: INSTANCE_DIR/store, seeded from the demo in geodata/ on first start (a database is seeded the same way). A DATA_DIR of plain GeoJSON is served read-only. The former name GRIDMAP_STORE_DIR is still read when GRIDMAP_STORE_URL is unset.")
    DATABASE_URL: str = _setting("", "Database for accounts, the audit log and events: a postgresql:// URL. Empty: the store's PostgreSQL database when STORE_URL is one, else instance/gridmap.sqlite3.", secret=True)
    IMPORT_MAX_MB: int = _setting(50, "Largest file `gridmap import` accepts, in MiB.")
    IMPORT_MAX_UNPACKED_MB: int = _setting(200, "Largest total size of a zip archive's members once unpacked, in MiB.")
    IMPORT_MAX_FEATURES: int = _setting(200000, "Most features one imported layer may hold.")
    RATE_LIMIT_LOGIN: str = _setting("10 per minute;100 per day", "Sign-in attempts allowed per client address.")
    RATE_LIMIT_BATCH: str = _setting("30 per minute", "Batch requests (endpoints with 'batch' in their path) allowed per client address.")
    RATE_LIMIT_REPORT: str = _setting("5 per minute;50 per day", "Anonymous event reports (/events/report, POST /api/v1/events) allowed per client address.")
    RATELIMIT_ENABLED: bool = _setting(True, "Apply the rate limits above. Set 0 only for a load test on loopback.")
    BATCH_MAX_ROWS: int = _setting(200000, "Most rows one batch file (locate) may hold for signed-in staff; more gets HTTP 413.")
    BATCH_MAX_COLUMNS: int = _setting(200, "Most columns one batch file may hold.")
    BATCH_MAX_CELL_CHARS: int = _setting(4096, "Longest cell one batch file may hold, in characters.")
    BATCH_MAX_UNPACKED_MB: int = _setting(64, "Largest total size an XLSX batch file may unpack to, in MiB (stops zip bombs).")
    BATCH_MAX_RESPONSE_MB: int = _setting(64, "Largest batch result the service sends, in MiB.")
    ANON_BATCH_MAX_ROWS: int = _setting(5000, "Most rows one batch file may hold when nobody is signed in.")
    ANON_BATCH_MAX_MB: int = _setting(2, "Largest batch file accepted when nobody is signed in, in MiB.")
    BATCH_REQUIRE_SIGN_IN: bool = _setting(False, "Refuse batch requests (HTTP 401) unless a staff account is signed in.")
    CONNECTION_LIMIT: int = _setting(4000, "Most client connections `gridmap serve` keeps open at once (idle ones included).")
    CHANNEL_TIMEOUT: int = _setting(30, "Seconds `gridmap serve` waits on a connection that sends nothing (slow or idle clients) before closing it.")
    REQUEST_TIMEOUT: int = _setting(120, "Seconds a client has to send one whole request (headers and body) to `gridmap serve`; slower ones are cut off.")
    LOCKOUT_ATTEMPTS: int = _setting(5, "Failed sign-ins in a row after which an account is locked for a while.")
    LOCKOUT_SECONDS: int = _setting(60, "First lock-out of an account, in seconds; it doubles with each further failure.")
    PASSWORD_MIN_LENGTH: int = _setting(10, "Shortest password accepted; common and easily guessed passwords are refused too.")
    KEEP_VERSIONS: int = _setting(20, "Data versions kept in the store (older ones are pruned after an import); versions someone rolled back to are always kept. 0 keeps all.")
    TRUSTED_ORIGINS: str = _setting("", "Further origins (comma-separated, e.g. https://grid.example.gov.cn) whose forms may post here; the service's own origin is always trusted.")
    COOKIE_SECURE: bool = _setting(True, "Send the session cookie over HTTPS only (browsers accept it on http://localhost too). Set 0 to serve plain HTTP on a LAN.")
    SESSION_HOURS: int = _setting(8, "Hours a sign-in lasts.")
    VECTOR_TILES_MIN_GRIDS: int = _setting(5000, "Grids from which the home map draws its polygon layers as vector tiles cut by the app (fewer: one GeoJSON-like payload, drawn at once). 0 always uses tiles.")
    OPTIMISE_TIME_LIMIT: int = _setting(30, "Seconds the optimiser (site recommendation, grid rebalancing) may run; when it stops at this limit the answer is the best found, and gridmap says so with the gap.")

    def as_dict(self) -> dict[str, Any]:
        """Return every setting by name (for ``flask.Flask.config``)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Setting:
    """One declared setting, as read off a :class:`Config` field."""

    name: str
    type: type
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()

    @property
    def env(self) -> str:
        """The environment variable that overrides it."""
        return f"GRIDMAP_{self.name}"


def _base_type(hint: Any) -> type:
    """Return the concrete type of a field hint (``str | None`` -> ``str``)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


_HINTS = typing.get_type_hints(Config)
SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, _base_type(_HINTS[f.name]), f.default, f.metadata["help"], f.metadata["secret"],
            f.metadata["choices"])
    for f in dataclasses.fields(Config)
)
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
#: Former environment variables still read when the current one is unset (setting -> old variable).
LEGACY_ENV: dict[str, str] = {"STORE_URL": "GRIDMAP_STORE_DIR"}
#: Former setting names still accepted as overrides (old name -> setting).
LEGACY_NAMES: dict[str, str] = {"STORE_DIR": "STORE_URL"}


class SettingError(GridmapError, ValueError):
    """A setting's value cannot be read as its type or is not one of its choices."""

    default_key = "settings"


def _coerce(setting: Setting, raw: Any) -> Any:
    """Return ``raw`` as the setting's type, or raise SettingError naming the variable."""
    if raw is None or not isinstance(raw, str):
        value = raw
    elif setting.type is bool:
        value = raw.strip().lower() in {"1", "true", "yes", "on"}
    elif setting.type is int:
        try:
            value = int(raw)
        except ValueError as exc:
            raise SettingError(f"{setting.env} must be a whole number, got {raw!r}") from exc
    else:
        value = raw.strip().lower() if setting.choices else raw
    if setting.choices and value not in setting.choices:
        raise SettingError(f"{setting.env} must be one of {', '.join(setting.choices)}, got {value!r}")
    return value


def defaults() -> Config:
    """Return the declared defaults."""
    return Config()


def from_environ(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the settings given in the environment, coerced to their types.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read; ``os.environ`` by default.

    Returns
    -------
    dict
        Only the settings that the environment sets.
    """
    env = os.environ if environ is None else environ
    given = {s.name: _coerce(s, env[s.env]) for s in SETTINGS if env.get(s.env) not in (None, "")}
    for name, old in LEGACY_ENV.items():
        if name not in given and env.get(old) not in (None, ""):
            given[name] = _coerce(SETTINGS_BY_NAME[name], env[old])
    return given


def resolve(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Return the effective settings: defaults, then the environment, then ``overrides``.

    Parameters
    ----------
    overrides : mapping, optional
        Settings that win over everything (a CLI option, or a test's config). Keys that are not
        declared settings are ignored here (the app factory hands them to Flask).
    environ : mapping, optional
        The environment to read; ``os.environ`` by default, ``{}`` to read none.

    Returns
    -------
    Config
        Every setting.

    Raises
    ------
    SettingError
        If a value cannot be read as its setting's type or is not one of its choices.
    """
    renamed = {LEGACY_NAMES.get(k, k): v for k, v in (overrides or {}).items() if k in LEGACY_NAMES}
    renamed.update(overrides or {})
    given = {k: _coerce(SETTINGS_BY_NAME[k], v) for k, v in renamed.items() if k in SETTINGS_BY_NAME}
    return Config(**{**from_environ(environ), **given})


def instance_dir(config: Config) -> Path:
    """Return the instance folder a configuration names (INSTANCE_DIR, or instance/ of the project)."""
    return Path(config.INSTANCE_DIR or DEFAULT_INSTANCE_DIR).resolve()


def describe(name: str) -> str:
    """Return a CLI help suffix for a setting: ``[env GRIDMAP_NAME, default VALUE]``."""
    s = SETTINGS_BY_NAME[name]
    default = "geodata/" if name == "DATA_DIR" else ("unset" if s.default in (None, "") else s.default)
    return f"[env {s.env}, default {default}]"


def markdown_table() -> str:
    """Return the settings as a Markdown table, for the README and ``gridmap settings``."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        default = "(unset)" if s.default in (None, "") else f"`{s.default}`"
        if s.name == "DATA_DIR":
            default = "`geodata/` of the repository"
        rows.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)


def replace(config: Config, **changes: Any) -> Config:
    """Return a copy of ``config`` with some settings changed (coerced like any other value)."""
    return dataclasses.replace(config, **{k: _coerce(SETTINGS_BY_NAME[k], v) for k, v in changes.items()})
