"""Grid-event statistics as reports: the table per area, department, category and period, as XLSX and PDF."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from app.geo._events_model import EventError
from app.geo._events_stats import GROUPS, PERIODS, category_names, grid_shares, statistics

if TYPE_CHECKING:
    from app.geo.dataset import Dataset

__all__ = ["BYS", "FORMATS", "METRICS", "ReportSpec", "build_pdf", "report_table", "shares_table", "write_report",
           "write_xlsx"]

#: Groupings a report can be made by (:data:`app.geo._events_stats.GROUPS` but ``all``).
BYS: tuple[str, ...] = tuple(k for k in GROUPS if k != "all")
#: File formats of :func:`write_report`.
FORMATS: tuple[str, ...] = ("xlsx", "pdf")
#: The measures every report row carries, in order.
METRICS: tuple[str, ...] = ("total", "open", "overdue", "closed", "rejected", "on_time_rate",
                            "mean_hours_to_close", "p90_hours_to_close")
#: The choropleth attributes of the map, with their unit kind (``count``, ``share`` or ``hours``).
MAP_ATTRIBUTES: dict[str, str] = {"total": "count", "open_share": "share", "overdue_share": "share",
                                  "closed_share": "share", "mean_hours_to_close": "hours"}


@dataclass
class ReportSpec:
    """What a statistics report covers.

    Attributes
    ----------
    by : str
        A key of :data:`BYS`.
    period : str or None
        A key of ``PERIODS`` (one row per group and period), or None for the whole span.
    since, until : datetime or None
        The span of creation times (``until`` excluded).
    lang : str
        ``zh`` or ``en``.
    tz : str
        IANA time zone the generation time is shown in.
    generated : datetime
        When the report was made (UTC).
    viewer : str
        Whose events (the account name, ``""`` for everything).
    """

    by: str = "grid"
    period: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    lang: str = "zh"
    tz: str = "Asia/Shanghai"
    generated: datetime = field(default_factory=lambda: datetime.now(UTC))
    viewer: str = ""

    def check(self) -> ReportSpec:
        """Return the spec after checking ``by`` and ``period``.

        Raises
        ------
        EventError
            An unknown grouping or period (400).
        """
        if self.by not in BYS:
            raise EventError(f"unknown grouping {str(self.by)[:20]!r}; expected one of {', '.join(BYS)}")
        if self.period is not None and self.period not in PERIODS:
            raise EventError(f"unknown period {str(self.period)[:20]!r}; expected one of {', '.join(PERIODS)}")
        self.lang = "en" if self.lang == "en" else "zh"
        return self


def _names(ds: Dataset | None, by: str, lang: str) -> dict[str, str]:
    """Code → display name of the grouping's units (grid, committee, division names; category names)."""
    if by == "category":
        names = category_names(ds)
        if lang == "en" and ds is not None:
            from app.geo._events_model import categories

            names = {c: cat.en for c, cat in categories(ds.metadata).items()}
        return names
    layer = {"grid": "grids", "committee": "committees", "division": "divisions"}.get(by)
    if ds is None or layer is None:
        return {}
    try:
        table = ds.layer(layer)
    except Exception:  # noqa: BLE001 - a city without the layer just shows codes
        return {}
    if "name" not in table.columns:
        return {}
    return {str(c): str(n) for c, n in zip(table["code"], table["name"], strict=True) if isinstance(n, str)}


def report_table(events: pd.DataFrame, spec: ReportSpec, ds: Dataset | None = None) -> pd.DataFrame:
    """Return the report's rows: the key (``code``, ``name``, ``period``), then :data:`METRICS`.

    Parameters
    ----------
    events : DataFrame
        :func:`app.geo.events.frame`'s table (the viewer's events in the span).
    spec : ReportSpec
        The grouping and period.
    ds : Dataset, optional
        For the units' names.

    Returns
    -------
    DataFrame
        One row per unit (and period), sorted by code and period, then a last ``code="*"`` row for
        all of them (its ``name`` is 合计 / Total). ``on_time_rate`` is 0-1; times are hours;
        NaN where no event was closed.
    """
    spec.check()
    stats = statistics(events, by=spec.by, period=spec.period)
    total = statistics(events, by="all", period=spec.period)
    key = GROUPS[spec.by]
    stats = stats.rename(columns={key: "code"})
    total.insert(0, "code", "*")
    out = pd.concat([stats, total], ignore_index=True) if len(total) else stats
    names = _names(ds, spec.by, spec.lang)
    out["code"] = out["code"].astype(str)
    out.insert(1, "name", [("Total" if spec.lang == "en" else "合计") if c == "*" else names.get(c, c)
                           for c in out["code"]])
    if "period" not in out.columns:
        out.insert(2, "period", "")
    for col in METRICS:
        if col not in out.columns:
            out[col] = 0
    out = out[["code", "name", "period", *METRICS]]
    for col in ("total", "open", "overdue", "closed", "rejected"):
        out[col] = pd.to_numeric(out[col], errors="coerce").fillna(0).astype(int)
    for col in ("on_time_rate", "mean_hours_to_close", "p90_hours_to_close"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    return out.reset_index(drop=True)


def shares_table(events: pd.DataFrame, ds: Dataset, level: str = "grid") -> dict[str, Any]:
    """Return the map's choropleth attributes per grid (or committee) with their class breaks.

    Returns
    -------
    dict
        ``level``, ``codes`` (every unit of the layer), ``values`` ``{attribute: [value per code]}``
        (shares 0-1, hours; ``None`` where an area has no (closed) event), ``classes``
        ``{attribute: {"breaks", "colors", "discrete"}}`` as the home map's classes are shaped.
    """
    from app.geo._map_classes import N_CLASSES, PALETTE, classify

    shares = grid_shares(events, ds, level)
    out: dict[str, Any] = {"level": level, "codes": shares["code"].astype(str).tolist(), "values": {},
                           "classes": {}}
    for attr, kind in MAP_ATTRIBUTES.items():
        raw = pd.to_numeric(shares[attr], errors="coerce").to_numpy(dtype=float)
        if kind == "share":
            raw = np.round(raw * 100, 1)
        out["values"][attr] = [None if not np.isfinite(v) else float(v) for v in raw]
        finite = raw[np.isfinite(raw)]
        if kind == "share" and finite.size:
            breaks = [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        else:
            breaks = classify(finite) if finite.size else [0.0, 0.0]
        n = max(len(breaks) - 1, 1)
        idx = np.linspace(0, len(PALETTE) - 1, n).round().astype(int) if n > 1 else [len(PALETTE) // 2]
        out["classes"][attr] = {"breaks": breaks, "colors": [PALETTE[i] for i in idx],
                                "discrete": kind == "count" and len(np.unique(finite)) <= N_CLASSES}
    return out


def write_xlsx(events: pd.DataFrame, path: str | Path, spec: ReportSpec, ds: Dataset | None = None) -> Path:
    """Write the statistics workbook (the report table, the parameters, the notes); see :mod:`._events_report_xlsx`."""
    from app.geo._events_report_xlsx import write_workbook

    spec.check()
    write_workbook(report_table(events, spec, ds), Path(path), spec, _city(ds, spec.lang))
    return Path(path)


def build_pdf(events: pd.DataFrame, spec: ReportSpec, ds: Dataset | None = None) -> bytes:
    """Return the statistics PDF: title, city, period, generation time, key figures, a per-grid map, the table.

    Raises
    ------
    ReportError
        No CJK font is installed (503).
    """
    from app.geo._events_report_pdf import render

    spec.check()
    return render(events, report_table(events, spec, ds), spec, ds, _city(ds, spec.lang))


def write_report(events: pd.DataFrame, out: str | Path, spec: ReportSpec, ds: Dataset | None = None,
                 fmt: str | None = None) -> Path:
    """Write the report as XLSX or PDF (``fmt``, else the file's suffix).

    Raises
    ------
    EventError
        An unknown format, grouping or period (400).
    """
    path = Path(out)
    kind = (fmt or path.suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise EventError(f"unknown report format {kind[:20]!r}; expected one of {', '.join(FORMATS)}")
    if kind == "xlsx":
        return write_xlsx(events, path, spec, ds)
    path.write_bytes(build_pdf(events, spec, ds))
    return path


def _city(ds: Dataset | None, lang: str) -> str:
    if ds is None:
        return ""
    try:
        return ds.city.title(lang)
    except Exception:  # noqa: BLE001 - a city without a profile has no name
        return ""
