"""The geodata validator: clean data passes, and each kind of breakage is caught and located."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely import affinity
from shapely.geometry import mapping, shape

from app.geo import validate
from app.geo.findings import Finding, Report, Section
from app.geo.validate import validate_folder

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "geodata"
MINI = REPO / "tests" / "data" / "mini"


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    dest = tmp_path / "mini"
    shutil.copytree(MINI, dest)
    return dest


def _load(folder: Path, layer: str) -> dict:
    return json.loads((folder / f"{layer}.geojson").read_text(encoding="utf-8"))


def _save(folder: Path, layer: str, fc: dict) -> None:
    (folder / f"{layer}.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")


def _errors(folder: Path, section: str) -> list[Finding]:
    report = validate_folder(folder, expected_grids=None)
    assert not report.ok
    return [i for s in report.sections if s.key == section for i in s.findings if i.severity == "error"]


def _edit_grid(folder: Path, k: int, fn) -> str:
    fc = _load(folder, "grids")
    feat = fc["features"][k]
    feat["geometry"] = mapping(fn(shape(feat["geometry"])))
    _save(folder, "grids", fc)
    return feat["properties"]["code"]


@pytest.mark.skipif(not (DEMO / "grids.geojson").exists(), reason="demo data not generated")
def test_demo_data_is_clean():
    report = validate_folder(DEMO)
    assert report.ok, report.format_text()
    assert not report.warnings
    text = report.format_text()
    assert "✗" not in text and text.splitlines()[-1] == "OK: 0 errors, 0 warnings"


def test_mini_is_clean_and_report_shapes():
    report = validate_folder(MINI, expected_grids=None)
    assert report.ok and not report.findings, report.format_text()
    d = report.to_dict()
    assert d["ok"] and d["errors"] == 0 and {s["key"] for s in d["sections"]} >= {
        "files", "geometry", "attributes", "codes", "numbering", "nesting", "overlaps", "gaps", "sums", "points"}
    assert json.dumps(d, ensure_ascii=False)


def test_expected_grid_count():
    issues = [i for i in validate_folder(MINI, expected_grids=613).errors if i.layer == "grids"]
    assert any("expected 613" in i.message for i in issues)


def test_expected_grid_count_defaults_to_the_metadata_counts(mini):
    assert validate_folder(mini).ok  # metadata.json records the mini's 10 grids
    meta = json.loads((mini / "metadata.json").read_text(encoding="utf-8"))
    meta["counts"]["grids"] = 11
    (mini / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    assert any("10 grids, expected 11" in i.message for i in validate_folder(mini).errors)
    (mini / "metadata.json").unlink()
    assert validate_folder(mini).ok  # nothing recorded: no count check


def _free_scheme(folder: Path) -> None:
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    meta["city"] = {**meta.get("city", {}), "code_scheme": "free"}
    (folder / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def _recode(folder: Path) -> None:
    """Give every area a code of another scheme (G-…, C-…, D-…), parents kept consistent."""
    for layer, prefix in (("divisions", "D-"), ("committees", "C-"), ("grids", "G-")):
        fc = _load(folder, layer)
        for f in fc["features"]:
            p = f["properties"]
            p["code"] = prefix + p["code"]
            for key, pre in (("division_code", "D-"), ("committee_code", "C-")):
                if key in p:
                    p[key] = pre + p[key]
        _save(folder, layer, fc)
    for layer in ("facilities", "addresses"):
        fc = _load(folder, layer)
        for f in fc["features"]:
            f["properties"]["grid_code"] = "G-" + f["properties"]["grid_code"]
        _save(folder, layer, fc)


def test_under_the_cn_scheme_other_codes_are_errors(mini):
    _recode(mini)
    report = validate_folder(mini)
    codes = next(s for s in report.sections if s.key == "codes")
    assert codes.title == "Codes (division 9, committee 12, grid 15 digits)"
    assert sum("digits" in i.message for i in codes.findings) == 15


def test_under_the_free_scheme_codes_are_unique_strings_and_numbering_is_skipped(mini):
    _free_scheme(mini)
    _recode(mini)
    report = validate_folder(mini)
    assert report.ok and not report.findings, report.format_text()
    sections = {s.key: s for s in report.sections}
    assert sections["codes"].title == "Codes (unique, parents exist)"
    assert sections["numbering"].skipped and "free" in sections["numbering"].skipped
    text = report.format_text()
    assert "✓ Codes (unique, parents exist): 2 divisions, 3 committees, 10 grids" in text
    # uniqueness and parents still count
    fc = _load(mini, "grids")
    fc["features"][1]["properties"]["code"] = fc["features"][0]["properties"]["code"]
    fc["features"][2]["properties"]["committee_code"] = "C-nowhere"
    _save(mini, "grids", fc)
    messages = [i.message for i in _errors(mini, "codes")]
    assert any("used by 2" in m for m in messages)
    assert any("committee_code C-nowhere is not in the committees layer" in m for m in messages)
    assert not any("digits" in m or "start with" in m for m in messages)


def test_check_codes_by_scheme():
    d, c, g = (gpd.read_file(MINI / f"{n}.geojson") for n in ("divisions", "committees", "grids"))
    g.loc[0, "code"] = "G-1"
    assert any("is not 15 digits" in i.message for i in validate.check_codes(d, c, g))
    assert validate.check_codes(d, c, g, scheme="free") == []


def test_overlap(mini):
    code = _edit_grid(mini, 0, lambda g: affinity.scale(g, 1.15, 1.15))
    issues = _errors(mini, "overlaps")
    assert any(i.feature == code or code in i.message for i in issues)
    assert all("m²" in i.message and i.place for i in issues)


def test_gap(mini):
    code = _edit_grid(mini, 0, lambda g: affinity.scale(g, 0.8, 0.8))
    issues = _errors(mini, "gaps")
    assert any(i.feature == code[:12] and "gap of" in i.message for i in issues)


def test_duplicate_code(mini):
    fc = _load(mini, "grids")
    fc["features"][1]["properties"]["code"] = fc["features"][0]["properties"]["code"]
    _save(mini, "grids", fc)
    assert any("used by 2" in i.message for i in _errors(mini, "codes"))


def test_bad_code_structure(mini):
    fc = _load(mini, "grids")
    fc["features"][0]["properties"]["code"] = fc["features"][0]["properties"]["code"][:-1] + "X"
    fc["features"][1]["properties"]["code"] = fc["features"][1]["properties"]["code"][:14]
    _save(mini, "grids", fc)
    messages = [i.message for i in _errors(mini, "codes")]
    assert sum("is not 15 digits" in m for m in messages) == 2


def test_committee_code_range_must_match_kind(mini):
    fc = _load(mini, "committees")
    fc["features"][0]["properties"]["kind"] = "village"
    _save(mini, "committees", fc)
    assert any("community range" in i.message for i in _errors(mini, "codes"))


def test_grid_outside_its_committee(mini):
    code = _edit_grid(mini, 0, lambda g: affinity.translate(g, xoff=0.02))
    issues = _errors(mini, "nesting")
    assert any(i.feature == code and "outside its committee" in i.message for i in issues)


def test_bowtie_geometry(mini):
    fc = _load(mini, "grids")
    x, y = fc["features"][0]["geometry"]["coordinates"][0][0]
    d = 0.001
    fc["features"][0]["geometry"] = {"type": "Polygon", "coordinates": [
        [[x, y], [x + d, y + d], [x + d, y], [x, y + d], [x, y]]]}
    _save(mini, "grids", fc)
    issues = _errors(mini, "geometry")
    assert any("Self-intersection" in i.message and i.place for i in issues)


def test_wrong_attribute_type(mini):
    fc = _load(mini, "grids")
    fc["features"][0]["properties"]["population"] = "many"
    _save(mini, "grids", fc)
    issues = _errors(mini, "attributes")
    assert any("'population' should be int" in i.message for i in issues)


def test_hidden_characters_in_codes_are_errors_and_in_names_warnings(mini):
    fc = _load(mini, "grids")
    fc["features"][0]["properties"]["code"] = "6202\u200b01001001001"
    fc["features"][1]["properties"]["name"] = "a\u2066b"  # (GDAL cuts a stored name at a NUL before we see it)
    _save(mini, "grids", fc)
    fac = _load(mini, "facilities")
    fac["features"][0]["properties"]["id"] = "F\u202e1"
    _save(mini, "facilities", fac)
    report = validate_folder(mini, expected_grids=None)
    section = next(s for s in report.sections if s.key == "attributes")
    hidden = {(f.severity, f.layer, f.feature, f.message) for f in section.findings if "position" in f.message}
    assert hidden == {
        ("error", "grids", "6202\\u200b01001001001",
         "code '6202\\u200b01001001001' has a zero-width space (U+200B) at position 5"),
        ("warning", "grids", "620201001001002",
         "name 'a\\u2066b' has a left-to-right isolate (U+2066) at position 2"),
        ("error", "facilities", "F\\u202e1", "id 'F\\u202e1' has a right-to-left override (U+202E) at position 2"),
    }
    assert not report.ok


def test_missing_required_value(mini):
    fc = _load(mini, "addresses")
    fc["features"][0]["properties"]["grid_code"] = None
    _save(mini, "addresses", fc)
    assert any("'grid_code' is empty" in i.message for i in _errors(mini, "attributes"))


def test_address_sum_mismatch(mini):
    fc = _load(mini, "addresses")
    props = fc["features"][0]["properties"]
    props["residents"] += 1
    _save(mini, "addresses", fc)
    issues = _errors(mini, "sums")
    assert [i.feature for i in issues] == [props["grid_code"]]


def test_point_in_wrong_grid(mini):
    fc = _load(mini, "facilities")
    grids = _load(mini, "grids")["features"]
    props = fc["features"][0]["properties"]
    props["grid_code"] = next(g["properties"]["code"] for g in grids if g["properties"]["code"] != props["grid_code"])
    _save(mini, "facilities", fc)
    issues = _errors(mini, "points")
    assert any(i.feature == props["id"] and "lies in" in i.message for i in issues)


def test_facility_vocabulary(mini):
    fc = _load(mini, "facilities")
    fc["features"][0]["properties"]["cjt214_code"] = "0405"
    fc["features"][1]["properties"]["category"] = "zoo"
    _save(mini, "facilities", fc)
    messages = [i.message for i in _errors(mini, "facilities")]
    assert any("expected '0203'" in m for m in messages) and any("'zoo'" in m for m in messages)


def test_missing_optional_layer_is_a_warning(mini):
    (mini / "roads.geojson").unlink()  # a city without a road network still validates
    report = validate_folder(mini, expected_grids=None)
    assert report.ok, report.format_text()
    assert any(i.layer == "roads" and "missing" in i.message for i in report.warnings)
    assert "skipped" in report.format_text()


def test_missing_grids_file_is_an_error(mini):
    (mini / "grids.geojson").unlink()
    report = validate_folder(mini, expected_grids=None)
    assert not report.ok
    assert any(i.layer == "grids" and "missing" in i.message for i in report.errors)


def test_unreadable_file(mini):
    (mini / "facilities.geojson").write_text("{not json", encoding="utf-8")
    report = validate_folder(mini, expected_grids=None)
    assert any(i.layer == "facilities" and "cannot read" in i.message for i in report.errors)


def test_reusable_checks_on_geodataframes():
    grids = gpd.read_file(MINI / "grids.geojson")
    committees = gpd.read_file(MINI / "committees.geojson")
    assert validate.check_grids(grids, committees) == []
    # swap the first two grids' numbers inside one committee: a numbering warning, nothing else
    swapped = grids.copy()
    swapped.loc[0, "code"], swapped.loc[1, "code"] = grids.loc[1, "code"], grids.loc[0, "code"]
    issues = validate.check_numbering(swapped, committees)
    assert [i.severity for i in issues] == ["warning"]
    bowtie = grids.copy()
    bowtie.loc[0, "geometry"] = shapely.Polygon([(98, 39), (98.01, 39.01), (98.01, 39), (98, 39.01)])
    assert any("invalid geometry" in i.message for i in validate.check_grids(bowtie, committees))


def test_format_text_marks_sections():
    bad = Finding("error", "", "bad", feature="1", place="98.1,39.7", layer="grids")
    report = Report("x", [Section("a", "Alpha", "1 thing"), Section("b", "Beta", "2 things", [bad])])
    text = report.format_text()
    assert "✓ Alpha: 1 thing" in text and "✗ Beta: 2 things — 1 error" in text
    assert "[error] grids 1: bad @ 98.1,39.7" in text and text.endswith("FAILED: 1 error, 0 warnings")


def test_metric_crs_follows_the_data(mini):
    assert "EPSG:4542" in validate_folder(mini, expected_grids=None).format_text()
    for path in mini.glob("*.geojson"):  # move the city 5° east, to about Lanzhou's longitude
        gdf = gpd.read_file(path)
        gdf.geometry = shapely.transform(gdf.geometry.values, lambda xy: xy + [5.0, 0.0])
        gdf.to_file(path, driver="GeoJSON", engine="pyogrio")
    report = validate_folder(mini, expected_grids=None)
    assert report.ok and not report.findings, report.format_text()
    titles = {s.key: s.title for s in report.sections}
    assert "EPSG:4543" in titles["overlaps"] and "EPSG:4543" in titles["gaps"]  # GK CM 102E
    assert "4542" not in report.format_text()
