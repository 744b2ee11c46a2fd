"""Every gridmap setting, declared once with its type, default, environment variable and help (English, Chinese)."""

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


def _setting(default: Any, help: str, help_zh: str, *, secret: bool = False, choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"help": help, "help_zh": help_zh, "secret": secret, "choices": choices})


@dataclass(frozen=True)
class Config:
    """The resolved settings: one typed, frozen value per declared setting.

    Each field is a setting; its environment variable is ``GRIDMAP_<NAME>``. Read them as
    attributes (``config.PORT``); the defaults live here and nowhere else.
    """

    DATA_DIR: str = _setting(str(DEMO_DATA_DIR), "Data to serve: the demo city in geodata/ (copied into the versioned store on first start), a versioned store, or a plain folder of GeoJSON layers (served read-only).",
        "要提供的数据：geodata/ 中的示范城市（首次启动时复制进版本化存储）、一个版本化存储，或普通的 GeoJSON 图层文件夹（只读提供）。")
    HOST: str = _setting("127.0.0.1", "Address `gridmap serve` listens on.",
        "`gridmap serve` 监听的地址。")
    PORT: int = _setting(5000, "Port `gridmap serve` listens on.",
        "`gridmap serve` 监听的端口。")
    THREADS: int = _setting(8, "Worker threads of the production WSGI server (waitress).",
        "生产环境 WSGI 服务器（waitress）的工作线程数。")
    WORKERS: int = _setting(0, "Worker processes of `gridmap serve` (gunicorn on Linux; the data and its index are loaded once and shared). 0: one per CPU core; 1: a single waitress process, as on systems without fork.",
        "`gridmap serve` 的工作进程数（Linux 上用 gunicorn；数据及其索引只加载一次，各进程共享）。0：每个 CPU 核心一个；1：单个 waitress 进程，与不支持 fork 的系统相同。")
    WORKER_CLASS: str = _setting("granian", "How `gridmap serve` serves when WORKERS > 1: granian (a Rust HTTP server; each worker runs the app on WORKER_THREADS threads; a request head must arrive within min(CHANNEL_TIMEOUT, REQUEST_TIMEOUT) s, at most 60), or gunicorn with waitress in each worker (THREADS threads, with the CONNECTION_LIMIT, CHANNEL_TIMEOUT and REQUEST_TIMEOUT protections), or gunicorn's gthread or sync (put them behind a reverse proxy: no REQUEST_TIMEOUT).",
        "WORKERS > 1 时 `gridmap serve` 的服务方式：granian（Rust 编写的 HTTP 服务器；每个工作进程在 WORKER_THREADS 个线程上运行应用；请求头须在 min(CHANNEL_TIMEOUT, REQUEST_TIMEOUT) 秒内到达，最多 60 秒），或 gunicorn 且每个工作进程内用 waitress（THREADS 个线程，带 CONNECTION_LIMIT、CHANNEL_TIMEOUT 和 REQUEST_TIMEOUT 保护），或 gunicorn 自带的 gthread 或 sync（请放在反向代理之后：没有 REQUEST_TIMEOUT）。", choices=("granian", "waitress", "gthread", "sync"))
    WORKER_THREADS: int = _setting(2, "Threads each granian worker of `gridmap serve` runs the app on (WORKER_CLASS=granian). Python runs one of them at a time per process, so a few keep the tail latency of short requests low; raise it when many requests wait on slow work (uploads, long analyses).",
        "`gridmap serve` 的每个 granian 工作进程运行应用的线程数（WORKER_CLASS=granian）。每个进程中 Python 同一时刻只运行其中一个线程，少量线程即可降低短请求的尾部延迟；如有许多请求等待慢操作（上传、长时间分析），可调高。")
    GIL_SWITCH_US: int = _setting(500, "Microseconds a thread of `gridmap serve` may run Python before a waiting thread gets its turn (sys.setswitchinterval; Python's own default is 5000). Shorter lets a request that just arrived start sooner than behind several busy threads (a lower tail latency) for a little CPU. 0 keeps Python's default.",
        "`gridmap serve` 的一个线程在让等待的线程运行之前，最多可连续运行 Python 的微秒数（sys.setswitchinterval；Python 自身默认 5000）。值越小，刚到达的请求越早开始，不必排在多个忙碌线程之后（尾部延迟更低），代价是略多的 CPU。0 保留 Python 的默认值。")
    VERSION_CHECK_MS: int = _setting(200, "Milliseconds a worker of `gridmap serve` reuses its answer to which data version is current before it asks the store again; a version imported by another process is served by every worker within this time (an import or rollback made through a worker is served by it at once). 0 asks on every request.",
        "`gridmap serve` 的工作进程在再次询问存储之前，沿用“当前是哪个数据版本”这一答案的毫秒数；其他进程导入的版本在此时间内由所有工作进程提供（通过某个工作进程进行的导入或回滚，该进程立即提供）。0 表示每个请求都询问。")
    FAST_LANE: bool = _setting(True, "Answer plain `GET /api/v1/locate/point` requests (lon, lat and crs only, no cookie) without Flask's per-request plumbing: the same answer, status and headers for about half the CPU. Anything else goes through Flask. 0 sends every request through Flask.",
        "不经 Flask 的逐请求处理，直接回答普通的 `GET /api/v1/locate/point` 请求（只有 lon、lat 和 crs，没有 cookie）：答案、状态和响应头相同，CPU 约省一半。其他请求都经过 Flask。0 表示所有请求都经过 Flask。")
    SECRET_KEY: str | None = _setting(None, "Key that signs session cookies. Set it in production; if unset a random key is made per start.",
        "签名会话 cookie 的密钥。生产环境中请设置；未设置时每次启动随机生成。", secret=True)
    LANGUAGE: str = _setting("zh", "Default UI language: zh (简体中文) or en.",
        "界面的默认语言：zh（简体中文）或 en。", choices=("zh", "en"))
    TIMEZONE: str = _setting("Asia/Shanghai", "Time zone the admin pages show times in (an IANA name such as Asia/Shanghai or Europe/Helsinki); stored times stay UTC.",
        "管理页面显示时间所用的时区（IANA 名称，如 Asia/Shanghai 或 Europe/Helsinki）；存储的时间仍为 UTC。")
    CITY_NAME: str = _setting("", "City name shown in the title bar, in Chinese (e.g. 兰州); empty: the stored city's name (metadata.json).",
        "标题栏显示的中文城市名（如 兰州）；为空：存储的城市名（metadata.json）。")
    CITY_NAME_EN: str = _setting("", "City name shown in the title bar, in English (e.g. Lanzhou); empty: the stored city's English name.",
        "标题栏显示的英文城市名（如 Lanzhou）；为空：存储的城市英文名。")
    BASEMAP: str = _setting("none", "Basemap: none (offline), local (the BASEMAP_FILE, served by the app, offline), osm, tianditu or amap.",
        "底图：none（离线）、local（BASEMAP_FILE，由本应用提供，离线）、osm、tianditu 或 amap。", choices=("none", "local", "osm", "tianditu", "amap"))
    BASEMAP_FILE: str = _setting("", "Local basemap for BASEMAP=local: an .mbtiles or .pmtiles file of PNG/JPEG/WebP tiles in Web Mercator (e.g. from the surveying bureau), served at /basemap/{z}/{x}/{y}.<ext>. The app refuses to start if it cannot read it.",
        "BASEMAP=local 时的本地底图：Web 墨卡托投影的 PNG/JPEG/WebP 瓦片组成的 .mbtiles 或 .pmtiles 文件（如测绘部门提供的），在 /basemap/{z}/{x}/{y}.<ext> 提供。无法读取时应用拒绝启动。")
    TIANDITU_KEY: str | None = _setting(None, "Tianditu (天地图) tk key, needed when BASEMAP=tianditu.",
        "天地图的 tk 密钥，BASEMAP=tianditu 时需要。", secret=True)
    MAX_UPLOAD_MB: int = _setting(20, "Largest upload accepted, in MiB; larger requests get HTTP 413.",
        "接受的最大上传大小，单位 MiB；更大的请求得到 HTTP 413。")
    INSTANCE_DIR: str = _setting("", "Folder for the accounts/audit database and the versioned data store (default: instance/ of the project).",
        "存放账户/审计数据库和版本化数据存储的文件夹（默认：项目的 instance/）。")
    STORE_URL: str = _setting("", "Versioned data store (imports, versions, rollback): a folder, or a `postgresql://user@host/db` URL of a PostGIS database (password in the URL, or from PGPASSWORD/~/.pgpass; never printed), or the URL of another registered store backend. Default: INSTANCE_DIR/store, seeded from the demo in geodata/ on first start (a database is seeded the same way). A DATA_DIR of plain GeoJSON is served read-only. The former name GRIDMAP_STORE_DIR is still read when GRIDMAP_STORE_URL is unset.",
        "版本化数据存储（导入、版本、回滚）：一个文件夹，或 PostGIS 数据库的 `postgresql://user@host/db` URL（密码写在 URL 中，或取自 PGPASSWORD/~/.pgpass；从不打印），或其他已注册存储后端的 URL。默认：INSTANCE_DIR/store，首次启动时用 geodata/ 中的示范城市初始化（数据库也同样初始化）。普通 GeoJSON 的 DATA_DIR 只读提供。未设置 GRIDMAP_STORE_URL 时仍读取旧名称 GRIDMAP_STORE_DIR。")
    DATABASE_URL: str = _setting("", "Database for accounts, the audit log and events: a postgresql:// URL. Empty: the store's PostgreSQL database when STORE_URL is one, else instance/gridmap.sqlite3.",
        "账户、审计日志和事件所用的数据库：一个 postgresql:// URL。为空：STORE_URL 是 PostgreSQL 时用其数据库，否则用 instance/gridmap.sqlite3。", secret=True)
    IMPORT_MAX_MB: int = _setting(50, "Largest file `gridmap import` accepts, in MiB.",
        "`gridmap import` 接受的最大文件，单位 MiB。")
    IMPORT_MAX_UNPACKED_MB: int = _setting(200, "Largest total size of a zip archive's members once unpacked, in MiB.",
        "zip 压缩包内各文件解压后的最大总大小，单位 MiB。")
    IMPORT_MAX_FEATURES: int = _setting(200000, "Most features one imported layer may hold.",
        "一个导入图层最多可含的要素数。")
    RATE_LIMIT_LOGIN: str = _setting("10 per minute;100 per day", "Sign-in attempts allowed per client address.",
        "每个客户端地址允许的登录尝试次数。")
    RATE_LIMIT_BATCH: str = _setting("30 per minute", "Batch requests (endpoints with 'batch' in their path) allowed per client address.",
        "每个客户端地址允许的批量请求次数（路径中含 batch 的接口）。")
    RATE_LIMIT_REPORT: str = _setting("5 per minute;50 per day", "Anonymous event reports (/events/report, POST /api/v1/events) allowed per client address.",
        "每个客户端地址允许的匿名事件上报次数（/events/report、POST /api/v1/events）。")
    RATELIMIT_ENABLED: bool = _setting(True, "Apply the rate limits above. Set 0 only for a load test on loopback.",
        "启用上述频率限制。仅在本机回环地址上做压力测试时设为 0。")
    BATCH_MAX_ROWS: int = _setting(200000, "Most rows one batch file (locate) may hold for signed-in staff; more gets HTTP 413.",
        "已登录工作人员的一个批量文件（定位）最多可含的行数；超出得到 HTTP 413。")
    BATCH_MAX_COLUMNS: int = _setting(200, "Most columns one batch file may hold.",
        "一个批量文件最多可含的列数。")
    BATCH_MAX_CELL_CHARS: int = _setting(4096, "Longest cell one batch file may hold, in characters.",
        "一个批量文件中单元格的最大字符数。")
    BATCH_MAX_UNPACKED_MB: int = _setting(64, "Largest total size an XLSX batch file may unpack to, in MiB (stops zip bombs).",
        "XLSX 批量文件解压后的最大总大小，单位 MiB（防止 zip 炸弹）。")
    BATCH_MAX_RESPONSE_MB: int = _setting(64, "Largest batch result the service sends, in MiB.",
        "服务发送的批量结果的最大大小，单位 MiB。")
    ANON_BATCH_MAX_ROWS: int = _setting(5000, "Most rows one batch file may hold when nobody is signed in.",
        "未登录时一个批量文件最多可含的行数。")
    ANON_BATCH_MAX_MB: int = _setting(2, "Largest batch file accepted when nobody is signed in, in MiB.",
        "未登录时接受的最大批量文件，单位 MiB。")
    BATCH_REQUIRE_SIGN_IN: bool = _setting(False, "Refuse batch requests (HTTP 401) unless a staff account is signed in.",
        "除非已登录工作人员账户，否则拒绝批量请求（HTTP 401）。")
    CONNECTION_LIMIT: int = _setting(4000, "Most client connections `gridmap serve` keeps open at once (idle ones included).",
        "`gridmap serve` 同时保持的最大客户端连接数（含空闲连接）。")
    CHANNEL_TIMEOUT: int = _setting(30, "Seconds `gridmap serve` waits on a connection that sends nothing (slow or idle clients) before closing it.",
        "`gridmap serve` 在关闭一个不发送任何内容的连接（慢速或空闲客户端）之前等待的秒数。")
    REQUEST_TIMEOUT: int = _setting(120, "Seconds a client has to send one whole request (headers and body) to `gridmap serve`; slower ones are cut off.",
        "客户端向 `gridmap serve` 发送一个完整请求（请求头和请求体）的时限，单位秒；更慢的将被断开。")
    LOCKOUT_ATTEMPTS: int = _setting(5, "Failed sign-ins in a row after which an account is locked for a while.",
        "连续登录失败多少次后，账户被锁定一段时间。")
    LOCKOUT_SECONDS: int = _setting(60, "First lock-out of an account, in seconds; it doubles with each further failure.",
        "账户第一次被锁定的秒数；此后每失败一次加倍。")
    PASSWORD_MIN_LENGTH: int = _setting(10, "Shortest password accepted; common and easily guessed passwords are refused too.",
        "密码的最短长度；常见和容易猜到的密码也会被拒绝。")
    KEEP_VERSIONS: int = _setting(20, "Data versions kept in the store (older ones are pruned after an import); versions someone rolled back to are always kept. 0 keeps all.",
        "存储中保留的数据版本数（导入后删除更早的版本）；曾回滚到的版本总会保留。0 表示全部保留。")
    TRUSTED_ORIGINS: str = _setting("", "Further origins (comma-separated, e.g. https://grid.example.gov.cn) whose forms may post here; the service's own origin is always trusted.",
        "其表单可以向本站提交的其他来源（逗号分隔，如 https://grid.example.gov.cn）；本服务自己的来源总是受信任的。")
    COOKIE_SECURE: bool = _setting(True, "Send the session cookie over HTTPS only (browsers accept it on http://localhost too). Set 0 to serve plain HTTP on a LAN.",
        "只通过 HTTPS 发送会话 cookie（浏览器在 http://localhost 上也接受）。在局域网上用普通 HTTP 提供服务时设为 0。")
    SESSION_HOURS: int = _setting(8, "Hours a sign-in lasts.",
        "一次登录持续的小时数。")
    VECTOR_TILES_MIN_GRIDS: int = _setting(5000, "Grids from which the home map draws its polygon layers as vector tiles cut by the app (fewer: one GeoJSON-like payload, drawn at once). 0 always uses tiles.",
        "网格数达到此值时，首页地图把多边形图层画成由本应用切出的矢量瓦片（较少时：一次性绘制一个类似 GeoJSON 的数据）。0 表示总用瓦片。")
    OPTIMISE_TIME_LIMIT: int = _setting(30, "Seconds the optimiser (site recommendation, grid rebalancing) may run; when it stops at this limit the answer is the best found, and gridmap says so with the gap.",
        "优化器（选址推荐、网格调整）可运行的秒数；在此时限停止时，答案是已找到的最优解，gridmap 会说明并给出差距。")

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
    help_zh: str
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
    Setting(f.name, _base_type(_HINTS[f.name]), f.default, f.metadata["help"], f.metadata["help_zh"],
            f.metadata["secret"], f.metadata["choices"])
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
