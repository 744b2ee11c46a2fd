"""The printed view's PDF page: title, the map image, the legend and the scale as text (A4 landscape, fpdf2)."""

from __future__ import annotations

import io
from pathlib import Path

from fpdf import FPDF

from app.geo._pdf_base import add_cjk_font
from app.geo._viewprint_draw import Legend

_LEGEND_W = 62.0


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def page(font: Path, title: str, subtitle: str, image: bytes, size: tuple[int, int], legend: Legend,
         scale_text: str, legend_word: str) -> bytes:
    """Lay out one A4 landscape page and return the PDF bytes.

    Parameters
    ----------
    font : Path
        CJK font file (a ``.ttc`` uses its Simplified Chinese face).
    title, subtitle : str
        The heading and the line under it (printed time, data version, synthetic note).
    image : bytes
        The map as a PNG (with its scale bar and north arrow).
    size : tuple of int
        The map's pixel size (its aspect ratio).
    legend : Legend
        Classes, lines and symbols listed right of the map.
    scale_text, legend_word : str
        The scale line and the legend heading, in the page's language.

    Returns
    -------
    bytes
        The PDF.
    """
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    add_cjk_font(pdf, font)
    pdf.add_page()
    pdf.set_font("cjk", size=15)
    pdf.set_xy(10, 8)
    pdf.cell(0, 8, title)
    pdf.set_font("cjk", size=8)
    pdf.set_text_color(70, 70, 70)
    pdf.set_xy(10, 16)
    pdf.cell(0, 5, subtitle)
    pdf.set_text_color(0, 0, 0)
    box_w, box_h = 297 - 20 - _LEGEND_W - 4, 210 - 26 - 14
    aspect = size[1] / size[0]
    w, h = (box_w, box_w * aspect) if box_w * aspect <= box_h else (box_h / aspect, box_h)
    pdf.image(io.BytesIO(image), x=10, y=24, w=w, h=h)
    pdf.set_draw_color(150, 150, 150)
    pdf.rect(10, 24, w, h)
    pdf.set_font("cjk", size=8)
    pdf.set_xy(10, 24 + h + 1.5)
    pdf.cell(w, 5, scale_text)
    x, y = 10 + w + 5, 24
    pdf.set_font("cjk", size=10)
    pdf.set_xy(x, y)
    pdf.cell(_LEGEND_W, 6, legend_word)
    y += 7
    pdf.set_font("cjk", size=8)
    if legend.title:
        pdf.set_xy(x, y)
        pdf.cell(_LEGEND_W, 5, legend.title)
        y += 5.5
    for label, colour in legend.classes:
        pdf.set_fill_color(*_rgb(colour))
        pdf.rect(x, y + 0.8, 6, 3.4, style="DF")
        pdf.set_xy(x + 8, y)
        pdf.cell(_LEGEND_W - 8, 5, label)
        y += 5
    y += 2
    for label, colour, width in legend.lines:
        pdf.set_draw_color(*_rgb(colour))
        pdf.set_line_width(max(width * 0.25, 0.2))
        pdf.line(x, y + 2.5, x + 6, y + 2.5)
        pdf.set_xy(x + 8, y)
        pdf.cell(_LEGEND_W - 8, 5, label)
        y += 5
    pdf.set_line_width(0.2)
    pdf.set_draw_color(255, 255, 255)
    for label, colour in legend.symbols:
        if y > 200:
            break
        pdf.set_fill_color(*_rgb(colour))
        pdf.ellipse(x + 1.5, y + 1, 3, 3, style="DF")
        pdf.set_xy(x + 8, y)
        pdf.cell(_LEGEND_W - 8, 5, label)
        y += 5
    return bytes(pdf.output())
