"""Every gridmap setting, declared once with its default, environment variable and help text."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The demo city shipped with the repository.
DEMO_DATA_DIR = Path(__file__).resolve().parent.parent / "geodata"
#: Where accounts, the audit log and the versioned store live unless INSTANCE_DIR says otherwise.
DEFAULT_INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


@dataclass(frozen=True)
class Setting:
    """One configuration setting."""

    name: str
    default: Any
    help: str
    secret: bool = False

    @property
    def env(self) -> str:
        """The environment variable that overrides it."""
        return f"GRIDMAP_{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", str(DEMO_DATA_DIR), "Data to serve: the demo city in geodata/ (copied into the versioned store on first start), a versioned store, or a plain folder of GeoJSON layers (served read-only)."),
    Setting("HOST", "127.0.0.1", "Address `gridmap serve` listens on."),
    Setting("PORT", 5000, "Port `gridmap serve` listens on."),
    Setting("THREADS", 8, "Worker threads of the production WSGI server (waitress)."),
    Setting("SECRET_KEY", None, "Key that signs session cookies. Set it in production; if unset a random key is made per start.", secret=True),
    Setting("LANGUAGE", "zh", "Default UI language: zh (简体中文) or en."),
    Setting("CITY_NAME", "嘉峪关", "City name shown in the title bar, in Chinese (e.g. 兰州)."),
    Setting("CITY_NAME_EN", "Jiayuguan", "City name shown in the title bar, in English (e.g. Lanzhou)."),
    Setting("BASEMAP", "none", "Basemap: none (offline), osm, tianditu or amap."),
    Setting("TIANDITU_KEY", None, "Tianditu (天地图) tk key, needed when BASEMAP=tianditu.", secret=True),
    Setting("MAX_UPLOAD_MB", 20, "Largest upload accepted, in MiB; larger requests get HTTP 413."),
    Setting("INSTANCE_DIR", "", "Folder for the accounts/audit database and the versioned data store (default: instance/ of the project)."),
    Setting("STORE_DIR", "", "Versioned data store (imports, versions, rollback). Default: INSTANCE_DIR/store, seeded from the demo in geodata/ on first start. A DATA_DIR of plain GeoJSON is served read-only."),
    Setting("IMPORT_MAX_MB", 50, "Largest file `gridmap import` accepts, in MiB."),
    Setting("IMPORT_MAX_UNPACKED_MB", 200, "Largest total size of a zip archive's members once unpacked, in MiB."),
    Setting("IMPORT_MAX_FEATURES", 200000, "Most features one imported layer may hold."),
    Setting("RATE_LIMIT_LOGIN", "10 per minute;100 per day", "Sign-in attempts allowed per client address."),
    Setting("RATE_LIMIT_BATCH", "30 per minute", "Batch requests (endpoints with 'batch' in their path) allowed per client address."),
    Setting("COOKIE_SECURE", True, "Send the session cookie over HTTPS only (browsers accept it on http://localhost too). Set 0 to serve plain HTTP on a LAN."),
    Setting("SESSION_HOURS", 8, "Hours a sign-in lasts."),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, raw: str) -> Any:
    if isinstance(setting.default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(setting.default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ValueError(f"{setting.env} must be a whole number, got {raw!r}") from exc
    return raw


def defaults() -> dict[str, Any]:
    """Return every setting's default, keyed by name."""
    return {s.name: s.default for s in SETTINGS}


def from_environ(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the settings given in the environment, coerced to their types.

    Parameters
    ----------
    environ : dict, optional
        The environment to read; ``os.environ`` by default.

    Returns
    -------
    dict
        Only the settings that the environment sets.
    """
    env = os.environ if environ is None else environ
    return {s.name: _coerce(s, env[s.env]) for s in SETTINGS if env.get(s.env) not in (None, "")}


def resolve(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the effective settings: defaults, then the environment, then ``overrides``.

    Parameters
    ----------
    overrides : dict, optional
        Settings that win over everything (e.g. a CLI option or a test's config).
    environ : dict, optional
        The environment to read; ``os.environ`` by default.

    Returns
    -------
    dict
        Every setting by name.
    """
    return {**defaults(), **from_environ(environ), **(overrides or {})}


def instance_dir(config: dict[str, Any]) -> Path:
    """Return the instance folder a configuration names (INSTANCE_DIR, or instance/ of the project)."""
    return Path(config.get("INSTANCE_DIR") or DEFAULT_INSTANCE_DIR).resolve()


def markdown_table() -> str:
    """Return the settings as a Markdown table, for the README and ``gridmap settings``."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        default = "(unset)" if s.default in (None, "") else f"`{s.default}`"
        if s.name == "DATA_DIR":
            default = "`geodata/` of the repository"
        rows.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)
