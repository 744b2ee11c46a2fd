"""What the importer and the validator find: one finding type, and one report with optional sections."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

#: How many findings of one kind (imports) or of one section (the validator) a text lists before summarising.
LIST_LIMIT = 20


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
    """

    severity: str
    problem: str
    message: str
    feature: str | None = None
    place: str | None = None
    layer: str | None = None

    @property
    def is_error(self) -> bool:
        """True for a finding that refuses the import or fails the validation."""
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as an import report lists it."""
        return {"severity": self.severity, "problem": self.problem, "message": self.message,
                "feature": self.feature, "place": self.place}

    def format(self) -> str:
        """Return one line of text, as an import report lists it."""
        bits = [f"{self.severity.upper():8s} {self.problem}:"]
        if self.feature:
            bits.append(f"[{self.feature}]")
        bits.append(self.message)
        if self.place:
            bits.append(f"@ {self.place}")
        return " ".join(bits)

    def section_dict(self) -> dict[str, Any]:
        """Return the finding as a validator section lists it (with its layer, the place as ``where``)."""
        return {"severity": self.severity, "layer": self.layer, "feature": self.feature,
                "message": self.message, "where": self.place}

    def section_line(self) -> str:
        """Return one line of text, as a validator section lists it."""
        feat = f" {self.feature}" if self.feature else ""
        at = f" @ {self.place}" if self.place else ""
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

    def lines(self, limit: int = LIST_LIMIT) -> list[str]:
        """Return the section's lines: a ✓/⚠/✗ head, then at most ``limit`` findings."""
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
            place: str | None = None) -> None:
        """Record one finding."""
        self.loose.append(Finding(severity, problem, message, feature, place))

    def error(self, problem: str, message: str, feature: str | None = None,
              place: str | None = None) -> None:
        """Record a problem that refuses the import."""
        self.add("error", problem, message, feature, place)

    def warning(self, problem: str, message: str, feature: str | None = None,
                place: str | None = None) -> None:
        """Record a problem that does not refuse the import."""
        self.add("warning", problem, message, feature, place)

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

    def format_text(self, limit: int = LIST_LIMIT) -> str:
        """Return the report as text, listing at most ``limit`` findings of each kind (or each section)."""
        if self.sections:
            return self._sections_text(limit)
        head = (f"{self.source}: layer {self.layer}, format {self.format or '?'}, CRS {self.crs or '?'}, "
                f"{self.features} features: {len(self.errors)} errors, {len(self.warnings)} warnings")
        lines = [head]
        shown: dict[tuple[str, str], int] = defaultdict(int)
        hidden: dict[tuple[str, str], int] = defaultdict(int)
        for f in sorted(self.loose, key=lambda f: not f.is_error):
            key = (f.severity, f.problem)
            if shown[key] < limit:
                lines.append("  " + f.format())
                shown[key] += 1
            else:
                hidden[key] += 1
        for (sev, problem), n in hidden.items():
            lines.append(f"  {sev.upper():8s} {problem}: … and {n} more")
        lines.append("REFUSED: nothing was stored." if not self.ok else "OK")
        return "\n".join(lines)

    def _sections_text(self, limit: int) -> str:
        lines = [f"Validating {self.source}"]
        for s in self.sections:
            lines += s.lines(limit)
        verdict = "OK" if self.ok else "FAILED"
        n_err, n_warn = len(self.errors), len(self.warnings)
        lines.append(f"{verdict}: {_plural(n_err, 'error')}, {_plural(n_warn, 'warning')}")
        return "\n".join(lines)
