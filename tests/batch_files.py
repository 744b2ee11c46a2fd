"""Batch files for the limit tests: tiny generators of normal, oversized and hostile CSV and XLSX files."""

from __future__ import annotations

import io
import struct
import zipfile

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES = ('<?xml version="1.0" encoding="UTF-8"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" '
          'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
          '<Override PartName="/xl/worksheets/sheet1.xml" '
          'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
          '<Override PartName="/xl/sharedStrings.xml" '
          'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
          '</Types>')
_ROOT_RELS = (f'<?xml version="1.0"?><Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
              f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (f'<?xml version="1.0"?><workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
             '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (f'<?xml version="1.0"?><Relationships xmlns="{_PKG}">'
                  f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
                  f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
                  '</Relationships>')


def workbook(cells: str, shared: list[str] | None = None, big_string_mib: int = 0) -> bytes:
    """An XLSX file whose first sheet's ``<sheetData>`` is ``cells`` (raw XML), with shared strings.

    ``big_string_mib`` adds one more shared string of that many MiB of "A", written a MiB at a
    time (so that a 300 MiB bomb never sits in the test's memory).
    """
    strings = "".join(f"<si><t>{s}</t></si>" for s in shared or [])
    parts = {
        "[Content_Types].xml": _TYPES,
        "_rels/.rels": _ROOT_RELS,
        "xl/workbook.xml": _WORKBOOK,
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS,
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0"?><worksheet xmlns="{_MAIN}"><sheetData>{cells}'
                                    '</sheetData></worksheet>',
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(f'<?xml version="1.0"?><sst xmlns="{_MAIN}">{strings}'.encode())
            if big_string_mib:
                fh.write(b"<si><t>")
                block = b"A" * (1024 * 1024)
                for _ in range(big_string_mib):
                    fh.write(block)
                fh.write(b"</t></si>")
            fh.write(b"</sst>")
    return buf.getvalue()


def cells(rows: list[list[str]]) -> str:
    """``<sheetData>`` XML for rows of text (inline strings), with references as Excel writes them."""
    out = []
    for i, row in enumerate(rows, start=1):
        tags = "".join(f'<c r="{_column(j)}{i}" t="inlineStr"><is><t>{v}</t></is></c>' for j, v in enumerate(row))
        out.append(f'<row r="{i}">{tags}</row>')
    return "".join(out)


def _column(j: int) -> str:
    name = ""
    j += 1
    while j:
        j, rest = divmod(j - 1, 26)
        name = chr(65 + rest) + name
    return name


def shared_string_bomb(mib: int) -> bytes:
    """A small XLSX whose one shared string unpacks to ``mib`` MiB (300 MiB come in about 300 KB)."""
    return workbook('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>lat</t></is></c></row>',
                    big_string_mib=mib)


def lying_bomb(mib: int = 64) -> bytes:
    """An XLSX whose shared strings declare 100 bytes in the zip headers but unpack to ``mib`` MiB."""
    data = bytearray(shared_string_bomb(mib))
    name = b"xl/sharedStrings.xml"
    central = 0
    while True:  # patch the uncompressed size in the part's central and local headers
        central = data.index(b"PK\x01\x02", central)
        name_len, = struct.unpack_from("<H", data, central + 28)
        if bytes(data[central + 46:central + 46 + name_len]) == name:
            struct.pack_into("<I", data, central + 24, 100)
            local, = struct.unpack_from("<I", data, central + 42)
            struct.pack_into("<I", data, local + 22, 100)
            return bytes(data)
        central += 4


def far_cell(ref: str = "XFD1048576") -> bytes:
    """A 1 KB XLSX with a header and one cell at ``ref``: calamine would allocate every cell between."""
    return workbook(f'<row r="1"><c r="A1" t="inlineStr"><is><t>lon</t></is></c>'
                    f'<c r="B1" t="inlineStr"><is><t>lat</t></is></c></row>'
                    f'<row r="{ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}"><c r="{ref}"><v>1</v></c></row>')


def unreferenced_wide_row(columns: int) -> bytes:
    """An XLSX whose second row has ``columns`` cells without references (placed one after another)."""
    return workbook('<row><c t="inlineStr"><is><t>lon</t></is></c><c t="inlineStr"><is><t>lat</t></is></c></row>'
                    '<row>' + "<c><v>1</v></c>" * columns + "</row>")


def long_cell_csv(chars: int = 200_000) -> bytes:
    """A CSV whose one data cell holds ``chars`` characters (the csv module stops at 131072)."""
    return b"lon,lat,note\n98.3,39.8," + b"x" * chars + b"\n"


def wide_csv(columns: int) -> bytes:
    """A CSV of ``columns`` columns (lon, lat and fillers)."""
    names = ["lon", "lat"] + [f"c{i}" for i in range(columns - 2)]
    return (",".join(names) + "\n" + ",".join(["98.3", "39.8"] + ["1"] * (columns - 2)) + "\n").encode()


def points_csv(rows: int, lon: float = 98.29, lat: float = 39.77) -> bytes:
    """A CSV of ``rows`` points around one place, with a name and a note column."""
    lines = ["name,lon,lat,note"]
    lines += [f"p{i},{lon + (i % 997) * 1e-5:.6f},{lat + (i % 991) * 1e-5:.6f},备注{i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()
