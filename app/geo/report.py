"""The coverage report as a PDF, for the city or one committee or division, in Chinese or English."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from app.errors import GridmapError
from app.geo._pdf_base import set_up
from app.geo._report_map import render_chart, render_map
from app.geo._report_pdf import (
    MAX_UNDERSERVED_ROWS,
    UNIT_LEVELS,
    ReportPdf,
    analysis_name,
    chart_page,
    cover,
    map_page,
    scope_of,
    tables,
)
from app.geo._report_text import tr
from app.geo.coverage import CoverageResult

__all__ = ["FONT_CANDIDATES", "FONT_PACKAGE", "MAX_UNDERSERVED_ROWS", "UNIT_LEVELS", "ReportError", "build_pdf",
           "build_unit_pdf", "find_cjk_font", "render_chart", "render_map", "write_pdf"]

#: Debian package that provides the CJK font the report embeds.
FONT_PACKAGE = "fonts-noto-cjk"
#: Where Debian's fonts-noto-cjk puts the font (looked up with fc-match first).
FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)


class ReportError(GridmapError, RuntimeError):
    """The report cannot be made (for example, the CJK font is not installed)."""

    default_status = 503
    default_key = "report"


def find_cjk_font() -> Path:
    """Locate the Noto Sans CJK font, asking fontconfig first and then known paths.

    Returns
    -------
    Path
        The font collection file (``.ttc``).

    Raises
    ------
    ReportError
        When no CJK font is installed; the message says which package to install.
    """
    if shutil.which("fc-match"):
        try:
            out = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC:style=Regular"],
                                 capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and "CJK" in Path(out).name and Path(out).exists():
            return Path(out)
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return Path(candidate)
    raise ReportError(
        f"no CJK font found for the PDF report; install Debian's {FONT_PACKAGE} "
        f"(apt-get install -y {FONT_PACKAGE})"
    )


def build_pdf(result: CoverageResult, progress: Callable[[str], None] | None = None, *, lang: str = "zh",
              unit: tuple[str, str] | None = None, tz: str | None = None) -> bytes:
    """Build the PDF report of a coverage result, for the whole city or for one committee or division.

    The pages: a cover (the city, the analysis, the local date, the key figures, the parameters
    and the standard they follow), the coverage map (the coverage page's classes, facility
    points, an inset of the urban core, a scale bar and a north arrow), the table by committee
    (by grid in a committee's report) and the grids below the target, whose header rows repeat
    on every page, and a chart by unit with the method.

    Parameters
    ----------
    result : CoverageResult
        The coverage result.
    progress : callable, optional
        Called with short progress messages.
    lang : str
        ``zh`` (default) or ``en``: every text of the report is in this one language.
    unit : tuple of (str, str), optional
        ``("committee", code)`` or ``("division", code)`` for the report of that unit;
        None (default) for the whole city.
    tz : str, optional
        IANA time zone the dates are shown in; default the ``TIMEZONE`` setting.

    Returns
    -------
    bytes
        The PDF, with the Noto Sans CJK SC font embedded (subset).

    Raises
    ------
    ReportError
        When no CJK font is installed.
    CoverageError
        When ``unit`` names no committee or division of the result.
    """
    say = progress or (lambda msg: None)
    lang = "en" if lang == "en" else "zh"
    if tz is None:
        from app.settings import resolve

        tz = resolve().TIMEZONE
    scope = scope_of(result, unit)
    font = find_cjk_font()
    city = _city_name(result, lang)
    title = tr("title", lang, city=city) if scope.level is None else tr("title_unit", lang, unit=scope.name)
    pdf = ReportPdf(f"{city} · {analysis_name(result, lang)}", lang)
    set_up(pdf, title, lang, font)
    cover(pdf, result, scope, city, lang, tz)
    say("drawing the map")
    map_page(pdf, result, scope, font, lang)
    say("writing the tables")
    tables(pdf, result, scope, lang)
    say("drawing the chart")
    chart_page(pdf, result, scope, font, lang)
    return bytes(pdf.output())


def build_unit_pdf(result: CoverageResult, level: str, code: str, *, lang: str = "zh", tz: str | None = None,
                   progress: Callable[[str], None] | None = None) -> bytes:
    """The report of one committee (``level="committee"``) or division (``"division"``); see :func:`build_pdf`."""
    return build_pdf(result, progress, lang=lang, unit=(level, code), tz=tz)


def _city_name(result: CoverageResult, lang: str) -> str:
    """The city's name from the data (``ds.city``), or a neutral word when the data names none."""
    ds = getattr(result._city, "ds", None)
    name = ds.city.title(lang) if ds is not None else ""
    return name or tr("city_unknown", lang)


def write_pdf(result: CoverageResult, path: str | Path, progress: Callable[[str], None] | None = None, *,
              lang: str = "zh", unit: tuple[str, str] | None = None, tz: str | None = None) -> Path:
    """Write the PDF report to ``path`` (see :func:`build_pdf`)."""
    path = Path(path)
    path.write_bytes(build_pdf(result, progress, lang=lang, unit=unit, tz=tz))
    return path
