"""Rewrite the settings table in README.md from app/settings.py (run after adding a setting)."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import markdown_table

readme = Path(__file__).resolve().parent.parent / "README.md"
text = readme.read_text(encoding="utf-8")
text = re.sub(r"(<!-- settings-table:.*?-->\n).*?(\n<!-- /settings-table -->)",
              lambda m: m.group(1) + markdown_table() + m.group(2), text, flags=re.S)
readme.write_text(text, encoding="utf-8")
