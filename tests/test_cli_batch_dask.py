"""`gridmap locate-batch --engine dask`: partitions located on a dask.distributed cluster give the single-process answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from app.cli import main
from app.geo import _batch_dask
from app.geo._batch_dask import locate_partitions, partitions
from app.geo.batch import BatchError
from app.geo.dataset import Dataset


def _parts(ds: Dataset, folder: Path, kinds: tuple[str, ...] = ("csv", "parquet", "csv")) -> Path:
    """A folder of small partitions (CSV and Parquet), points inside, outside and bad."""
    folder.mkdir()
    pts = ds.grids.geometry.representative_point()
    for i, kind in enumerate(kinds):
        rows = [{"id": f"{i}-{j}", "lon": f"{p.x:.6f}", "lat": f"{p.y:.6f}"} for j, p in enumerate(pts[i:i + 3])]
        rows += [{"id": f"{i}-far", "lon": "100.5", "lat": "30.25"}, {"id": f"{i}-bad", "lon": "x", "lat": ""},
                 {"id": f"{i}-swap", "lon": f"{pts.iloc[i].y:.6f}", "lat": f"{pts.iloc[i].x:.6f}"}]
        df = pd.DataFrame(rows)
        if kind == "csv":
            df.to_csv(folder / f"part-{i}.csv", index=False)
        else:
            df.to_parquet(folder / f"part-{i}.parquet")
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_dask_threads_give_the_single_process_answers(ds: Dataset, tmp_path: Path):
    parts = partitions([_parts(ds, tmp_path / "in")])
    local = locate_partitions(ds, parts, tmp_path / "local", chunk_rows=2)
    dasked = locate_partitions(ds, parts, tmp_path / "dask", engine="dask", workers=2, processes=False,
                               chunk_rows=2)
    assert _files(tmp_path / "local") == _files(tmp_path / "dask")
    assert sorted(_files(tmp_path / "dask")) == ["part-0.csv", "part-1.parquet", "part-2.csv"]
    assert [r.counts for r in local] == [r.counts for r in dasked]
    assert sum(r.counts["invalid"] for r in dasked) == 3
    got = pd.read_parquet(tmp_path / "dask" / "part-1.parquet").set_index("id")
    assert got.loc["1-swap", "status"] == "ok" and "swapped" in got.loc["1-swap", "message"]
    # GeoParquet results for every partition
    locate_partitions(ds, parts, tmp_path / "geo", engine="dask", workers=2, processes=False, suffix=".geoparquet")
    assert sorted(_files(tmp_path / "geo")) == ["part-0.geoparquet", "part-1.geoparquet", "part-2.geoparquet"]


def test_dask_processes_from_the_cli(runner, data_dir: Path, ds: Dataset, tmp_path: Path):
    src = _parts(ds, tmp_path / "in", ("parquet", "parquet"))
    r = runner.invoke(main, ["locate-batch", str(src), "--out", str(tmp_path / "local"), "-q",
                             "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["locate-batch", str(src), "--engine", "dask", "--workers", "2",
                             "--out", str(tmp_path / "dask"), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert "partition 2/2" in r.stderr and "wrote 2 files" in r.stdout
    assert _files(tmp_path / "local") == _files(tmp_path / "dask")


@pytest.mark.parametrize(
    ("args", "expect"),
    [(["--engine", "spark"], "unknown engine 'spark'"),
     (["--workers", "2"], "--scheduler and --workers go with --engine dask"),
     (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler at tcp://127.0.0.1:9")],
)
def test_bad_engine_options(runner, data_dir: Path, ds: Dataset, tmp_path: Path, monkeypatch, args, expect):
    monkeypatch.setattr(_batch_dask, "CONNECT_TIMEOUT_S", 1)
    src = _parts(ds, tmp_path / "in")
    r = runner.invoke(main, ["locate-batch", str(src), "--out", str(tmp_path / "o"), *args,
                             "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and expect in r.output and "Traceback" not in r.output, r.output
    r = runner.invoke(main, ["--lang", "zh", "locate-batch", str(src), "--out", str(tmp_path / "o"), *args,
                             "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and any("\u4e00" <= ch <= "\u9fff" for ch in r.output)


def test_bad_partitions(runner, data_dir: Path, ds: Dataset, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.md").write_text("x")
    r = runner.invoke(main, ["locate-batch", str(tmp_path / "empty"), "--engine", "dask", "--out",
                             str(tmp_path / "o"), "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and "no CSV or Parquet partitions" in r.output and "Traceback" not in r.output
    src = _parts(ds, tmp_path / "mixed", ("csv", "csv"))
    (src / "part-9.csv").write_text("id,x,y\n1,98.2,39.7\n", encoding="utf-8")
    r = runner.invoke(main, ["locate-batch", str(src), "--engine", "dask", "--out", str(tmp_path / "o"),
                             "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and "partition part-9.csv has other columns than part-0.csv" in r.output
    r = runner.invoke(main, ["--lang", "zh", "locate-batch", str(src), "--engine", "dask", "--out",
                             str(tmp_path / "o"), "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and "所有分区必须有相同的列" in r.output
    assert not (tmp_path / "o").exists()
    with pytest.raises(BatchError, match="is a file"):
        (tmp_path / "file").write_text("x")
        locate_partitions(ds, partitions([tmp_path / "mixed" / "part-0.csv"]), tmp_path / "file")
