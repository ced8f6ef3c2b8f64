"""
Tests that end a worker or wait to be interrupted, for the driver's runs of
what is left behind; skipped unless the driver asks for them.
"""

import os
import time
from pathlib import Path

import pytest
from django.db import connection

RECORDS = os.environ.get("PYTEST_SAMPLE_RECORDS", "")


crash = pytest.mark.skipif(os.environ.get("PYTEST_SAMPLE_CRASH") != "1", reason="not asked for")


# A database test, which pytest-django runs before the tests without one,
# and in the order they are collected in.
@crash
@pytest.mark.django_db
def test_the_worker_dies():
    # Once: xdist replaces the worker, which must get its databases afresh.
    marker = Path(RECORDS, "crashed")
    if not marker.exists():
        marker.touch()
        os._exit(1)


@crash
@pytest.mark.django_db
def test_the_replacement_worker_has_a_database_of_its_own(worker_id):
    # Run by the worker that replaces the crashed one where that worker ran
    # the test above with this one still to come (always so with -n 1).
    Path(RECORDS, f"replacement-{worker_id}").write_text(connection.settings_dict["NAME"])


@pytest.mark.skipif(os.environ.get("PYTEST_SAMPLE_WAIT") != "1", reason="not asked for")
@pytest.mark.django_db
def test_waits_to_be_interrupted(worker_id):
    Path(RECORDS, f"waiting-{worker_id}").touch()
    time.sleep(120)
