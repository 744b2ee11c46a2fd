"""What the browser tests share: Debian Chromium's path and flags, the artifacts folder and a recording page."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests import helpers

ARTIFACTS = helpers.REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def have_chromium() -> bool:
    """True when Debian's chromium is installed (the browser tests skip otherwise)."""
    return Path(CHROMIUM).exists()


class Page:
    """A page that records console errors and every request it makes."""

    def __init__(self, browser: object, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def off_host(self) -> list[str]:
        """The requests that went anywhere but the server under test."""
        host = urlsplit(self.base).netloc
        return [u for u in self.requests if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != host]

    def open_map(self, path: str = "/") -> None:
        """Open a map page and wait until its script says it is ready."""
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-gridmap-ready]", state="attached", timeout=15000)

    def until(self, script: str, timeout: float = 15.0) -> None:
        """Poll a JS expression until it is truthy (wait_for_function needs eval, which the CSP forbids)."""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(script):
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for: {script}")
            self.page.wait_for_timeout(100)

    def shot(self, name: str) -> None:
        """Save a screenshot into test-artifacts/."""
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name))

    def close(self) -> None:
        """Close the page's browser context."""
        self.context.close()
