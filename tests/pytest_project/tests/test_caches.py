import os

import pytest
from django.core.cache import cache


def test_no_worker_sees_another_workers_entries(observations):
    assert {worker: seen["seen"] for worker, seen in observations.items()} == {
        worker: [] for worker in observations
    }


def test_a_workers_clear_leaves_the_others_entries(observations):
    assert {worker: seen["survived"] for worker, seen in observations.items()} == {
        worker: True for worker in observations
    }


def test_a_deleted_entry_is_gone(worker_id):
    cache.set("transient", worker_id)
    cache.delete("transient")
    assert cache.get("transient") is None


@pytest.mark.skipif(os.environ.get("PYTEST_SAMPLE_ISOLATE") != "1", reason="not asked for")
def test_every_test_starts_with_an_empty_cache(worker_id):
    # The session fixture wrote this worker's mark before any test ran.
    assert cache.get(f"mark-{worker_id}") is None


@pytest.mark.skipif(os.environ.get("PYTEST_SAMPLE_ISOLATE") != "1", reason="not asked for")
@pytest.mark.django_db
def test_every_database_test_starts_with_an_empty_cache(worker_id):
    assert cache.get(f"mark-{worker_id}") is None
