"""The `gridmap` command line: one entry point for serving, data, analysis and accounts.

Each concern's commands live in a module of this package; they register on :data:`main` when
imported here. A command translates its options, calls the core (``app.geo``) and prints; the
core's refusals (:class:`app.errors.GridmapError`) become an exit 1 with their message in
``app.cli._base``, not in each command.
"""

from __future__ import annotations

from app.cli import accounts, analysis, city, data, events, rebalance, recommend, serving, store  # noqa: F401  (they register)
from app.cli._base import main

__all__ = ["main"]
