"""The README stays true: its settings table is the one declared in app/settings.py."""

from __future__ import annotations

import re

from app import settings
from tests import helpers

README = helpers.REPO / "README.md"


def _table() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- settings-table:.*?-->\n(.*?)\n<!-- /settings-table -->", text, re.S)
    assert found, "README.md lost its settings-table markers"
    return found.group(1)


def test_settings_table_matches_declared_settings():
    assert _table() == settings.markdown_table(), (
        "README settings table is stale; regenerate it with: "
        ".venv/bin/python -c 'from app.settings import markdown_table; print(markdown_table())'"
    )


def test_readme_has_exactly_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick, re.S).group(1)
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make serve", "make test"]
