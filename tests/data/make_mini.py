"""Regenerate the mini test city in tests/data/mini (run: python tests/data/make_mini.py)."""

from __future__ import annotations

from pathlib import Path

from app.geo.demo import generate_mini

if __name__ == "__main__":
    out = Path(__file__).parent / "mini"
    counts = generate_mini(out)
    print(f"wrote {out}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
