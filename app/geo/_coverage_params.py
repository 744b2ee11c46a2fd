"""Coverage parameters: distance modes, aggregation levels, planning-standard presets and their validation."""

from __future__ import annotations

import math
from collections.abc import Iterable
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
class Preset:
    """A planning-standard preset: categories, radii and the coverage target per radius.

    Presets are defaults: every interface lets the planner change the categories, the
    radius and the target.

    Attributes
    ----------
    key : str
        Identifier, e.g. ``bus_stop``.
    zh, en : str
        Labels.
    categories : tuple of str
        Facility categories whose union is analysed.
    radii : tuple of float
        The standard's distances, in metres.
    targets : dict
        Target share of residents (percent) by radius; radii without a target mark nothing.
    strict : bool
        True when the share must be *above* the target (``>``), False for ``>=``.
    standard : str
        Where the numbers come from.
    """

    key: str
    zh: str
    en: str
    categories: tuple[str, ...]
    radii: tuple[float, ...]
    targets: dict[float, float] = field(default_factory=dict)
    strict: bool = False
    standard: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the preset as JSON-able data."""
        d = asdict(self)
        d["targets"] = {str(int(k) if float(k).is_integer() else k): v for k, v in self.targets.items()}
        d["categories"] = list(self.categories)
        d["radii"] = list(self.radii)
        return d


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("bus_stop", "公交站点覆盖", "Bus stop coverage", ("bus_stop",), (300.0, 500.0),
               {300.0: 50.0, 500.0: 90.0}, False,
               "GB 50220-95: 300 m ≥ 50%, 500 m ≥ 90%; 公交都市 500 m ≥ 90%"),
        Preset("park", "公园绿地服务半径覆盖", "Park service radius", ("park",), (300.0, 500.0),
               {500.0: 80.0}, True,
               "GB 55014-2021: 公园绿地服务半径覆盖率 > 80%; 300米见绿、500米见园"),
        Preset("circle_5min", "5分钟生活圈", "5-minute living circle", ("park", "fitness"), (300.0,),
               {}, False, "GB 50180-2018: 5-minute living circle ≈ 300 m"),
        Preset("circle_10min", "10分钟生活圈", "10-minute living circle",
               ("bus_stop", "study_room", "parking"), (500.0,), {}, False,
               "GB 50180-2018: 10-minute living circle ≈ 500 m"),
        Preset("circle_15min", "15分钟生活圈", "15-minute living circle",
               ("library", "senior_university", "tcm_clinic"), (1000.0,), {}, False,
               "GB 50180-2018: 15-minute living circle ≈ 800-1000 m"),
    )
}


@dataclass(frozen=True)
class CoverageParams:
    """The parameters of one coverage question (validated; build with :func:`make_params`)."""

    categories: tuple[str, ...]
    radius_m: float
    mode: str = "straight"
    target_pct: float | None = None
    strict: bool = False

    def label(self, lang: str = "zh") -> str:
        """Return a short human label, e.g. ``公交站 500 m 直线``."""
        names = "+".join(CATEGORIES[c].zh if lang == "zh" else CATEGORIES[c].en for c in self.categories)
        mode = {"straight": ("直线", "straight line"), "walk": ("步行", "walking")}[self.mode][lang != "zh"]
        return f"{names} {self.radius_m:g} m {mode}"

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as JSON-able data."""
        return {
            "categories": list(self.categories),
            "radius_m": self.radius_m,
            "mode": self.mode,
            "target_pct": self.target_pct,
            "target_rule": None if self.target_pct is None else (">" if self.strict else ">="),
        }


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
    categories: str | Iterable[str],
    radius_m: float | str,
    mode: str = "straight",
    target_pct: float | str | None = UNSET,
    strict: bool | None = None,
) -> CoverageParams:
    """Validate a coverage question.

    Parameters
    ----------
    categories : str or iterable of str
        One or several keys of :data:`app.geo.schema.CATEGORIES`; their facilities are pooled.
    radius_m : float
        Distance in metres, 0 < radius <= :data:`MAX_RADIUS_M`.
    mode : str
        ``straight`` or ``walk``.
    target_pct : float or None, optional
        Target share of residents within reach, in percent. Omitted: the preset's target
        (:func:`default_target`); None: no target.
    strict : bool, optional
        Whether the share must be above (not just reach) the target; defaults to the preset's rule.

    Returns
    -------
    CoverageParams
        Validated parameters, categories sorted and deduplicated.

    Raises
    ------
    CoverageError
        When a value is missing or out of range.
    """
    if isinstance(categories, str):
        categories = [c for c in categories.split(",")]
    cats = sorted({str(c).strip() for c in categories if str(c).strip()})
    if not cats:
        raise CoverageError("choose at least one facility category")
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise CoverageError(f"unknown category {unknown[0]!r}; expected one of {', '.join(CATEGORIES)}")
    radius = _number(radius_m, "radius")
    if not 0 < radius <= MAX_RADIUS_M:
        raise CoverageError(f"radius must be more than 0 and at most {MAX_RADIUS_M:g} m, got {radius:g}")
    if mode not in MODES:
        raise CoverageError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    preset_target, preset_strict = default_target(cats, radius)
    if target_pct is UNSET:
        target = preset_target
    elif target_pct is None or (isinstance(target_pct, str) and target_pct.strip() == ""):
        target = None
    else:
        target = _number(target_pct, "target")
        if not 0 <= target <= 100:
            raise CoverageError(f"target must be a percentage from 0 to 100, got {target:g}")
    return CoverageParams(tuple(cats), radius, mode, target, preset_strict if strict is None else bool(strict))


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
