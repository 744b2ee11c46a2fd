"""The CJK font and document set-up shared by every PDF gridmap writes (fpdf2)."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

#: Face of the Noto CJK collection (.ttc) with Simplified Chinese glyph forms.
SC_FACE = 2


def add_cjk_font(pdf: FPDF, font: Path) -> None:
    """Register ``font`` as the family ``cjk`` (the Simplified Chinese face of a ``.ttc`` collection).

    Parameters
    ----------
    pdf : FPDF
        The document.
    font : Path
        A CJK font file, as :func:`app.geo.report.find_cjk_font` finds it.
    """
    kwargs = {"collection_font_number": SC_FACE} if font.suffix.lower() == ".ttc" else {}
    pdf.add_font("cjk", fname=str(font), **kwargs)


def set_up(pdf: FPDF, title: str, lang: str, font: Path) -> None:
    """Give a portrait report its metadata (title, creator, language), the CJK font and page breaks.

    Parameters
    ----------
    pdf : FPDF
        A new document (usually an :class:`app.geo._report_pdf.ReportPdf`).
    title : str
        The document title in its metadata.
    lang : str
        ``en`` or ``zh``.
    font : Path
        The CJK font file.
    """
    pdf.set_title(title)
    pdf.set_creator("gridmap")
    pdf.set_lang("en" if lang == "en" else "zh-CN")
    add_cjk_font(pdf, font)
    pdf.set_auto_page_break(auto=True, margin=16)


def title_band(pdf: FPDF) -> None:
    """Draw the dark blue band across the top of a report's first page."""
    pdf.set_fill_color(20, 40, 90)
    pdf.rect(0, 0, pdf.w, 6, style="F")
    pdf.set_fill_color(255)
