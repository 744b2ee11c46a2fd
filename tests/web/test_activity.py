"""The request stamp shared by the worker processes: background work waits until no request has come for a moment."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from app.web import _activity
from tests import helpers


def _touch_later(activity: _activity.Activity, after: float) -> None:
    time.sleep(after)
    activity.touch()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="workers are forks")
def test_a_request_in_a_forked_worker_is_seen_by_the_others() -> None:
    activity = _activity.Activity()
    time.sleep(0.3)
    assert activity.quiet_for() >= 0.3
    child = multiprocessing.get_context("fork").Process(target=_touch_later, args=(activity, 0.0))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0 and activity.quiet_for() < 0.3


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="workers are forks")
def test_waiting_for_quiet_lasts_until_requests_stop() -> None:
    activity = _activity.Activity()
    child = multiprocessing.get_context("fork").Process(target=_touch_later, args=(activity, 0.3))
    started = time.monotonic()
    child.start()
    activity.wait_quiet(0.5)  # the child's request at 0.3 s puts the quiet back
    waited = time.monotonic() - started
    child.join(timeout=30)
    assert waited >= 0.8 and activity.quiet_for() >= 0.5


def test_every_request_is_stamped_the_fast_lane_too(tmp_path) -> None:
    app = helpers.folder_app(helpers.MINI)
    activity = app.extensions["gridmap.activity"]
    client = app.test_client()
    for url in ("/healthz", "/api/v1/locate/point?lon=98.2745&lat=39.7862"):
        time.sleep(0.2)
        assert activity.quiet_for() >= 0.2
        asked = time.monotonic()
        assert client.get(url).status_code == 200
        assert activity.quiet_for() <= time.monotonic() - asked, url  # stamped when it came in
