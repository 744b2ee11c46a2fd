"""`gridmap` loads only the module of the command run; `locate-batch` keeps its batch index per data version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.cli import COMMANDS, main
from tests import batch_files

REPO = Path(__file__).resolve().parents[1]


def test_every_command_is_in_the_table_and_listed(runner):
    import importlib

    for module in COMMANDS:
        importlib.import_module(f"app.cli.{module}")
    registered = set(main.commands)
    table = {name for names in COMMANDS.values() for name in names}
    assert registered == table, (registered - table, table - registered)
    r = runner.invoke(main, ["--help"])
    assert r.exit_code == 0
    for name, cmd in main.commands.items():
        assert name in r.output and cmd.get_short_help_str(limit=20)[:10] in r.output


def test_locate_batch_imports_only_what_a_coordinate_batch_needs(data_dir: Path, tmp_path: Path):
    """A fresh process with the version's index saved: no pandas, geopandas, Flask, matplotlib or scipy, no
    single-lookup module, no address matcher, full and basic (the first run, which builds the index, reads the
    layers with them)."""
    src = tmp_path / "in.csv"
    src.write_bytes(batch_files.points_csv(50))
    out = tmp_path / "out.csv"
    heavy = ("scipy", "matplotlib", "openpyxl", "pypinyin", "rapidfuzz", "pandas", "geopandas", "flask", "werkzeug")
    env = {**os.environ, "GRIDMAP_INSTANCE_DIR": str(tmp_path / "instance")}
    for run, columns in enumerate(("full", "full", "basic")):
        code = (
            "import sys, json\n"
            "from app.cli import main\n"
            f"main([\"locate-batch\", {str(src)!r}, \"--out\", {str(out)!r}, \"-q\", \"--data-dir\", {str(data_dir)!r},"
            f" \"--columns\", {columns!r}], standalone_mode=False)\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {('app', *heavy)!r})))\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
        unwanted = {m for m in loaded if m.split(".")[0] in heavy
                    or m.startswith(("app.web", "app.geo.locate", "app.geo._locate_reverse", "app.geo.address",
                                     "app.geo.importer"))
                    or m in ("app.cli.serving", "app.cli.events", "app.cli.data")}
        assert run == 0 or not unwanted, (columns, sorted(unwanted))
    assert out.exists()
    assert list((tmp_path / "instance" / "cache").glob("batch-index-*.npz"))


def test_saved_batch_index_gives_the_same_file(runner, data_dir: Path, tmp_path: Path):
    """The first run builds and saves the version's index; the next loads it and writes the same bytes."""
    src = tmp_path / "in.csv"
    src.write_bytes(batch_files.points_csv(300))
    env = {"GRIDMAP_INSTANCE_DIR": str(tmp_path / "instance")}
    outs = []
    for i in range(2):
        out = tmp_path / f"out{i}.csv"
        r = runner.invoke(main, ["locate-batch", str(src), "--out", str(out), "-q", "--data-dir", str(data_dir)],
                          env=env)
        assert r.exit_code == 0, r.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert len(list((tmp_path / "instance" / "cache").glob("batch-index-*.npz"))) == 1


def test_statuses_are_those_of_the_single_lookups():
    from app.geo import batch, locate

    assert batch.STATUSES == locate.STATUSES
