"""Standard-address lists (标准地址库) as an office hands them over, made from the mini city for the import tests."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from app.geo.crs import wgs84_to_gcj02
from app.geo.tabular import write_table
from tests.helpers import MINI

#: The alias file the tests give with ``--aliases``: standard name -> alias, one per row.
ALIASES: tuple[tuple[str, str], ...] = (("光华路", "光华大道"), ("嘉和小区", "嘉和苑"), ("雪峰街", "雪峰老街"),
                                        ("没有这条路", "无名路"))


def mini_addresses() -> gpd.GeoDataFrame:
    """The mini city's addresses with their committee and division names (read fresh each call)."""
    a = gpd.read_file(MINI / "addresses.geojson")
    g = gpd.read_file(MINI / "grids.geojson")
    c = gpd.read_file(MINI / "committees.geojson")
    d = gpd.read_file(MINI / "divisions.geojson")
    com = dict(zip(g["code"], g["committee_code"], strict=True))
    com_name = dict(zip(c["code"], c["name"], strict=True))
    div = dict(zip(c["code"], c["division_code"], strict=True))
    div_name = dict(zip(d["code"], d["name"], strict=True))
    a["committee_name"] = [com_name[com[x]] for x in a["grid_code"]]
    a["division_name"] = [div_name[div[com[x]]] for x in a["grid_code"]]
    return a


def address_list(*, gcj02: bool = False, residents: bool = True, split_names: bool = False,
                 alias_column: bool = False) -> pd.DataFrame:
    """A 标准地址库 sheet of every mini address: 街道, 社区, 道路/小区, 门牌号, 楼栋, 经度, 纬度 (户数, 人口, 别名).

    Road rows have a 门牌号 and no 楼栋, compound rows a 楼栋; there is no full-address, kind, id or
    grid-code column.

    Parameters
    ----------
    gcj02 : bool
        Coordinates in GCJ-02, in columns named 经度(GCJ-02)/纬度(GCJ-02); WGS84 经度/纬度 otherwise.
    residents : bool
        With 户数 and 人口 columns.
    split_names : bool
        Separate 街路巷 and 小区名称 columns instead of one 道路/小区.
    alias_column : bool
        With a 别名 column: 嘉和老区 on the first 嘉和小区 row, 振兴街 known as 振兴大街、老振兴街.

    Returns
    -------
    DataFrame
    """
    a = mini_addresses()
    lon, lat = a.geometry.x.to_numpy(), a.geometry.y.to_numpy()
    if gcj02:
        lon, lat = wgs84_to_gcj02(lon, lat)
    road = a["kind"] == "road"
    df = pd.DataFrame({"街道": a["division_name"], "社区": a["committee_name"]})
    if split_names:
        df["街路巷"] = np.where(road, a["street"], "")
        df["小区名称"] = np.where(road, "", a["street"])
    else:
        df["道路/小区"] = a["street"]
    df["门牌号"] = [f"{n}号" if r else "" for n, r in zip(a["number"], road, strict=True)]
    df["楼栋"] = [str(n) if not r else "" for n, r in zip(a["number"], road, strict=True)]
    suffix = "(GCJ-02)" if gcj02 else ""
    df[f"经度{suffix}"] = np.round(lon, 7)
    df[f"纬度{suffix}"] = np.round(lat, 7)
    if residents:
        df["户数"] = a["households"]
        df["人口"] = a["residents"]
    if alias_column:
        alias = pd.Series([""] * len(a))
        alias[a.index[a["street"] == "嘉和小区"][0]] = "嘉和老区"
        alias[a["street"] == "振兴街"] = "振兴大街、老振兴街"
        df["别名"] = alias
    return df


def write_list(df: pd.DataFrame, path: Path, encoding: str | None = None) -> Path:
    """Write a sheet as XLSX or CSV by ``path``'s extension; a CSV in ``encoding`` when given (e.g. gb18030)."""
    if encoding is not None:
        path.write_bytes(df.to_csv(index=False).encode(encoding))
        return path
    write_table(df, path)
    return path


def write_aliases(path: Path, rows: tuple[tuple[str, str], ...] = ALIASES) -> Path:
    """Write an alias file (标准名称, 别名) as CSV or XLSX by ``path``'s extension."""
    write_table(pd.DataFrame(list(rows), columns=["标准名称", "别名"]), path)
    return path


def write_workbook(df: pd.DataFrame, path: Path, rows: tuple[tuple[str, str], ...] = ALIASES) -> Path:
    """Write an XLSX whose first sheet is the list and whose second, named 别名, the aliases (标准名称, 别名)."""
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        df.to_excel(xl, sheet_name="标准地址库", index=False)
        pd.DataFrame(list(rows), columns=["标准名称", "别名"]).to_excel(xl, sheet_name="别名", index=False)
    return path
