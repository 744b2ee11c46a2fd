"""Accuracy of the address matcher on seeded variants typed as grid staff do, on the demo city and on 河湾市."""

from __future__ import annotations

import pandas as pd
import pytest

from tests import address_variants as av

#: Queries per variant kind in CI (the full run is benchmarks/bench_address.py).
PER_KIND = 120


def _frame(city: av.City_, seed: int) -> pd.DataFrame:
    variants = av.make_variants(city, PER_KIND, seed=seed)
    return av.score(variants, city.matcher().match_many([v.text for v in variants]))


def _cities() -> list[av.City_]:
    demo = av.demo_city()
    return [c for c in (demo, av.cn_city(addresses=1000, sections=1)) if c is not None]


@pytest.fixture(scope="module", params=["demo", "hewan"])
def scored(request: pytest.FixtureRequest) -> pd.DataFrame:
    if request.param == "demo":
        city = av.demo_city()
        if city is None:
            pytest.skip("geodata/ is absent")
    else:
        city = av.cn_city(addresses=1000, sections=1)
    return _frame(city, seed=3)


def test_variant_set_covers_every_kind(scored: pd.DataFrame) -> None:
    counts = scored["kind"].value_counts()
    assert set(counts.index) == set(av.KINDS)
    assert counts.min() >= PER_KIND * 0.9


def test_right_top1_and_wrong_answer_rate(scored: pd.DataFrame) -> None:
    found = scored[scored["kind"].isin(av.FOUND_KINDS)]
    assert found["right"].mean() >= 0.97  # 98% on the full run; a small sample varies
    assert scored["wrong"].mean() <= 0.003  # 0.1% on the full run: at most a few of ~3,300 here


@pytest.mark.parametrize("kind", ["yard", "extra_suffix", "no_hao", "cn_numeral", "building_word", "unit_room",
                                  "committee", "spaces", "full_width", "prefixes", "annex", "clean"])
def test_formats_are_all_right(scored: pd.DataFrame, kind: str) -> None:
    part = scored[scored["kind"] == kind]
    assert part["right"].mean() >= 0.99, part[~part["right"]].head().to_dict("records")


@pytest.mark.parametrize("kind", ["wrong_char", "homophone", "near_homophone", "swapped", "extra_char"])
def test_typing_errors_are_mostly_right(scored: pd.DataFrame, kind: str) -> None:
    part = scored[scored["kind"] == kind]
    assert part["right"].mean() >= 0.8  # the rest mostly ambiguous: 和吠路 is 和美路 or 和平路
    assert part["wrong"].mean() <= 0.02


@pytest.mark.parametrize("kind", av.ABSENT_KINDS)
def test_absent_addresses_are_not_answered(scored: pd.DataFrame, kind: str) -> None:
    part = scored[scored["kind"] == kind]
    assert part["wrong"].mean() <= 0.02
    if kind == "placeholder":
        assert (part["status"].isin(["not_found", "invalid"])).all()


def test_generator_is_seeded() -> None:
    city = av.cn_city(addresses=1000, sections=1)
    a = av.make_variants(city, 20, seed=5)
    assert a == av.make_variants(city, 20, seed=5)
    assert a != av.make_variants(city, 20, seed=6)
