"""What the importer and the validator find: one finding type, and one report with optional sections."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

#: How many findings of one kind (imports) or of one section (the validator) a text lists before summarising.
LIST_LIMIT = 20

#: Layer -> (Chinese, English) names, as reports, change summaries and the admin pages show them.
LAYER_TITLES: dict[str, tuple[str, str]] = {
    "divisions": ("街道(镇)", "sub-districts and towns"),
    "committees": ("社区(村)", "communities and villages"),
    "grids": ("网格", "grids"),
    "facilities": ("设施", "facilities"),
    "addresses": ("地址", "addresses"),
    "roads": ("道路", "roads"),
}

#: Severity -> (Chinese, English) as reports show it.
SEVERITIES: dict[str, tuple[str, str]] = {
    "error": ("错误", "ERROR"),
    "warning": ("警告", "WARNING"),
    "repaired": ("已修复", "REPAIRED"),
}

#: Problem key -> (Chinese title, English title), for every key the importer, the checks and init-city report.
PROBLEMS: dict[str, tuple[str, str]] = {
    # reading the file
    "unreadable": ("文件无法读取", "unreadable file"),
    "unsupported_format": ("不支持的文件格式", "unsupported format"),
    "too_large": ("文件过大", "file too large"),
    "too_many_features": ("要素过多", "too many features"),
    "too_many_members": ("压缩包内文件过多", "too many files in the archive"),
    "zip_bomb": ("压缩包解压后过大", "archive unpacks too large"),
    "zip_slip": ("压缩包路径不安全", "unsafe path in the archive"),
    "bad_member": ("压缩包内文件不安全", "unsafe archive member"),
    "nested_archive": ("压缩包内嵌套压缩包", "archive inside an archive"),
    "duplicate_member": ("压缩包内文件重名", "duplicate archive member"),
    "incomplete_shapefile": ("Shapefile 文件不完整", "incomplete Shapefile"),
    "no_prj": ("缺少坐标系文件 (.prj)", "no .prj file"),
    "encoding": ("文字编码", "text encoding"),
    "ambiguous_encoding": ("编码无法确定", "ambiguous encoding"),
    "no_features": ("没有要素", "no features"),
    "bad_feature": ("要素格式错误", "malformed feature"),
    "hidden_characters": ("含隐藏字符", "hidden characters"),
    # layers and fields
    "unknown_layer": ("未知图层", "unknown layer"),
    "unknown_layer_file": ("无法识别图层", "layer not recognised"),
    "ambiguous_layer": ("图层不明确", "ambiguous layer"),
    "missing_layer": ("缺少图层", "missing layer"),
    "missing_field": ("缺少字段", "missing field"),
    "ambiguous_field": ("字段不明确", "ambiguous field"),
    "unknown_field": ("未知字段", "unknown field"),
    "extra_columns": ("多余字段", "extra columns"),
    "mapped_fields": ("字段对应", "fields mapped"),
    "missing_value": ("缺少取值", "missing value"),
    "filled_fields": ("已填入默认值", "defaults filled in"),
    "bad_value": ("取值无效", "invalid value"),
    "unknown_category": ("无法识别设施类别", "unknown category"),
    "generated_ids": ("已生成编号", "ids generated"),
    # codes and hierarchy
    "missing_code": ("缺少编码", "missing code"),
    "duplicate_code": ("重复编码", "duplicate code"),
    "generated_codes": ("已生成编码", "codes generated"),
    "code_scheme": ("编码不符合规则", "code does not follow the scheme"),
    "duplicate_name": ("名称重复", "duplicate name"),
    "unknown_parent": ("上级区域不存在", "unknown parent"),
    "no_parents": ("缺少上级区域", "no parent layer"),
    "derived_layer": ("由网格汇总生成", "derived from the grids"),
    "outside_parent": ("超出上级区域", "outside its parent"),
    # coordinates and coordinate systems
    "unknown_crs": ("坐标系无法识别", "unknown coordinate system"),
    "assumed_crs": ("已假定坐标系", "coordinate system assumed"),
    "crs_override": ("坐标系已按指定改用", "coordinate system overridden"),
    "latlon_swap": ("经纬度可能颠倒", "probable lat/lon swap"),
    "out_of_range": ("坐标超出范围", "coordinates out of range"),
    "outside_china": ("位于中国境外", "outside China"),
    "outside_crs_area": ("超出坐标系适用范围", "outside the coordinate system's area"),
    "far_from_city": ("远离本市范围", "far from the city"),
    "crs_identity": ("境外坐标不作偏移", "no shift outside China"),
    "crs_hint": ("按列名确定坐标系", "coordinate system from the column names"),
    "bad_coordinates": ("坐标无效", "invalid coordinates"),
    "nan_coordinates": ("坐标为非数值", "NaN coordinates"),
    "empty_coordinates": ("坐标为空", "empty coordinates"),
    "no_coordinates": ("表格无坐标或地址", "table without coordinates or addresses"),
    # geometry
    "empty_geometry": ("几何为空", "empty geometry"),
    "bad_geometry": ("几何无法读取", "unreadable geometry"),
    "invalid_geometry": ("几何无效", "invalid geometry"),
    "wrong_geometry_type": ("几何类型不符", "wrong geometry type"),
    "unclosed_ring": ("多边形未闭合", "unclosed ring"),
    "repaired": ("已修复", "repaired"),
    "area_recomputed": ("面积已重新计算", "area recomputed"),
    "overlap": ("网格重叠", "overlap"),
    "gap": ("网格间隙", "gap"),
    "sliver": ("细小重叠或缝隙", "sliver"),
    "noded": ("共享边已对齐", "shared edges snapped"),
    # points and grids
    "no_grid": ("尚无网格", "no grids stored"),
    "outside_grids": ("不在任何网格内", "outside every grid"),
    "grid_mismatch": ("所在网格不符", "grid does not match"),
    # standard-address lists (标准地址库)
    "composed_address": ("地址由各部分组成", "address composed from its parts"),
    "duplicate_address": ("地址重复", "duplicate address"),
    "no_residents": ("缺少人口或户数", "no residents or households"),
    "place_mismatch": ("街道或社区与网格不符", "sub-district or committee differs from the grid's"),
    "aliases": ("别名", "aliases"),
    "alias_file": ("别名文件", "alias file"),
    "alias_unknown_name": ("别名对应的名称不存在", "alias of an unknown name"),
    "alias_conflict": ("别名冲突", "conflicting alias"),
    "units_merged": ("单元已合并到楼栋", "units merged into their building"),
}


def problem_title(key: str, lang: str = "zh") -> str:
    """Return a problem key's title in Chinese (``zh``) or English (``en``).

    Parameters
    ----------
    key : str
        A problem key such as ``duplicate_code``.
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    str
        The title; the key itself when it has none.
    """
    pair = PROBLEMS.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def layer_title(layer: str, lang: str = "zh") -> str:
    """Return a layer's name in Chinese (``zh``) or English (``en``); the key itself when unknown."""
    pair = LAYER_TITLES.get(layer)
    if pair is None:
        return layer
    return pair[1] if lang == "en" else pair[0]


def severity_label(severity: str) -> str:
    """Return a severity in Chinese and English, e.g. ``错误 ERROR``."""
    zh, en = SEVERITIES.get(severity, (severity, severity.upper()))
    return f"{zh} {en}"


def _problem_label(problem: str, lang: str = "en") -> str:
    """The problem as a text line names it: its Chinese title and its key (the key alone when untitled); under
    ``zh`` the title alone."""
    title = problem_title(problem)
    if lang == "zh":
        return title
    return f"{title} {problem}" if title != problem else problem


def _zh(text: str) -> str:
    """A piece of the validator's report in Chinese (:mod:`app.messages_validate`)."""
    from app import messages_validate

    return messages_validate.text(text)


def _frame(key: str, **parts: object) -> str:
    """One of the Chinese report's own lines (:data:`app.messages_validate.FRAME`), filled in."""
    from app import messages_validate

    return messages_validate.FRAME[key].format(**parts)


def _counts_zh(n_err: int, n_warn: int) -> dict[str, str]:
    """``errors`` and ``warnings`` as the Chinese verdicts say them (``2 个错误``)."""
    return {"errors": _frame("errors", n=n_err), "warnings": _frame("warnings", n=n_warn)}


def _file_label(source: str) -> str:
    """The file as a finding names it: a path's last part, else what the report was given."""
    return PurePath(source).name if PurePath(source).is_absolute() else source


@dataclass(frozen=True)
class Finding:
    """One problem found in data: how bad, what, in which feature and where.

    Attributes
    ----------
    severity : str
        ``error`` (refuses the import, fails the validation), ``warning`` or ``repaired``.
    problem : str
        Short key of the problem, e.g. ``overlap``; empty for the validator's findings.
    message : str
        What is wrong, said so that the user can fix it.
    feature : str, optional
        The feature: a label such as ``#3 (620201001001001)`` or a code.
    place : str, optional
        Where, as ``lon, lat`` (imports) or ``lon,lat`` (the validator).
    layer : str, optional
        The layer the feature belongs to (the validator checks several).
    field : str, optional
        The field (column) the problem is in, e.g. ``code``.
    """

    severity: str
    problem: str
    message: str
    feature: str | None = None
    place: str | None = None
    layer: str | None = None
    field: str | None = None

    @property
    def is_error(self) -> bool:
        """True for a finding that refuses the import or fails the validation."""
        return self.severity == "error"

    def title(self, lang: str = "zh") -> str:
        """Return the problem's title in ``zh`` or ``en`` (see :data:`PROBLEMS`)."""
        return problem_title(self.problem, lang) if self.problem else ""

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as an import report lists it."""
        return {"severity": self.severity, "problem": self.problem, "title_zh": self.title("zh"),
                "title_en": self.title("en"), "message": self.message, "feature": self.feature,
                "field": self.field, "place": self.place}

    def format(self, source: str | None = None, lang: str = "en") -> str:
        """Return one line of text, as an import report lists it.

        Parameters
        ----------
        source : str, optional
            The file the finding is in, named with the feature.
        lang : str
            ``zh``: the labels in Chinese only (the message as the importer words it); else in both.

        Returns
        -------
        str
            E.g. ``错误 ERROR 重复编码 duplicate_code [grids.zip #4] 字段 field code: code G-07 is also used by #2``.
        """
        zh = lang == "zh"
        severity = SEVERITIES.get(self.severity, (self.severity,))[0] if zh else severity_label(self.severity)
        bits = [x for x in (severity, _problem_label(self.problem, lang)) if x]
        where = " ".join(x for x in (_file_label(source) if source else "", self.feature or "") if x)
        if where:
            bits.append(f"[{where}]")
        head = " ".join(bits)
        if self.field:
            head += f" 字段 {self.field}" if zh else f" 字段 field {self.field}"
        line = f"{head}：{_zh(self.message)}" if zh else f"{head}: {self.message}"
        if self.place:
            line += f" @ {self.place}"
        return line

    def section_dict(self) -> dict[str, Any]:
        """Return the finding as a validator section lists it (with its layer, the place as ``where``)."""
        return {"severity": self.severity, "layer": self.layer, "feature": self.feature, "field": self.field,
                "message": self.message, "where": self.place}

    def section_line(self, lang: str = "en") -> str:
        """Return one line of text, as a validator section lists it (``zh``: in Chinese)."""
        feat = f" {self.feature}" if self.feature else ""
        at = f" @ {self.place}" if self.place else ""
        if lang == "zh":
            return _frame("finding", severity=SEVERITIES.get(self.severity, (self.severity,))[0],
                          layer=layer_title(self.layer or ""), feature=feat, message=_zh(self.message), at=at)
        return f"[{self.severity}] {self.layer}{feat}: {self.message}{at}"


def _count(findings: list[Finding], error: bool) -> int:
    return sum(1 for f in findings if f.is_error == error)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass
class Section:
    """The outcome of one validator check: what was checked and what it found."""

    key: str
    title: str
    checked: str = ""
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None

    @property
    def errors(self) -> int:
        """Number of errors."""
        return _count(self.findings, True)

    @property
    def warnings(self) -> int:
        """Number of warnings."""
        return _count(self.findings, False)

    def lines(self, limit: int = LIST_LIMIT, lang: str = "en") -> list[str]:
        """Return the section's lines: a ✓/⚠/✗ head, then at most ``limit`` findings (``zh``: in Chinese)."""
        if lang == "zh":
            return self._lines_zh(limit)
        if self.skipped:
            return [f"– {self.title}: skipped ({self.skipped})"]
        mark = "✗" if self.errors else ("⚠" if self.warnings else "✓")
        counts = [_plural(n, word) for n, word in ((self.errors, "error"), (self.warnings, "warning")) if n]
        detail = self.checked + (f" — {', '.join(counts)}" if counts else "")
        lines = [f"{mark} {self.title}: {detail}"]
        lines += [f"    {f.section_line()}" for f in self.findings[:limit]]
        if len(self.findings) > limit:
            lines.append(f"    ... and {len(self.findings) - limit} more")
        return lines

    def _lines_zh(self, limit: int) -> list[str]:
        """:meth:`lines` in Chinese: the same marks, counts and findings."""
        if self.skipped:
            return [_frame("skipped", title=_zh(self.title), why=_zh(self.skipped))]
        mark = "✗" if self.errors else ("⚠" if self.warnings else "✓")
        counts = [_frame(key, n=n) for n, key in ((self.errors, "errors"), (self.warnings, "warnings")) if n]
        detail = _zh(self.checked)
        if counts:
            detail = _frame("counts", detail=detail, counts="，".join(counts))
        lines = [_frame("section", mark=mark, title=_zh(self.title), detail=detail)]
        lines += [f"    {f.section_line('zh')}" for f in self.findings[:limit]]
        if len(self.findings) > limit:
            lines.append(_frame("more", n=len(self.findings) - limit))
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Return the section as plain data (for JSON)."""
        return {"key": self.key, "title": self.title, "checked": self.checked, "skipped": self.skipped,
                "errors": self.errors, "warnings": self.warnings,
                "issues": [f.section_dict() for f in self.findings]}


@dataclass
class Report:
    """Everything found in one file (an import) or one folder (the validator, by sections).

    A report with sections (the validator's) lists its findings section by section; one
    without (an import's) holds them in :attr:`loose` and lists them by kind under a head
    line naming the file, layer, format and CRS.

    Attributes
    ----------
    source : str
        The file or folder checked.
    sections : list of Section
        The validator's checks, in order; empty for an import.
    layer, format, crs : str
        What an import read: target layer, file format and coordinate system.
    features : int
        How many features an import read.
    loose : list of Finding
        Findings outside any section (an import's).
    """

    source: str
    sections: list[Section] = field(default_factory=list)
    layer: str = ""
    format: str = ""
    crs: str = ""
    features: int = 0
    loose: list[Finding] = field(default_factory=list)

    def add(self, severity: str, problem: str, message: str, feature: str | None = None,
            place: str | None = None, field: str | None = None) -> None:
        """Record one finding (``field``: the column the problem is in, if any)."""
        self.loose.append(Finding(severity, problem, message, feature, place, field=field))

    def error(self, problem: str, message: str, feature: str | None = None,
              place: str | None = None, field: str | None = None) -> None:
        """Record a problem that refuses the import."""
        self.add("error", problem, message, feature, place, field)

    def warning(self, problem: str, message: str, feature: str | None = None,
                place: str | None = None, field: str | None = None) -> None:
        """Record a problem that does not refuse the import."""
        self.add("warning", problem, message, feature, place, field)

    @property
    def findings(self) -> list[Finding]:
        """Every finding, in the order found (section by section)."""
        return [*self.loose, *(f for s in self.sections for f in s.findings)]

    @property
    def errors(self) -> list[Finding]:
        """Findings that refuse the import or fail the validation."""
        return [f for f in self.findings if f.is_error]

    @property
    def warnings(self) -> list[Finding]:
        """Findings that do not (warnings and repairs)."""
        return [f for f in self.findings if not f.is_error]

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings are allowed)."""
        return not self.errors

    def problems(self) -> set[str]:
        """The problem keys of the errors."""
        return {f.problem for f in self.errors}

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        counts = {"ok": self.ok, "errors": len(self.errors), "warnings": len(self.warnings)}
        if self.sections:
            return {"folder": self.source, **counts, "sections": [s.to_dict() for s in self.sections]}
        return {"layer": self.layer, "source": self.source, "format": self.format, "crs": self.crs,
                "features": self.features, **counts, "findings": [f.to_dict() for f in self.loose]}

    def format_text(self, limit: int = LIST_LIMIT, lang: str = "en") -> str:
        """Return the report as text, listing at most ``limit`` findings of each kind (or each section).

        ``lang="zh"`` words it in Chinese only (``gridmap --lang zh``); otherwise the validator's report is
        in English and an import's in both languages.
        """
        if self.sections:
            return self._sections_text(limit, lang)
        if lang == "zh":
            return self._import_text_zh(limit)
        n_err, n_warn = len(self.errors), len(self.warnings)
        layer = f"{layer_title(self.layer)} {self.layer}" if self.layer in LAYER_TITLES else (self.layer or "?")
        head = (f"{self.source}: 图层 layer {layer}, 格式 format {self.format or '?'}, 坐标系 CRS {self.crs or '?'}, "
                f"{self.features} 个要素 features: {n_err} 个错误 errors, {n_warn} 个警告 warnings")
        lines = [head]
        shown: dict[tuple[str, str], int] = defaultdict(int)
        hidden: dict[tuple[str, str], int] = defaultdict(int)
        for f in sorted(self.loose, key=lambda f: not f.is_error):
            key = (f.severity, f.problem)
            if shown[key] < limit:
                lines.append("  " + f.format(self.source))
                shown[key] += 1
            else:
                hidden[key] += 1
        for (sev, problem), n in hidden.items():
            lines.append(f"  {severity_label(sev)} {_problem_label(problem)}: 另有 {n} 条 … and {n} more")
        if self.ok:
            lines.append(f"检查通过：{n_err} 个错误，{n_warn} 个警告 / OK: {_plural(n_err, 'error')}, "
                         f"{_plural(n_warn, 'warning')}")
        else:
            lines.append(f"导入被拒绝：{n_err} 个错误，未保存任何内容 / REFUSED: import refused, "
                         f"{_plural(n_err, 'error')}; nothing was stored.")
        return "\n".join(lines)

    def _import_text_zh(self, limit: int) -> str:
        """An import's report in Chinese only: the head, the findings by kind, and the verdict."""
        n_err, n_warn = len(self.errors), len(self.warnings)
        layer = layer_title(self.layer) if self.layer in LAYER_TITLES else (self.layer or "?")
        lines = [f"{self.source}：图层 {layer}，格式 {self.format or '?'}，坐标系 {self.crs or '?'}，"
                 f"{self.features} 个要素：{n_err} 个错误，{n_warn} 个警告"]
        shown: dict[tuple[str, str], int] = defaultdict(int)
        hidden: dict[tuple[str, str], int] = defaultdict(int)
        for f in sorted(self.loose, key=lambda f: not f.is_error):
            key = (f.severity, f.problem)
            if shown[key] < limit:
                lines.append("  " + f.format(self.source, "zh"))
                shown[key] += 1
            else:
                hidden[key] += 1
        for (sev, problem), n in hidden.items():
            lines.append(f"  {SEVERITIES.get(sev, (sev,))[0]} {_problem_label(problem, 'zh')}：另有 {n} 条")
        lines.append(f"检查通过：{n_err} 个错误，{n_warn} 个警告" if self.ok
                     else f"导入被拒绝：{n_err} 个错误，未保存任何内容。")
        return "\n".join(lines)

    def _sections_text(self, limit: int, lang: str = "en") -> str:
        n_err, n_warn = len(self.errors), len(self.warnings)
        verdict = "OK" if self.ok else "FAILED"
        if lang == "zh":
            lines = [_frame("head", source=self.source)]
            lines += [line for s in self.sections for line in s.lines(limit, "zh")]
            lines.append(_frame(verdict, **_counts_zh(n_err, n_warn)))
            return "\n".join(lines)
        lines = [f"Validating {self.source}"]
        for s in self.sections:
            lines += s.lines(limit)
        lines.append(f"{verdict}: {_plural(n_err, 'error')}, {_plural(n_warn, 'warning')}")
        return "\n".join(lines)
