"""The city a data version belongs to: its names, districts, code scheme and metric CRS, as stored in metadata.json."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Endings of a Chinese place name that its short form drops, longest first (嘉峪关市 -> 嘉峪关, 阿里地区 -> 阿里).
NAME_SUFFIXES: tuple[str, ...] = ("特别行政区", "自治区", "自治州", "地区", "省", "市", "盟")
#: Peoples named in autonomous prefectures and regions; dropped after the suffix (临夏回族自治州 -> 临夏).
PEOPLES: tuple[str, ...] = (
    "维吾尔", "蒙古族", "蒙古", "哈萨克", "柯尔克孜", "朝鲜族", "土家族", "布依族", "哈尼族", "傈僳族", "景颇族",
    "回族", "藏族", "羌族", "彝族", "苗族", "侗族", "壮族", "傣族", "白族",
)

#: Fallback for the title when neither the settings nor the data name the city.
DEFAULT_TITLE = "gridmap"


def pinyin_name(name: str) -> str:
    """Return a Chinese place name in pinyin, as its English name by default (``河湾市`` -> ``Hewan``).

    The 市/地区/自治州 ending is dropped first (:func:`short_form`); a name without Chinese
    characters is returned as it is. Polyphonic characters follow pypinyin's reading of the
    phrase, so a mapping file's ``name_en`` should settle an unusual reading.

    Parameters
    ----------
    name : str
        The city's Chinese name.

    Returns
    -------
    str
        The pinyin, capitalised and without tone marks or spaces.
    """
    short = short_form(name)
    if not any("\u4e00" <= ch <= "\u9fff" for ch in short):
        return short
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(short)).capitalize()


def short_form(name: str) -> str:
    """Return a Chinese place name without its administrative ending.

    Parameters
    ----------
    name : str
        A full name such as ``"嘉峪关市"``, ``"甘肃省"``, ``"临夏回族自治州"`` or ``"新疆维吾尔自治区"``.

    Returns
    -------
    str
        ``"嘉峪关"``, ``"甘肃"``, ``"临夏"``, ``"新疆"``; the name itself when it has no such ending or
        when at most one character would be left (a name is never cut below two characters).
    """
    name = name.strip()
    for suffix in NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            name = name[: -len(suffix)]
            break
    cut = True
    while cut:
        cut = False
        for people in PEOPLES:
            if name.endswith(people) and len(name) - len(people) >= 2:
                name = name[: -len(people)]
                cut = True
                break
    return name


def _text(raw: Any) -> str:
    """A metadata value as stripped text ("" for None and non-text)."""
    return raw.strip() if isinstance(raw, str) else ""


@dataclass(frozen=True)
class City:
    """The city of a data version, as ``metadata.json`` stores it under ``"city"``.

    Attributes
    ----------
    name : str
        Full Chinese name as addresses write it, e.g. ``"嘉峪关市"``; ``""`` when unknown.
    name_en : str
        English name, e.g. ``"Jiayuguan"``.
    province : str
        Province as addresses write it, e.g. ``"甘肃省"``; ``""`` outside China or when unknown.
    districts : tuple of str
        County-level names that may precede a division in addresses (``"雄关区"``).
    code_scheme : str
        A key of ``schema.CODE_SCHEMES``: ``"free"`` (unique strings) or ``"cn-9-12-15"``.
    metric_crs : str
        The CRS to measure in, e.g. ``"EPSG:4542"``; ``""`` chooses it from the data
        (:func:`app.geo.schema.metric_crs_for`).
    synthetic : bool
        True for invented data (the demo city).
    """

    name: str = ""
    name_en: str = ""
    province: str = ""
    districts: tuple[str, ...] = ()
    code_scheme: str = "free"
    metric_crs: str = ""
    synthetic: bool = False

    @property
    def short_name(self) -> str:
        """The name without its 市/地区/盟/自治州 ending (``"嘉峪关"``); ``""`` when the name is unknown."""
        return short_form(self.name)

    @property
    def province_short(self) -> str:
        """The province without its 省/自治区/市 ending (``"甘肃"``); ``""`` when unknown."""
        return short_form(self.province)

    def title(self, lang: str = "zh") -> str:
        """Return the name a title shows: the short Chinese name, or the English name for ``lang="en"``.

        Parameters
        ----------
        lang : str
            ``zh`` or ``en``; each falls back to the other name when its own is unknown.

        Returns
        -------
        str
            E.g. ``"嘉峪关"`` or ``"Jiayuguan"``; ``""`` when the city has no name at all.
        """
        zh, en = self.short_name, self.name_en
        return (en or zh) if lang == "en" else (zh or en)

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> City:
        """Read the city from a version's metadata.

        Parameters
        ----------
        meta : mapping
            The parsed ``metadata.json``. The city is ``meta["city"]`` (a dict with the fields of
            this class); values of the wrong type are ignored. ``metric_crs`` falls back to the
            top-level ``"metric_crs"`` and ``synthetic`` to the top-level ``"synthetic"`` of older
            metadata.

        Returns
        -------
        City
            ``City()`` (nothing known, free code scheme) for metadata without a city.
        """
        if not isinstance(meta, Mapping):
            meta = {}
        raw = meta.get("city")
        city: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        districts = city.get("districts")
        if isinstance(districts, str):
            districts = [districts]
        names = tuple(d for d in map(_text, districts) if d) if isinstance(districts, list | tuple) else ()
        return cls(
            name=_text(city.get("name")),
            name_en=_text(city.get("name_en")),
            province=_text(city.get("province")),
            districts=names,
            code_scheme=_text(city.get("code_scheme")) or "free",
            metric_crs=_text(city.get("metric_crs")) or _text(meta.get("metric_crs")),
            synthetic=city.get("synthetic", meta.get("synthetic", False)) is True,
        )

    def to_metadata(self) -> dict[str, Any]:
        """Return the dict stored as ``metadata.json``'s ``"city"`` (JSON-ready; read back by :meth:`from_metadata`)."""
        return {"name": self.name, "name_en": self.name_en, "province": self.province,
                "districts": list(self.districts), "code_scheme": self.code_scheme,
                "metric_crs": self.metric_crs, "synthetic": self.synthetic}


def title_name(meta: Mapping[str, Any], lang: str = "zh", override: str = "") -> str:
    """Return the city name a page title shows.

    Parameters
    ----------
    meta : mapping
        The version's metadata.
    lang : str
        ``zh`` or ``en``.
    override : str
        The CITY_NAME (or CITY_NAME_EN) setting; wins when not empty.

    Returns
    -------
    str
        ``override``, else :meth:`City.title` of the stored city, else the metadata's ``"name"``,
        else :data:`DEFAULT_TITLE`.
    """
    if override.strip():
        return override.strip()
    return City.from_metadata(meta).title(lang) or _text(meta.get("name")) or DEFAULT_TITLE
