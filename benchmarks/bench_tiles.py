"""Moved to bench_map.py (issue 13 names it); this module only keeps ``make_city`` importable for other benchmarks."""

from __future__ import annotations

from bench_map import make_city

__all__ = ["make_city"]

if __name__ == "__main__":
    raise SystemExit("bench_tiles.py is now benchmarks/bench_map.py")
