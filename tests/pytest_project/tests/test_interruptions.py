"""
Tests that end a worker or wait to be interrupted, for the driver's runs of
what is left behind; skipped unless the driver asks for them.
"""

import os
import time
from pathlib import Path

import pytest

RECORDS = os.environ.get("PYTEST_SAMPLE_RECORDS", "")


@pytest.mark.skipif(os.environ.get("PYTEST_SAMPLE_CRASH") != "1", reason="not asked for")
def test_the_worker_dies():
    # Once: xdist replaces the worker, which must get its databases afresh.
    marker = Path(RECORDS, "crashed")
    if not marker.exists():
        marker.touch()
        os._exit(1)


@pytest.mark.skipif(os.environ.get("PYTEST_SAMPLE_WAIT") != "1", reason="not asked for")
@pytest.mark.django_db
def test_waits_to_be_interrupted(worker_id):
    Path(RECORDS, f"waiting-{worker_id}").touch()
    time.sleep(120)
