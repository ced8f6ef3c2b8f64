"""
A test that fails the first time, for the driver's run with
pytest-rerunfailures (--reruns): its rerun gets a fresh transaction and a
live server that no longer sees the first attempt's row. Skipped unless the
driver asks for it.
"""

import os
from pathlib import Path

import pytest

from rows.models import Row
from test_live_server import server_rows


@pytest.mark.skipif(os.environ.get("PYTEST_SAMPLE_FLAKY") != "1", reason="not asked for")
def test_fails_once_then_passes_on_a_clean_database(live_server, db, worker_id):
    assert server_rows(live_server, post=worker_id) == [worker_id]
    assert Row.objects.count() == 1
    marker = Path(os.environ["PYTEST_SAMPLE_RECORDS"], "failed-once")
    if not marker.exists():
        marker.touch()
        pytest.fail("the first attempt fails")
