"""
A test run's namespaces: started by the parent (worker 0, also a serial run)
from the runner's setup_test_environment(), taken by each parallel worker
(1..N, numbered by the parent) before its first test, and removed when the
worker exits and when the run ends. The parent's end also sweeps the whole
run's prefix from the configured Redis caches and file directories, so that
a worker that was killed leaves nothing there either. Outside a test run
nothing changes.
"""

import atexit
import os
import secrets
from multiprocessing import util as multiprocessing_util

from django.conf import settings
from django.core.cache import InvalidCacheBackendError, caches

from .. import patches
from . import db, filebased, namespace, redis
from .namespace import Namespace, Run


def current_run():
    """The active run, for the workers to join; None outside a test run."""
    return None if namespace.active is None else namespace.active.run


def start_run(clear_between_tests):
    """
    In the parent: start the run's namespace, unless one is active already
    (a runner started inside a test run keeps the outer run's).
    """
    if namespace.active is not None:
        return False
    run = Run(f"djt{secrets.token_hex(4)}", clear_between_tests)
    active = namespace.active = Namespace(run, worker=0)
    filebased.note_configured_directories(active)
    # teardown_test_environment() does not run when database setup fails.
    atexit.register(_end_run_at_exit, os.getpid())
    return True


def end_run():
    """
    In the parent, once the workers are gone: remove the whole run's
    namespace, this process's and whatever a killed worker left, from the
    configured caches and those this process used.
    """
    active = namespace.active
    if active is None:
        return
    try:
        for alias in settings.CACHES:
            try:
                redis.remember(active, caches[alias])
            except (ImportError, InvalidCacheBackendError):
                # A cache whose library is missing here cannot hold any keys.
                pass
        pattern = f"{active.run.name}.*"
        active.remove(keys_matching=pattern, directories_matching=pattern)
        filebased.remove_directories_made(active)
    finally:
        namespace.active = None


def _end_run_at_exit(owner_pid):
    # Forked workers inherit atexit handlers; only the parent ends the run.
    if os.getpid() == owner_pid:
        end_run()


def isolate_worker(worker_id, aliases, run):
    """
    In a worker, before its first test: take the run's namespace for this
    worker, and make sure its database clones have the cache table.
    """
    if run is not None:
        # Under fork the parent's namespace came along: none of it is this worker's.
        namespace.active = Namespace(run, worker=worker_id)
        multiprocessing_util.Finalize(None, end_worker, exitpriority=10)
    db.create_tables(aliases)


def end_worker():
    active = namespace.active
    if active is not None:
        try:
            active.remove(keys_matching=f"{active.name}.*", directories_matching=active.name)
        finally:
            namespace.active = None


def setup_test_environment(self, **kwargs):
    patches.original(setup_test_environment)(self, **kwargs)
    self.started_cache_run = start_run(getattr(self, "isolate_cache", False))


def teardown_test_environment(self, **kwargs):
    try:
        patches.original(teardown_test_environment)(self, **kwargs)
    finally:
        if getattr(self, "started_cache_run", False):
            end_run()
