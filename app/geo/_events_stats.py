"""Grid events as tables: one row per event, counts and times per area, category and period, per-grid shares, files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from app.geo._events_model import FINAL_STATES, STATES, EventError, categories, now_text, parse_time

if TYPE_CHECKING:
    from app.geo import db
    from app.geo._events_access import Who
    from app.geo.dataset import Dataset

#: Groupings :func:`statistics` knows, with the event column each one groups by.
GROUPS: dict[str, str] = {"grid": "grid_code", "committee": "committee_code", "division": "division_code",
                          "department": "department", "category": "category", "all": ""}
#: Periods :func:`statistics` knows, as pandas period codes.
PERIODS: dict[str, str] = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}
#: Export formats of :func:`export`.
FORMATS: tuple[str, ...] = ("csv", "xlsx", "geojson")
#: Columns of :func:`frame` (and of the exports, in this order).
COLUMNS: tuple[str, ...] = (
    "id", "category", "status", "created", "closed", "due", "overdue", "late", "hours_to_close", "grid_code",
    "committee_code", "division_code", "department", "handler", "handler_name", "address", "description",
    "lon", "lat")


def frame(target: db.Target, viewer: Who, *, since: datetime | None = None, until: datetime | None = None,
          status: Any = None, ds: Dataset | None = None, now: datetime | None = None) -> pd.DataFrame:
    """Return the events ``viewer`` may see as a table, one row per event (no reporter, phone or photos).

    Columns are :data:`COLUMNS`: times as timezone-aware UTC timestamps, ``overdue`` (open and
    past its step's deadline), ``late`` (some step done after its deadline), ``hours_to_close``
    (closed events only).
    """
    from app.geo.events import list_events

    rows = list_events(target, viewer, status=status, since=since, until=until, limit=None, ds=ds,
                       now=now)["events"]  # one read: a consistent snapshot, unlike paging
    table = pd.DataFrame(rows, columns=list(COLUMNS)) if rows else pd.DataFrame(columns=list(COLUMNS))
    for column in ("created", "closed", "due"):
        # a None among texts comes back as NaN from the DataFrame constructor
        table[column] = pd.to_datetime(table[column].map(lambda v: parse_time(v) if isinstance(v, str) else None),
                                       utc=True)
    for column in ("overdue", "late"):
        table[column] = table[column].astype(bool)
    table["hours_to_close"] = pd.to_numeric(table["hours_to_close"], errors="coerce")
    return table


def _summary(group: pd.DataFrame) -> dict[str, Any]:
    closed = group[group["status"] == "closed"]
    hours = closed["hours_to_close"].dropna()
    out: dict[str, Any] = {"total": len(group)}
    for state in STATES:
        out[state] = int((group["status"] == state).sum())
    out["open"] = int((~group["status"].isin(FINAL_STATES)).sum())
    out["overdue"] = int(group["overdue"].sum())
    out["on_time_rate"] = round(float((~closed["late"]).mean()), 4) if len(closed) else np.nan
    out["mean_hours_to_close"] = round(float(hours.mean()), 2) if len(hours) else np.nan
    out["p90_hours_to_close"] = round(float(hours.quantile(0.9)), 2) if len(hours) else np.nan
    return out


def statistics(events: pd.DataFrame, by: str = "grid", period: str | None = None,
               category: bool = False) -> pd.DataFrame:
    """Count events and time their closing per area (or department, or category), optionally per category and period.

    Parameters
    ----------
    events : DataFrame
        :func:`frame`'s table (already limited to a time span and a viewer).
    by : str
        A key of :data:`GROUPS`: ``grid``, ``committee``, ``division``, ``department`` (events
        never escalated are left out), ``category`` or ``all``.
    period : str, optional
        A key of :data:`PERIODS` (by the creation time, UTC): one row per group and period.
    category : bool
        One row per group and category too.

    Returns
    -------
    DataFrame
        The key columns, then ``total``, one count per state of :data:`STATES`, ``open``,
        ``overdue``, ``on_time_rate`` (share of closed events with no late step; NaN without
        closed events), ``mean_hours_to_close`` and ``p90_hours_to_close`` (NaN without closed
        events). Sorted by the keys.
    """
    if by not in GROUPS:
        raise EventError(f"unknown grouping {str(by)[:20]!r}; expected one of {', '.join(GROUPS)}")
    if period is not None and period not in PERIODS:
        raise EventError(f"unknown period {str(period)[:20]!r}; expected one of {', '.join(PERIODS)}")
    table = events.copy()
    keys: list[str] = []
    if GROUPS[by]:
        keys.append(GROUPS[by])
        table = table[table[GROUPS[by]].notna()]
    if category and by != "category":
        keys.append("category")
    if period:
        table["period"] = table["created"].dt.tz_convert(None).dt.to_period(PERIODS[period]).astype(str)
        keys.append("period")
    metrics = ["total", *STATES, "open", "overdue", "on_time_rate", "mean_hours_to_close", "p90_hours_to_close"]
    if table.empty:
        return pd.DataFrame(columns=[*keys, *metrics])
    if not keys:
        return pd.DataFrame([_summary(table)], columns=metrics)
    rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)), **_summary(group)}
            for key, group in table.groupby(keys, sort=True, dropna=True)]
    return pd.DataFrame(rows, columns=[*keys, *metrics])


def grid_shares(events: pd.DataFrame, ds: Dataset | None = None, level: str = "grid") -> pd.DataFrame:
    """Return the choropleth attributes per grid (or committee): counts, open/overdue/closed shares, mean time to close.

    Parameters
    ----------
    events : DataFrame
        :func:`frame`'s table.
    ds : Dataset, optional
        When given, every grid (committee) of the layer gets a row, with zeros where no event is.
    level : str
        ``grid`` or ``committee``.

    Returns
    -------
    DataFrame
        ``code``, ``total``, ``open``, ``overdue``, ``closed``, ``open_share``, ``overdue_share``,
        ``closed_share`` (0-1; NaN for an area without events) and ``mean_hours_to_close``.
    """
    if level not in ("grid", "committee"):
        raise EventError(f"unknown level {str(level)[:20]!r}; expected grid or committee")
    column = f"{level}_code"
    live = events[events["status"] != "rejected"]
    grouped = live.groupby(column)
    out = pd.DataFrame({
        "total": grouped.size(),
        "open": grouped["status"].agg(lambda s: int((~s.isin(FINAL_STATES)).sum())),
        "overdue": grouped["overdue"].sum(),
        "closed": grouped["status"].agg(lambda s: int((s == "closed").sum())),
        "mean_hours_to_close": grouped["hours_to_close"].mean(),
    }) if not live.empty else pd.DataFrame(columns=["total", "open", "overdue", "closed", "mean_hours_to_close"])
    if ds is not None:
        codes = ds.layer("grids" if level == "grid" else "committees")["code"].astype(str)
        out = out.reindex(pd.Index(codes, name=column))
        out[["total", "open", "overdue", "closed"]] = out[["total", "open", "overdue", "closed"]].fillna(0)
    out = out.reset_index().rename(columns={column: "code", "index": "code"})
    for part in ("open", "overdue", "closed"):
        out[part] = out[part].astype(int)
        out[f"{part}_share"] = np.where(out["total"] > 0, out[part] / out["total"].where(out["total"] > 0, 1), np.nan)
    out["total"] = out["total"].astype(int)
    out["mean_hours_to_close"] = pd.to_numeric(out["mean_hours_to_close"], errors="coerce").round(2)
    return out[["code", "total", "open", "overdue", "closed", "open_share", "overdue_share", "closed_share",
                "mean_hours_to_close"]]


def export(events: pd.DataFrame, out: str | Path, fmt: str | None = None) -> Path:
    """Write :func:`frame`'s table as CSV (UTF-8 with BOM, for Excel), XLSX or GeoJSON (WGS84 points).

    Times are written as ISO text in UTC. The format comes from ``fmt`` or the file's suffix.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    EventError
        For an unknown format.
    """
    path = Path(out)
    kind = (fmt or path.suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise EventError(f"unknown export format {kind[:20]!r}; expected one of {', '.join(FORMATS)}")
    table = events.copy()
    for column in ("created", "closed", "due"):
        table[column] = table[column].map(lambda t: None if pd.isna(t) else now_text(t.to_pydatetime()))
    if kind == "csv":
        table.to_csv(path, index=False, encoding="utf-8-sig")
    elif kind == "xlsx":
        table.to_excel(path, index=False, sheet_name="events")
    else:
        import geopandas as gpd

        points = gpd.points_from_xy(table["lon"].astype(float), table["lat"].astype(float), crs="EPSG:4326")
        gpd.GeoDataFrame(table.drop(columns=["lon", "lat"]), geometry=points, crs="EPSG:4326").to_file(
            path, driver="GeoJSON")
    return path


def category_names(ds: Dataset | None = None) -> dict[str, str]:
    """Return category code → Chinese name (for report headings)."""
    return {code: cat.zh for code, cat in categories(ds.metadata if ds is not None else None).items()}


def utc(value: str | datetime | None) -> datetime | None:
    """Return an ISO date or time (naive means UTC) as an aware UTC datetime, or None.

    Raises
    ------
    EventError
        For text that is not an ISO date or time.
    """
    if value is None or value == "":
        return None
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise EventError(f"give a time as YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC), got {str(value)[:30]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
