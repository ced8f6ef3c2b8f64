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
