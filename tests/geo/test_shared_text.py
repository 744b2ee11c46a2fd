"""Each grid code and name is one str object across a version's structures (memory at 30,650 grids)."""

from __future__ import annotations

from app.geo import search, tiles
from app.geo._locate_reverse import address_table
from app.geo._map_classes import grid_attributes
from app.geo._shared_text import shared, shared_list
from app.geo.dataset import Dataset
from app.geo.locate import _grid_answers, locate_point


def test_shared_gives_one_object_per_text_and_leaves_other_values() -> None:
    a, b = "".join(["6202", "01"]), "".join(["62", "0201"])
    assert a == b and a is not b
    assert shared(a) is shared(b)
    assert shared_list([a, None, 3, b]) == [a, None, 3, b]
    assert shared_list([a, b])[0] is shared_list([b])[0]


def test_structures_of_a_version_share_the_grid_code_strings(ds: Dataset) -> None:
    c = ds.grids.geometry.iloc[0].representative_point()
    locate_point(ds, c.x, c.y)
    code = str(ds.grids["code"].iloc[0])
    held = {
        "locate answers": _grid_answers(ds).codes[0],
        "grid index": ds.grid_index.codes[0],
        "tile properties": tiles._layer(ds, "grids", "wgs84").props.text["code"][0],
        "choropleth attributes": grid_attributes(ds).index[0],
        "search index": next(s for s in search._index(ds).code if s == code),
        "grid rows": next(k for k in ds._grid_rows if k == code),
    }
    if "grid_code" in ds.attributes("addresses").columns:
        table = address_table(ds)
        held["address table"] = next((v for v in table.grid_code.values if v == code), shared(code))
    assert all(v == code for v in held.values()), held
    assert len({id(v) for v in held.values()}) == 1, {k: id(v) for k, v in held.items()}
