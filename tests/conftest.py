"""Shared fixtures: an app, a test client and a CLI runner on a small temporary copy of the mini city."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import create_app

DATA = Path(__file__).parent / "data"
MINI = DATA / "mini"
REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "geodata"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A private copy of the mini city that a test may change freely."""
    dest = tmp_path / "geodata"
    shutil.copytree(MINI, dest)
    return dest


@pytest.fixture
def app(data_dir: Path):
    """The application on the mini city."""
    return create_app({"TESTING": True, "DATA_DIR": str(data_dir), "SECRET_KEY": "test"})


@pytest.fixture
def client(app):
    """A Flask test client."""
    return app.test_client()


@pytest.fixture
def runner() -> CliRunner:
    """A click runner for `gridmap` commands."""
    return CliRunner()
