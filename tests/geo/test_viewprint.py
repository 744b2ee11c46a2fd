"""Printing the home map's view: PNG and PDF bytes, the PDF's text, the selection, and parameter refusals."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from app.geo import viewprint
from app.geo._viewprint_draw import SELECT_COLOUR
from app.geo.dataset import Dataset


def _view(ds: Dataset, **args: str) -> viewprint.View:
    b = ds.layer("grids").total_bounds
    return viewprint.parse_view({"bbox": ",".join(f"{v:.6f}" for v in b), "size": "600x400", **args})


def test_png_has_title_band_and_map_size(ds: Dataset) -> None:
    import io

    png = viewprint.render_png(ds, _view(ds))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(png))
    assert img.width == 600 and img.height > 400  # title above, legend below


def test_selection_is_drawn(ds: Dataset) -> None:
    import io

    code = str(ds.layer("grids").iloc[0]["code"])
    plain = np.asarray(Image.open(io.BytesIO(viewprint.render_png(ds, _view(ds)))).convert("RGB"))
    sel = np.asarray(Image.open(io.BytesIO(viewprint.render_png(ds, _view(ds, sel=f"grid:{code}")))).convert("RGB"))
    target = np.array([int(SELECT_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])

    def hits(a: np.ndarray) -> int:
        return int((np.abs(a.astype(int) - target).sum(axis=2) < 30).sum())

    assert hits(sel) > 100 > hits(plain)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")
def test_pdf_text_has_title_legend_and_scale(ds: Dataset) -> None:
    g = ds.layer("grids").iloc[0]
    pdf = viewprint.render_pdf(ds, _view(ds, layers="grids,committees,roads,facilities", sel=f"grid:{g['code']}"))
    assert pdf.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert ds.city.title("zh") in text and "网格地图" in text
    assert "人口（人）" in text and "社区（村）界" in text and "道路" in text
    assert "比例尺" in text and ("km" in text or " m" in text)
    assert "合成数据" in text and ds.version in text
    assert str(g["name"]) in text
    for col in ("leader_name", "leader_phone", "worker_name", "worker_phone"):  # never printed, to anyone
        if isinstance(g.get(col), str) and g[col]:
            assert g[col] not in text


def test_english_pdf(ds: Dataset) -> None:
    pdf = viewprint.render_pdf(ds, _view(ds, lang="en", attr="households"))
    assert pdf.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
        assert "Households" in text and "Scale" in text and "Synthetic" in text


def test_view_param_and_size_cap(ds: Dataset) -> None:
    c = ds.layer("grids").geometry.iloc[0].centroid
    v = viewprint.parse_view({"view": f"15/{c.y}/{c.x}", "size": "99999x300"})
    assert v.size == (viewprint.MAX_SIDE, 300)
    assert v.bbox[0] < c.x < v.bbox[2] and v.bbox[1] < c.y < v.bbox[3]
    v = viewprint.parse_view({"view": "15/39.8/98.3", "layers": "grids,facilities:bus_stop"})
    assert v.layers == ("grids", "facilities") and v.categories == ("bus_stop",)


@pytest.mark.parametrize(("args", "param"), [
    ({}, "bbox"),
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "5,5,1,1"}, "bbox"),
    ({"view": "99/1/1"}, "view"),
    ({"view": "a/b/c"}, "view"),
    ({"view": "12/39/98", "size": "0x10"}, "size"),
    ({"view": "12/39/98", "layers": "grids,lakes"}, "layers"),
    ({"view": "12/39/98", "layers": "facilities:nope"}, "layers"),
    ({"view": "12/39/98", "attr": "nope"}, "attr"),
    ({"view": "12/39/98", "sel": "lake:1"}, "sel"),
    ({"view": "12/39/98", "lang": "fr"}, "lang"),
])
def test_bad_parameters(args: dict[str, str], param: str) -> None:
    with pytest.raises(viewprint.ViewError) as e:
        viewprint.parse_view(args)
    assert e.value.status == 400 and e.value.detail["parameter"] == param


def test_unknown_selection(ds: Dataset) -> None:
    with pytest.raises(viewprint.ViewError, match="sel"):
        viewprint.render_png(ds, _view(ds, sel="grid:nope"))


def test_gcj02_view_is_shifted_back() -> None:
    wgs = viewprint.parse_view({"bbox": "98.2,39.7,98.3,39.8"})
    gcj = viewprint.parse_view({"bbox": "98.2,39.7,98.3,39.8", "datum": "gcj02"})
    assert 0.0005 < abs(wgs.bbox[0] - gcj.bbox[0]) < 0.01
    with pytest.raises(viewprint.ViewError, match="datum"):
        viewprint.parse_view({"bbox": "98.2,39.7,98.3,39.8", "datum": "bd09"})


def test_selected_facility(ds: Dataset) -> None:
    fac = ds.layer("facilities").iloc[0]
    png = viewprint.render_png(ds, _view(ds, sel=f"facility:{fac['id']}"))
    assert png[:4] == b"\x89PNG"
