"""
Replacements for methods of django.test.runner.DiscoverRunner: the
--start-method and --isolate-cache options, and one process for backends that
cannot clone.
"""

import multiprocessing
import os

from django.core.management import CommandError
from django.db import connections

from .. import caches, patches
from ..start_method import apply_start_method, argument_type, requested_start_method

RUNNER = "django.test.runner.DiscoverRunner"


@classmethod
def add_arguments(cls, parser):
    patches.original(f"{RUNNER}.add_arguments").__func__(cls, parser)
    parser.add_argument(
        "--start-method",
        type=argument_type,
        help=(
            "How to start the worker processes of a parallel run: "
            f"{', '.join(multiprocessing.get_all_start_methods())}. Defaults to "
            "$DJANGO_TEST_START_METHOD, else Python's default for the platform."
        ),
    )
    parser.add_argument(
        "--isolate-cache",
        action="store_true",
        help=(
            "Clear every cache before each test (also "
            f"${caches.ENVIRONMENT_VARIABLE}=1). Caches are isolated per "
            "worker either way."
        ),
    )


def init(self, *args, start_method=None, isolate_cache=False, **kwargs):
    """
    Apply the requested start method before anything asks for it: the
    management command and the SQLite backend decide how to create worker
    databases from multiprocessing's default.
    """
    try:
        chosen = requested_start_method(start_method)
    except ValueError as error:
        raise CommandError(str(error)) from None
    self.isolate_cache = caches.requested_isolation(isolate_cache)
    if chosen:
        apply_start_method(chosen)
    patches.original(f"{RUNNER}.__init__")(self, *args, **kwargs)
    if self.parallel > 1:
        fall_back_to_one_process(self)


def fall_back_to_one_process(runner):
    """
    Upstream fails in the middle of database setup when a backend cannot
    clone; say so before anything starts and run in one process instead.
    """
    unable = [
        alias for alias in connections if not connections[alias].features.can_clone_databases
    ]
    if unable:
        runner.log(
            "Running tests in one process: the database backend of "
            f"{', '.join(repr(alias) for alias in unable)} cannot clone test "
            "databases for parallel workers."
        )
        runner.parallel = 1


def get_max_test_processes():
    """
    Like Django 6.0's: forkserver is as able as spawn to run parallel tests
    (it is Python 3.14's default on Linux).
    """
    if multiprocessing.get_start_method() not in {"fork", "spawn", "forkserver"}:
        return 1
    try:
        return int(os.environ["DJANGO_TEST_PROCESSES"])
    except KeyError:
        return multiprocessing.cpu_count()
