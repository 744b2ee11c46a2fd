"""Event photos: type checked by content, size-limited, re-encoded as JPEG without any metadata."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from app.geo._events_model import EventError

#: Largest upload accepted, in bytes.
MAX_PHOTO_BYTES = 8 * 1024 * 1024
#: Most photos on one report or one transition.
MAX_PHOTOS = 4
#: Most pixels decoded (a decompression bomb is refused before it is decoded).
MAX_PIXELS = 40_000_000
#: Longest side kept; larger photos are scaled down.
MAX_SIDE = 2048
#: Formats accepted, as Pillow names them after reading the content (the file name is not trusted).
FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "GIF", "MPO"})


@dataclass(frozen=True)
class Photo:
    """One photo ready to store: a fresh JPEG with no EXIF, ICC comment or other metadata.

    Attributes
    ----------
    data : bytes
        The JPEG.
    sha256 : str
        Hex digest of ``data``.
    width, height : int
        Pixels.
    content_type : str
        Always ``image/jpeg``.
    """

    data: bytes
    sha256: str
    width: int
    height: int
    content_type: str = "image/jpeg"


class PhotoError(EventError):
    """A photo refused: not an image by content, too large, too many, or unreadable (400 or 413)."""

    default_key = "events.photo"


def clean_photo(raw: bytes | Any, number: int = 1) -> Photo:
    """Check one upload by its content and re-encode it.

    EXIF (GPS included) is always dropped, never kept: the event's location is stored on its
    own, and a photo's GPS may be the reporter's home. The image is turned upright by its EXIF
    orientation first, so dropping EXIF does not rotate it.

    Parameters
    ----------
    raw : bytes or file-like
        The uploaded bytes.
    number : int
        Its position, for messages.

    Raises
    ------
    PhotoError
        Too large (413), not JPEG/PNG/WebP/GIF by content, too many pixels, or undecodable (400).
    """
    from PIL import Image, ImageOps

    data = raw if isinstance(raw, bytes | bytearray) else raw.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(f"photo {number} is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB", 413)
    if not data:
        raise PhotoError(f"photo {number} is empty")
    try:
        probe_file = Image.open(io.BytesIO(data))
    except (OSError, ValueError, SyntaxError):  # UnidentifiedImageError: no image format recognised
        raise PhotoError(f"photo {number} is not a JPEG, PNG, WebP or GIF image (by its content)") from None
    try:
        with probe_file as probe:
            kind = probe.format
            if kind not in FORMATS:
                raise PhotoError(f"photo {number} is not a JPEG, PNG, WebP or GIF image (by its content)")
            if probe.width * probe.height > MAX_PIXELS:
                raise PhotoError(f"photo {number} has more than {MAX_PIXELS} pixels")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.seek(0)
            upright = ImageOps.exif_transpose(image)
            upright = upright.convert("RGB")
            upright.thumbnail((MAX_SIDE, MAX_SIDE))
            out = io.BytesIO()
            upright.save(out, "JPEG", quality=85, optimize=True)  # no exif=, no icc_profile=: none kept
    except PhotoError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise PhotoError(f"photo {number} is not a readable image") from None
    jpeg = out.getvalue()
    return Photo(jpeg, hashlib.sha256(jpeg).hexdigest(), upright.width, upright.height)


def clean_photos(photos: Any) -> list[Photo]:
    """Check and re-encode a list of uploads (at most :data:`MAX_PHOTOS`).

    Raises
    ------
    PhotoError
        Too many, or one of them refused.
    """
    items = list(photos or ())
    if len(items) > MAX_PHOTOS:
        raise PhotoError(f"at most {MAX_PHOTOS} photos, got {len(items)}")
    return [clean_photo(item, i) for i, item in enumerate(items, 1)]
