"""Coverage parameters: distance modes, aggregation levels, planning-standard presets and their validation."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from app.errors import GridmapError
from app.geo.schema import CATEGORIES, LEVELS
from app.geo.schema import DISTANCE_MODES as MODES

#: Largest radius accepted, in metres.
MAX_RADIUS_M = 5000.0

#: Marks an argument the caller left out (None is a value: "no target").
UNSET: Any = object()


class CoverageError(GridmapError, ValueError):
    """A coverage request that cannot be answered, with a message that names the problem."""

    default_key = "coverage"


@dataclass(frozen=True)
class Standard:
    """One planning standard and the numbers gridmap takes from it.

    Attributes
    ----------
    key : str
        Identifier, e.g. ``gb50180_circles``.
    document : str
        The document, e.g. ``GB 50180-2018《城市居住区规划设计标准》``; ``gridmap`` for gridmap's own choices.
    clause : str
        Where in the document.
    zh, en : str
        What the standard says (and how gridmap uses it), in Chinese and in English.
    values : dict
        The numbers gridmap uses, by name (metres or percent).
    gridmap_choice : bool
        True when the number is gridmap's choice rather than the document's.
    """

    key: str
    document: str
    clause: str
    zh: str
    en: str
    values: dict[str, float] = field(default_factory=dict)
    gridmap_choice: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the standard as JSON-able data."""
        return asdict(self)


#: Share of a unit's residents (percent) that must be within a required kind's distance for the
#: kind to count as within reach of the unit (gridmap's choice, see ``STANDARDS["gridmap_kind_target"]``).
KIND_TARGET_PCT = 90.0

#: The planning standards behind the presets and their numbers, in one place. Every preset and
#: requirement names its entry; entries with ``gridmap_choice`` are gridmap's, not the document's.
STANDARDS: dict[str, Standard] = {
    s.key: s
    for s in (
        Standard("gb50180_circles", "GB 50180-2018《城市居住区规划设计标准》", "2.0.2–2.0.4, 表 3.0.4",
                 "生活圈居住区按居民步行可达划分：15分钟生活圈步行距离 800–1000 m，10分钟 500 m，5分钟 300 m；"
                 "gridmap 取上限（15分钟 1000 m）。",
                 "Living circles by walking distance: 15-minute 800–1000 m, 10-minute 500 m, 5-minute 300 m; "
                 "gridmap uses the upper bound (1000 m for the 15-minute circle).",
                 {"circle_15min_m": 1000.0, "circle_10min_m": 500.0, "circle_5min_m": 300.0}),
        Standard("gb50180_bus_stop", "GB 50180-2018《城市居住区规划设计标准》", "附录 C（交通场站：公交车站）",
                 "公交车站服务半径不宜大于 500 m。", "Bus stops: service radius should not exceed 500 m.",
                 {"bus_stop_m": 500.0}),
        Standard("gb50220_bus_stop", "GB 50220-95《城市道路交通规划设计规范》", "3.3.2",
                 "公共交通车站服务面积：以 300 m 半径计不小于 50%，以 500 m 半径计不小于 90%（规范按用地面积计，"
                 "gridmap 按居民计）。",
                 "Public transport stops: 300 m radius covers at least 50%, 500 m at least 90% (the code counts "
                 "land area; gridmap counts residents).",
                 {"radius_300_pct": 50.0, "radius_500_pct": 90.0}),
        Standard("gb55014_park", "GB 55014-2021《园林绿化工程项目规范》", "公园绿地服务半径覆盖率",
                 "公园绿地服务半径覆盖率 > 80%；“300米见绿、500米见园”。gridmap 以 500 m 计覆盖率。",
                 "Park service-radius coverage above 80% (\"green within 300 m, a park within 500 m\"); "
                 "gridmap measures it at 500 m.",
                 {"radius_m": 500.0, "target_pct": 80.0}),
        Standard("gridmap_circle_kinds", "gridmap", "生活圈设施类别",
                 "各生活圈以本地设施类别代表标准所列配套设施：15分钟——图书馆分馆、老年大学分校、中医馆；"
                 "10分钟——公交站、社区自习室、停车场；5分钟——公园绿地、健身点。每类取所属生活圈的步行距离。",
                 "Local facility kinds stand for each circle's facilities: 15-minute — library branch, senior "
                 "university branch, TCM clinic; 10-minute — bus stop, study room, parking; 5-minute — park, "
                 "fitness site. Each kind takes its circle's walking distance.",
                 gridmap_choice=True),
        Standard("gridmap_kind_target", "gridmap", "达标规则",
                 f"一个单元（网格、社区、街道、全市）内至少 {KIND_TARGET_PCT:g}% 的居民在某类设施的服务距离内，"
                 "该类设施才算可达；任一必需类别不可达即为未达标。GB 50180-2018 只规定距离，未规定比例。",
                 f"A required kind is within reach of a unit (grid, committee, division, city) when at least "
                 f"{KIND_TARGET_PCT:g}% of its residents are within that kind's distance; a unit is underserved "
                 "when any required kind is out of reach. GB 50180-2018 sets distances, not shares.",
                 {"target_pct": KIND_TARGET_PCT}, gridmap_choice=True),
        Standard("gridmap_parking_ratio", "gridmap", "每百户停车位",
                 "按单元计算每百户停车位（停车场车位数 ÷ 户数 × 100），不设目标：GB 50180-2018 第 5 章"
                 "将居住区配建停车指标交由所在城市规定。",
                 "Parking spaces per 100 households (spaces ÷ households × 100) are computed per unit without a "
                 "target: GB 50180-2018 chapter 5 leaves residential parking ratios to the city's own rules.",
                 gridmap_choice=True),
        Standard("straight_line", "gridmap", "距离模式",
                 "标准的距离是步行距离；直线模式是其近似（直线距离不大于步行距离），步行模式沿道路网计算。",
                 "The standards' distances are walking distances; straight-line mode approximates them (never "
                 "longer than the walk), walk mode follows the road network.", gridmap_choice=True),
    )
}


@dataclass(frozen=True)
class Requirement:
    """One facility kind a preset requires, with its own distance.

    Attributes
    ----------
    category : str
        A key of :data:`app.geo.schema.CATEGORIES`.
    distance_m : float
        The kind's distance in metres.
    standard : str
        The key of :data:`STANDARDS` the distance comes from.
    """

    category: str
    distance_m: float
    standard: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the requirement as JSON-able data, with the category's names."""
        cat = CATEGORIES[self.category]
        return {"category": self.category, "zh": cat.zh, "en": cat.en, "distance_m": self.distance_m,
                "standard": self.standard}


@dataclass(frozen=True)
class Preset:
    """A planning-standard preset: the required facility kinds, each with its own distance, and the target.

    Presets are defaults: every interface lets the planner change the kinds, the distances and
    the target. A unit is underserved when any required kind is out of reach
    (:data:`KIND_TARGET_PCT`); ``categories``/``radii``/``targets`` keep the pooled
    ("any of") reading of the same facilities for single-category questions.

    Attributes
    ----------
    key : str
        Identifier, e.g. ``bus_stop``.
    zh, en : str
        Labels.
    categories : tuple of str
        Facility categories of the preset.
    radii : tuple of float
        The standard's distances, in metres.
    targets : dict
        Target share of residents (percent) by radius, for the pooled reading; radii without a target mark nothing.
    strict : bool
        True when the share must be *above* the target (``>``), False for ``>=``.
    standard : str
        Where the numbers come from, in one line.
    requirements : tuple of Requirement
        Each required kind with its own distance.
    kind_target_pct : float
        Share of residents that must reach each required kind.
    standards : tuple of str
        Keys of :data:`STANDARDS` behind the preset.
    """

    key: str
    zh: str
    en: str
    categories: tuple[str, ...]
    radii: tuple[float, ...]
    targets: dict[float, float] = field(default_factory=dict)
    strict: bool = False
    standard: str = ""
    requirements: tuple[Requirement, ...] = ()
    kind_target_pct: float = KIND_TARGET_PCT
    standards: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the preset as JSON-able data (``requirements`` and ``standards`` spelled out)."""
        d = asdict(self)
        d["targets"] = {str(int(k) if float(k).is_integer() else k): v for k, v in self.targets.items()}
        d["categories"] = list(self.categories)
        d["radii"] = list(self.radii)
        d["requirements"] = [r.to_dict() for r in self.requirements]
        d["standards"] = [STANDARDS[k].to_dict() for k in self.standards]
        return d


def _circle(key: str, zh: str, en: str, kinds: tuple[str, ...], distance: float, minutes: int) -> Preset:
    reqs = tuple(Requirement(k, distance, "gb50180_circles") for k in kinds)
    return Preset(key, zh, en, kinds, (distance,), {}, False,
                  f"GB 50180-2018: {minutes}-minute living circle, {distance:g} m walking; "
                  f"each kind within {distance:g} m for ≥ {KIND_TARGET_PCT:g}% of residents (gridmap)",
                  reqs, KIND_TARGET_PCT, ("gb50180_circles", "gridmap_circle_kinds", "gridmap_kind_target"))


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("bus_stop", "公交站点覆盖", "Bus stop coverage", ("bus_stop",), (300.0, 500.0),
               {300.0: 50.0, 500.0: 90.0}, False,
               "GB 50220-95: 300 m ≥ 50%, 500 m ≥ 90%; GB 50180-2018: bus stop service radius ≤ 500 m",
               (Requirement("bus_stop", 500.0, "gb50180_bus_stop"),), 90.0, ("gb50220_bus_stop", "gb50180_bus_stop")),
        Preset("park", "公园绿地服务半径覆盖", "Park service radius", ("park",), (300.0, 500.0),
               {500.0: 80.0}, True,
               "GB 55014-2021: 公园绿地服务半径覆盖率 > 80%; 300米见绿、500米见园",
               (Requirement("park", 500.0, "gb55014_park"),), 80.0, ("gb55014_park",)),
        _circle("circle_5min", "5分钟生活圈", "5-minute living circle", ("fitness", "park"), 300.0, 5),
        _circle("circle_10min", "10分钟生活圈", "10-minute living circle", ("bus_stop", "parking", "study_room"),
                500.0, 10),
        _circle("circle_15min", "15分钟生活圈", "15-minute living circle",
                ("library", "senior_university", "tcm_clinic"), 1000.0, 15),
    )
}


@dataclass(frozen=True)
class CoverageParams:
    """The parameters of one coverage question (validated; build with :func:`make_params`).

    Two rules: without ``requirements`` the facilities of ``categories`` are pooled ("any of",
    within ``radius_m``); with ``requirements`` every kind must be within its own distance
    ("all of"), ``categories`` are the required kinds and ``radius_m`` the largest distance.
    """

    categories: tuple[str, ...]
    radius_m: float
    mode: str = "straight"
    target_pct: float | None = None
    strict: bool = False
    requirements: tuple[tuple[str, float], ...] = ()
    preset: str | None = None

    @property
    def rule(self) -> str:
        """``all`` (each required kind within its own distance) or ``any`` (pooled categories)."""
        return "all" if self.requirements else "any"

    def label(self, lang: str = "zh") -> str:
        """Return a short human label, e.g. ``公交站 500 m 直线`` or ``15分钟生活圈 直线``."""
        en = lang != "zh"
        mode = {"straight": ("直线", "straight line"), "walk": ("步行", "walking")}[self.mode][en]
        if self.preset is not None and self.requirements == preset_requirements(self.preset):
            p = PRESETS[self.preset]
            return f"{p.en if en else p.zh} {mode}"
        if self.requirements:
            sep = ", " if en else "、"
            kinds = sep.join(f"{CATEGORIES[c].en if en else CATEGORIES[c].zh} {d:g} m" for c, d in self.requirements)
            return f"{kinds} {mode}"
        names = "+".join(CATEGORIES[c].en if en else CATEGORIES[c].zh for c in self.categories)
        return f"{names} {self.radius_m:g} m {mode}"

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as JSON-able data (``requirements`` empty for pooled questions)."""
        return {
            "categories": list(self.categories),
            "radius_m": self.radius_m,
            "mode": self.mode,
            "target_pct": self.target_pct,
            "target_rule": None if self.target_pct is None else (">" if self.strict else ">="),
            "rule": self.rule,
            "preset": self.preset,
            "requirements": [{"category": c, "distance_m": d} for c, d in self.requirements],
        }


def preset_requirements(key: str) -> tuple[tuple[str, float], ...]:
    """The ``(category, distance_m)`` pairs of a preset, sorted by category."""
    return tuple(sorted((r.category, r.distance_m) for r in PRESETS[key].requirements))


def check_level(level: str) -> str:
    """Return ``level`` if it is one of :data:`LEVELS`.

    Parameters
    ----------
    level : str
        An aggregation level.

    Returns
    -------
    str
        The level, unchanged.

    Raises
    ------
    CoverageError
        For any other value.
    """
    if level not in LEVELS:
        raise CoverageError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    return level


def default_target(categories: Iterable[str], radius_m: float) -> tuple[float | None, bool]:
    """Return the preset target for a category set and radius, if a preset defines one.

    Parameters
    ----------
    categories : iterable of str
        Facility categories.
    radius_m : float
        Radius in metres.

    Returns
    -------
    tuple
        ``(target_pct, strict)``; ``(None, False)`` when no preset has exactly these
        categories with a target at this radius.
    """
    cats = tuple(sorted(set(categories)))
    for p in PRESETS.values():
        if tuple(sorted(p.categories)) == cats and float(radius_m) in p.targets:
            return p.targets[float(radius_m)], p.strict
    return None, False


def make_params(
    categories: str | Iterable[str] | None = None,
    radius_m: float | str | None = None,
    mode: str = "straight",
    target_pct: float | str | None = UNSET,
    strict: bool | None = None,
    *,
    requirements: str | Mapping[str, float] | Iterable[Any] | None = None,
    preset: str | None = None,
) -> CoverageParams:
    """Validate a coverage question.

    Parameters
    ----------
    categories : str or iterable of str, optional
        One or several keys of :data:`app.geo.schema.CATEGORIES`; their facilities are pooled.
        Not used with ``requirements`` or ``preset``.
    radius_m : float, optional
        Distance in metres, 0 < radius <= :data:`MAX_RADIUS_M` (with ``categories``).
    mode : str
        ``straight`` or ``walk``.
    target_pct : float or None, optional
        Target share of residents within reach, in percent (with requirements: per kind).
        Omitted: the preset's (:func:`default_target`, :attr:`Preset.kind_target_pct`, else
        :data:`KIND_TARGET_PCT` for requirements); None: no target.
    strict : bool, optional
        Whether the share must be above (not just reach) the target; defaults to the preset's rule.
    requirements : str, mapping or iterable, optional
        Required kinds, each with its own distance: ``{"library": 1000}``, ``[("library", 1000)]``,
        :class:`Requirement` objects or ``"library:1000,tcm_clinic:800"``.
    preset : str, optional
        A key of :data:`PRESETS`: its requirements (unless ``requirements`` is given), target and rule.

    Returns
    -------
    CoverageParams
        Validated parameters, categories sorted and deduplicated.

    Raises
    ------
    CoverageError
        When a value is missing or out of range.
    """
    if mode not in MODES:
        raise CoverageError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if preset is not None and preset not in PRESETS:
        raise CoverageError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    if preset is not None or requirements is not None:
        reqs = _requirements(requirements) if requirements is not None else preset_requirements(str(preset))
        p = PRESETS[preset] if preset is not None else _preset_of(reqs)
        default = p.kind_target_pct if p is not None else KIND_TARGET_PCT
        target = _target(target_pct, default)
        rule = (p.strict if p is not None else False) if strict is None else bool(strict)
        return CoverageParams(tuple(c for c, _ in reqs), max(d for _, d in reqs), mode, target, rule, reqs,
                              preset if preset is not None else (p.key if p is not None else None))
    if categories is None or radius_m is None:
        raise CoverageError("give facility categories and a radius, requirements or a preset")
    if isinstance(categories, str):
        categories = [c for c in categories.split(",")]
    cats = sorted({str(c).strip() for c in categories if str(c).strip()})
    if not cats:
        raise CoverageError("choose at least one facility category")
    for c in cats:
        _category(c)
    radius = _distance(radius_m, "radius")
    preset_target, preset_strict = default_target(cats, radius)
    target = _target(target_pct, preset_target)
    return CoverageParams(tuple(cats), radius, mode, target, preset_strict if strict is None else bool(strict))


def _category(c: str) -> str:
    if c not in CATEGORIES:
        raise CoverageError(f"unknown category {c!r}; expected one of {', '.join(CATEGORIES)}")
    return c


def _distance(value: Any, name: str) -> float:
    d = _number(value, name)
    if not 0 < d <= MAX_RADIUS_M:
        raise CoverageError(f"{name} must be more than 0 and at most {MAX_RADIUS_M:g} m, got {d:g}")
    return d


def _target(value: Any, default: float | None) -> float | None:
    """The target share: ``default`` when omitted, None for none, else a percentage."""
    if value is UNSET:
        return default
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    target = _number(value, "target")
    if not 0 <= target <= 100:
        raise CoverageError(f"target must be a percentage from 0 to 100, got {target:g}")
    return target


def _requirements(value: str | Mapping[str, float] | Iterable[Any]) -> tuple[tuple[str, float], ...]:
    """Required kinds as sorted ``(category, distance_m)`` pairs, each kind once."""
    if isinstance(value, str):
        pairs: list[Any] = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            cat, sep, dist = part.partition(":")
            if not sep:
                raise CoverageError(f"requirement {part!r} needs a distance, e.g. library:1000")
            pairs.append((cat.strip(), dist.strip()))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        pairs = [(v.category, v.distance_m) if isinstance(v, Requirement) else tuple(v) for v in value]
    out: dict[str, float] = {}
    for pair in pairs:
        if len(pair) != 2:
            raise CoverageError(f"a requirement is a category and a distance, got {pair!r}")
        cat = _category(str(pair[0]).strip())
        if cat in out:
            raise CoverageError(f"category {cat!r} is required twice")
        out[cat] = _distance(pair[1], f"distance of {cat}")
    if not out:
        raise CoverageError("choose at least one required facility kind")
    return tuple(sorted(out.items()))


def _preset_of(reqs: tuple[tuple[str, float], ...]) -> Preset | None:
    """The preset with exactly these requirements, if any."""
    return next((p for p in PRESETS.values() if preset_requirements(p.key) == reqs), None)


def _number(value: Any, name: str) -> float:
    """``value`` as a finite float; booleans are refused although Python counts them as numbers."""
    if isinstance(value, bool):
        raise CoverageError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CoverageError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise CoverageError(f"{name} must be a finite number, got {value!r}")
    return number
