"""
Tests that each worker of a parallel run has caches of its own, whatever the
backend (SAMPLE_CACHE). Collected only when SAMPLE_CACHE is set;
tests/test_caches.py runs them with two workers.

Both workers write under the same key names and read back only after the
other has written too (meet() is a barrier between them), so workers that
shared a cache would read each other's values, whichever order they ran in.
The classes come in pairs, each pair on both workers at once: a class that
waits at a barrier keeps its worker until the other worker takes its twin.
"""

import os

from django.core.cache import cache
from django.test import SimpleTestCase

from .recording import meet, record_this_process

CACHE = os.environ.get("SAMPLE_CACHE")
UPSTREAM = os.environ.get("SAMPLE_WITHOUT_OVERLAY") == "1"


class WorkerCache:
    # A DatabaseCache is in the database.
    databases = {"default"}

    def setUp(self):
        record_this_process()


class SharedKeyChecks(WorkerCache):
    def test_shared_keys_hold_this_workers_values(self):
        pid = os.getpid()
        cache.set("shared", pid)
        cache.set_many({"many-a": pid, "many-b": pid})
        cache.set("counter", 0)
        meet("written")
        cache.incr("counter")
        meet("incremented")
        self.assertEqual(cache.get("shared"), pid)
        self.assertEqual(cache.get_many(["many-a", "many-b"]), {"many-a": pid, "many-b": pid})
        self.assertEqual(cache.get("counter"), 1)


class ClearChecks(WorkerCache):
    def test_clear_leaves_the_other_workers_keys(self):
        if UPSTREAM and CACHE in {"redis", "django-redis"}:
            self.skipTest("upstream's clear() is FLUSHDB: never on a shared Redis")
        pid = os.getpid()
        cache.set("kept", pid)
        clearing = meet("kept-set")[0]
        if pid == clearing:
            cache.clear()
            self.assertIsNone(cache.get("kept"))
        meet("cleared")
        if pid != clearing:
            self.assertEqual(cache.get("kept"), pid)


if CACHE:

    class ClearTestsA(ClearChecks, SimpleTestCase):
        pass

    class ClearTestsB(ClearChecks, SimpleTestCase):
        pass

    class SharedKeyTestsA(SharedKeyChecks, SimpleTestCase):
        pass

    class SharedKeyTestsB(SharedKeyChecks, SimpleTestCase):
        pass


if CACHE and "SAMPLE_WORKER_EXIT_AFTER_WRITE" in os.environ:

    class WorkerKilledAfterWritingTests(SimpleTestCase):
        def test_worker_dies_after_writing(self):
            cache.set("written-by-a-dying-worker", os.getpid())
            os._exit(3)
