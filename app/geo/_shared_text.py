"""One str object per distinct text across a version's structures, so each grid code or name is held once."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def shared(value: T) -> T:
    """Return ``value``, or for a str the one object every structure holding that text shares (``sys.intern``).

    A pandas column gives a new str object per cell each time it is read (its strings live in Arrow
    buffers), so the search index, the locate answers, the tile properties, the grid index and the
    address matcher each held their own copy of every grid code and name: ~2 MB per copy at 30,650
    grids. Interned strings are freed again when nothing holds them.
    """
    return sys.intern(value) if type(value) is str else value  # type: ignore[return-value]


def shared_list(values: Iterable[T]) -> list[T]:
    """Return ``values`` as a list, each str replaced by its shared object (see :func:`shared`)."""
    return [sys.intern(v) if type(v) is str else v for v in values]  # type: ignore[misc]
