"""
Per-worker cache isolation for test runs, and --isolate-cache.

Each worker of a parallel run has a database of its own, so two workers mint
the same ids, build the same cache keys and, on a shared Redis or memcached,
read each other's entries; Django's clear() is FLUSHDB or flush_all, which
wipes every other worker's keys and whatever else lives in that database.

While a test run is active (from the runner's setup_test_environment() to its
teardown_test_environment(), and in its workers), every cache gets a
namespace of its own per run and per process: ``<run>.<worker>``, where the
run is random, the parent (and a serial run) is worker 0, and parallel
workers are numbered 1..N by the parent. Outside a test run nothing changes.

- namespace: the one object that holds a process's namespace, and the rule
  the shared caches follow with it (prefixed keys, clear() as a new
  generation, removal).
- run: starting and ending the run in the parent, joining it in a worker.
- redis, memcached, filebased: the replacements for each backend's methods.
  The prefix goes on the key Django has already made and validated, so
  KEY_PREFIX, VERSION, KEY_FUNCTION and key validation (and Django's own
  tests of them) behave as upstream; only the server sees the longer key,
  which leaves memcached's 250 characters minus about 16 for the key itself.
- db: DatabaseCache lives in the worker's own database clone; each worker
  makes sure the clone has the cache table.
- clearing: --isolate-cache, clearing every cache before each test.

LocMemCache is per process already and DummyCache stores nothing: they are
left as they are.
"""

from .clearing import (
    ENVIRONMENT_VARIABLE,
    clear_caches,
    clears_between_tests,
    requested_isolation,
)
from .namespace import Run
from .run import current_run, end_run, end_worker, isolate_worker, start_run

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "Run",
    "clear_caches",
    "clears_between_tests",
    "current_run",
    "end_run",
    "end_worker",
    "isolate_worker",
    "requested_isolation",
    "start_run",
]
