"""The `gridmap` command line: one entry point for serving, data, analysis and accounts.

Each concern's commands live in a module of this package and register on :data:`main` when that
module is imported. :data:`COMMANDS` says which module holds which commands, so `gridmap CMD`
imports only CMD's module (a batch job does not pay for Flask views, matplotlib or the matcher);
`gridmap --help` imports them all. A new module goes in :data:`COMMANDS` (a command missing there
is still found: then every module is imported). A command translates its options, calls the core
(``app.geo``) and prints; the core's refusals (:class:`app.errors.GridmapError`) become an exit 1
with their message in ``app.cli._base``, not in each command.
"""

from __future__ import annotations

from app.cli._base import main

#: The command modules of this package and the commands each registers (tests check the table is complete).
COMMANDS: dict[str, tuple[str, ...]] = {
    "accounts": ("users",),
    "analysis": ("locate", "locate-batch", "coverage"),
    "city": ("init-city",),
    "data": ("demo-data", "validate", "import", "versions", "rollback"),
    "events": ("events",),
    "rebalance": ("rebalance",),
    "recommend": ("recommend",),
    "serving": ("serve", "settings", "assets"),
    "store": ("store",),
}

__all__ = ["COMMANDS", "main"]
