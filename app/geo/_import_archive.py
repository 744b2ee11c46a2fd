"""Zip archives for the importer: check every member before unpacking, then unpack within the limits."""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from app.geo._import_base import _safe_text, _Stop
from app.geo.findings import Report

if TYPE_CHECKING:
    from app.geo.importer import Limits


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\x00" in name:
        return "its name holds a NUL character"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "its path is absolute and would leave the archive"
    if ".." in PurePosixPath(norm).parts:
        return "its path climbs out of the archive (..)"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "it is a symbolic link"
    if info.flag_bits & 0x1:
        return "it is encrypted"
    return None


def check_archive(path: Path, report: Report, limits: Limits) -> list[zipfile.ZipInfo]:
    """Check a zip archive's members before anything is unpacked.

    Refuses members whose paths lead outside the archive (absolute, ``..``), links, encrypted
    members, duplicate names, too many members, too large an unpacked size and zip bombs.

    Parameters
    ----------
    path : Path
        The archive.
    report : Report
        Where problems are recorded.
    limits : Limits
        The size limits.

    Returns
    -------
    list of zipfile.ZipInfo
        The file members (directories and macOS metadata left out); empty when refused.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        report.error("unreadable", f"not a readable zip archive ({_safe_text(exc)})")
        return []
    if len(infos) > limits.max_members:
        report.error("too_many_members", f"the archive holds {len(infos)} members; at most {limits.max_members} allowed")
        return []
    ok = True
    seen: dict[str, str] = {}
    total = 0
    members = []
    for info in infos:
        label = f"archive member {_safe_text(info.filename)!r}"
        why = _member_problem(info)
        if why:
            report.error("zip_slip" if "path" in why else "bad_member", f"refused: {why}", place=label)
            ok = False
            continue
        if info.is_dir():
            continue
        base = PurePosixPath(info.filename.replace("\\", "/")).name
        if base.startswith("._") or "__MACOSX" in info.filename:
            continue
        if base.lower() in seen:
            report.error("duplicate_member", f"two members are both named {base!r} ({seen[base.lower()]!r})",
                         place=label)
            ok = False
            continue
        seen[base.lower()] = info.filename
        total += info.file_size
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            report.error("zip_bomb", f"compressed {info.compress_size} bytes unpack to {info.file_size} bytes "
                         f"(ratio above {limits.max_ratio:.0f}); refusing a probable zip bomb", place=label)
            ok = False
        if Path(base).suffix.lower() == ".zip":
            report.error("nested_archive", "archives inside archives are not accepted", place=label)
            ok = False
        members.append(info)
    if total > limits.max_unpacked_bytes:
        report.error("too_large", f"the archive unpacks to {total} bytes; the limit is {limits.max_unpacked_bytes}")
        ok = False
    return members if ok else []


def _extract(path: Path, members: list[zipfile.ZipInfo], dest: Path, limits: Limits,
             report: Report) -> dict[str, Path]:
    """Unpack members flat into ``dest`` while counting real bytes (headers can lie)."""
    out: dict[str, Path] = {}
    budget = limits.max_unpacked_bytes
    with zipfile.ZipFile(path) as zf:
        for info in members:
            base = PurePosixPath(info.filename.replace("\\", "/")).name
            target = dest / re.sub(r"[^\w.\-\u4e00-\u9fff]", "_", base)
            written = 0
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        budget -= len(chunk)
                        if written > info.file_size or budget < 0:
                            report.error("zip_bomb", "a member unpacks to more bytes than its header declares "
                                         "or than the limit allows", place=f"archive member {base!r}")
                            raise _Stop
                        dst.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
                report.error("unreadable", f"cannot unpack ({_safe_text(exc)})", place=f"archive member {base!r}")
                raise _Stop from None
            out[base.lower()] = target
    return out

