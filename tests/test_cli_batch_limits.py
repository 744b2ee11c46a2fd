"""`gridmap locate-batch` within the staff limits: an oversized or hostile file is exit 1 with the named setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from tests import batch_files


@pytest.mark.parametrize(
    ("name", "make", "setting"),
    [("long.csv", lambda: batch_files.long_cell_csv(200_000), "GRIDMAP_BATCH_MAX_CELL_CHARS"),
     ("bomb.xlsx", lambda: batch_files.shared_string_bomb(300), "GRIDMAP_BATCH_MAX_UNPACKED_MB"),
     ("far.xlsx", lambda: batch_files.far_cell(), "GRIDMAP_BATCH_MAX_ROWS"),
     ("wide.csv", lambda: batch_files.wide_csv(201), "GRIDMAP_BATCH_MAX_COLUMNS")],
)
def test_hostile_input_is_exit_1_without_traceback(runner, data_dir: Path, tmp_path: Path, name, make, setting):
    src = tmp_path / name
    src.write_bytes(make())
    out = tmp_path / "out.csv"
    r = runner.invoke(main, ["locate-batch", str(src), "--out", str(out), "--data-dir", str(data_dir)])
    assert r.exit_code == 1, r.output
    assert setting in r.output and str(src) in r.output
    assert "Traceback" not in r.output and not out.exists()


def test_limits_come_from_the_settings(runner, data_dir: Path, tmp_path: Path):
    src = tmp_path / "in.csv"
    src.write_bytes(batch_files.points_csv(30))
    args = ["locate-batch", str(src), "--out", str(tmp_path / "o.csv"), "--data-dir", str(data_dir)]
    r = runner.invoke(main, args, env={"GRIDMAP_BATCH_MAX_ROWS": "20"})
    assert r.exit_code == 1 and "the file has 30 rows; at most 20 are accepted (GRIDMAP_BATCH_MAX_ROWS)" in r.output
    r = runner.invoke(main, args, env={"GRIDMAP_MAX_UPLOAD_MB": "0"})
    assert r.exit_code == 1 and "GRIDMAP_MAX_UPLOAD_MB" in r.output
    assert runner.invoke(main, args, env={"GRIDMAP_BATCH_MAX_ROWS": "30"}).exit_code == 0


def test_result_size_is_limited(runner, data_dir: Path, tmp_path: Path):
    src = tmp_path / "in.csv"
    src.write_bytes(batch_files.points_csv(5000))
    out = tmp_path / "o.geojson"
    r = runner.invoke(main, ["locate-batch", str(src), "--out", str(out), "--data-dir", str(data_dir)],
                      env={"GRIDMAP_BATCH_MAX_RESPONSE_MB": "1"})
    assert r.exit_code == 1 and "GRIDMAP_BATCH_MAX_RESPONSE_MB" in r.output and not out.exists()
