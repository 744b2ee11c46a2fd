"""Text hygiene shared by the importer and the validator: hidden characters, their names, NFC, escaping."""

from __future__ import annotations

import re
import unicodedata

#: Characters that do not show but change what a text is: zero-width and bidi controls, by name.
#: Control characters (category Cc, NUL included) are hidden too; they are named in :func:`char_name`.
INVISIBLE: dict[str, str] = {
    "\u200b": "zero-width space",
    "\u200c": "zero-width non-joiner",
    "\u200d": "zero-width joiner",
    "\u2060": "word joiner",
    "\ufeff": "zero-width no-break space (byte order mark)",
    "\u202a": "left-to-right embedding",
    "\u202b": "right-to-left embedding",
    "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override",
    "\u202e": "right-to-left override",
    "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate",
    "\u2068": "first strong isolate",
    "\u2069": "pop directional isolate",
    "\u200e": "left-to-right mark",
    "\u200f": "right-to-left mark",
    "\u061c": "Arabic letter mark",
}

#: Any hidden character: category Cc (U+0000-U+001F, U+007F-U+009F) or one of :data:`INVISIBLE`.
HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f" + "".join(INVISIBLE) + "]")


def is_code_field(field: str) -> bool:
    """True for a field holding a code or an id: kept exactly as given, compared, and put in URLs."""
    return field.endswith("code") or field == "id"


def char_name(ch: str) -> str:
    """Name a hidden character for a message, with an article: ``a zero-width space (U+200B)``.

    Parameters
    ----------
    ch : str
        One character.

    Returns
    -------
    str
        Its name and code point.
    """
    if ch == "\x00":
        name = "NUL character"
    elif ch in INVISIBLE:
        name = INVISIBLE[ch]
    elif unicodedata.category(ch) == "Cc":
        name = "control character"
    else:
        name = unicodedata.name(ch, "character").lower()
    article = "an" if name[0] in "aeiouAEIOU" else "a"
    return f"{article} {name} (U+{ord(ch):04X})"


def escape(text: str) -> str:
    """Return ``text`` with its hidden characters written as escapes (``\\x00``, ``\\u200b``) a message shows."""
    return HIDDEN.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def shown(text: str, limit: int = 24) -> str:
    """Quote a text for a message: hidden characters escaped, cut after ``limit`` characters with ``…``."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return f"'{escape(cut)}'"


def hidden_problem(field: str, text: str) -> str | None:
    """Say where a text holds hidden characters, or None when it holds none.

    Parameters
    ----------
    field : str
        The field's name, e.g. ``code``.
    text : str
        Its value.

    Returns
    -------
    str or None
        E.g. ``code '6202\\u200b01…' has a zero-width space (U+200B) at position 5``: the
        first one, its position counted from 1, and how many more there are.
    """
    found = [m.start() for m in HIDDEN.finditer(text)]
    if not found:
        return None
    first = found[0]
    more = f" (and {len(found) - 1} more hidden characters)" if len(found) > 1 else ""
    return f"{field} {shown(text)} has {char_name(text[first])} at position {first + 1}{more}"


def strip_hidden(text: str) -> str:
    """Return ``text`` without its hidden characters, in NFC."""
    return nfc(HIDDEN.sub("", text))


def nfc(text: str) -> str:
    """Return ``text`` in Unicode normal form C (composed), as codes and names are stored."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)
