"""Pages on phones before and after issue 13's phone layout: overflow, sign-in and language reachable, map height, in one run.

Run: .venv/bin/python benchmarks/bench_phone.py [--before 3702b60^] [--sizes 390x844,360x640]

The "before" side is the tree of a commit (``git archive`` into a temporary folder, the current vendored
assets linked in), the "after" side this working tree; both are served over the demo city by a real
`gridmap serve` and measured in Debian's Chromium (Playwright) with the same script. Per page and viewport:
how far the page is wider than the screen (px), whether sign-in and the language switch can be reached
(on screen, or after one tap on the menu button), the navigation bar's height, and on map pages the map's
height as a share of the viewport.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGES = {"home": "/", "grid": "/grids/620201001001001", "committee": "/committees/620201001001",
         "locate": "/locate", "coverage": "/coverage", "login": "/login", "error": "/grids/none"}
MAPS = {"home": ".folium-map", "coverage": "#gm-cov-map"}
_REACH = """(sel) => { const els = [...document.querySelectorAll(sel)]; return els.some(e => { const r = e.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= innerWidth + 1 && r.top >= 0 && r.bottom <= innerHeight
    && getComputedStyle(e).visibility !== 'hidden'; }); }"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(commit: str, into: Path) -> Path:
    """Extract ``commit`` into ``into`` and link the current vendored assets (never committed) into it."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    vendor = into / "app/web/static/vendor"
    if not vendor.exists():
        vendor.symlink_to(REPO / "app/web/static/vendor")
    return into


def _serve(tree: Path, instance: Path) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env.update(GRIDMAP_BASEMAP="none", GRIDMAP_INSTANCE_DIR=str(instance), GRIDMAP_LANGUAGE="zh", PYTHONPATH=str(tree))
    code = "import sys; sys.argv[0] = 'gridmap'; from app.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", str(port), "--data-dir", str(REPO / "geodata")],
                            cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            return proc, base
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit(f"the server of {tree} did not start") from None
            time.sleep(0.5)


def _measure(browser, base: str, size: tuple[int, int]) -> dict[str, dict[str, object]]:
    out = {}
    for name, path in PAGES.items():
        ctx = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="zh-CN")
        page = ctx.new_page()
        page.goto(base + path)
        if name == "home":
            page.wait_for_selector("body[data-gridmap-ready]", state="attached", timeout=30000)
        page.wait_for_timeout(800)
        row: dict[str, object] = {"overflow": page.evaluate("document.scrollingElement.scrollWidth - innerWidth"),
                                  "nav_h": round(page.evaluate("document.querySelector('nav').getBoundingClientRect().height"))}
        if name in MAPS:
            h = page.evaluate(f"document.querySelector('{MAPS[name]}').getBoundingClientRect().height")
            row["map"] = f"{100 * h / size[1]:.0f}%"
        reach = page.evaluate(_REACH, "a[href^='/login']") and page.evaluate(_REACH, ".gm-lang a")
        taps = 0
        if not reach and page.locator(".gm-nav-toggle").count() and page.locator(".gm-nav-toggle").is_visible():
            page.click(".gm-nav-toggle")
            page.wait_for_timeout(300)
            taps = 1
            reach = page.evaluate(_REACH, "a[href^='/login']") and page.evaluate(_REACH, ".gm-lang a")
        row["signin+lang"] = (f"yes ({taps} tap)" if taps else "yes") if reach else "no"
        out[name] = row
        ctx.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="3702b60^", help="commit of the before side (default: before the phone layout)")
    ap.add_argument("--sizes", default="390x844,360x640")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-phone-"))
    results = {}
    try:
        sides = {"before": _tree(args.before, tmp / "before"), "after": REPO}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            for side, tree in sides.items():
                proc, base = _serve(tree, tmp / f"inst-{side}")
                try:
                    for size in sizes:
                        results[(side, size)] = _measure(browser, base, size)
                finally:
                    proc.terminate()
                    proc.wait(10)
            browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for size in sizes:
        print(f"\n{size[0]}x{size[1]}   (before = {args.before}, after = working tree)")
        print(f"{'page':<10} {'overflow px':>16} {'sign-in+language reachable':>34} {'nav height':>14} {'map height':>14}")
        for name in PAGES:
            b, a = results[("before", size)][name], results[("after", size)][name]
            print(f"{name:<10} {b['overflow']:>7} → {a['overflow']:<6} {b['signin+lang']:>15} → {a['signin+lang']:<15}"
                  f" {b['nav_h']:>5} → {a['nav_h']:<5} {b.get('map', '-'):>6} → {a.get('map', '-'):<6}")


if __name__ == "__main__":
    main()
