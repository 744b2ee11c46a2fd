"""Fixtures the web tests share: one headless Debian Chromium per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web.browsing import ARGS, CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium, launched through Playwright (the modules using it skip when either is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
