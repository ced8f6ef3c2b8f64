"""
What runs inside a worker process before its first test.

Under fork a worker inherits the parent's memory; under spawn and forkserver
it starts from a fresh interpreter and must be brought to the parent's state
from what WorkerSetup carries: the test databases' settings, the contents
serialized for TransactionTestCase.serialized_rollback, the settings and
environment variables as the parent has them (see parity), and the overlay
itself, which the fresh interpreter has not installed yet.
"""

import io
import multiprocessing
import os
from dataclasses import dataclass, field

import django
from django.core.management import call_command
from django.db import connections
from django.test.utils import setup_test_environment

from .. import caches, patches
from ..backends import sqlite3
from . import parity


@dataclass
class WorkerSetup:
    debug_mode: bool = False
    used_aliases: set | None = None
    process_setup: object = None
    process_setup_args: tuple = ()
    # Only under spawn and forkserver; fork inherits all of these.
    initial_settings: dict | None = None
    serialized_contents: dict = field(default_factory=dict)
    sqlite_snapshot_directory: str | None = None
    settings: dict = field(default_factory=dict)
    environment: dict | None = None
    # Connections that log every query (--debug-sql).
    debug_cursor_aliases: set = field(default_factory=set)


def starts_fresh():
    """Whether this process began as a new interpreter rather than a fork."""
    return multiprocessing.get_start_method() in {"forkserver", "spawn"}


def init_worker(worker_id, setup):
    """
    Switch this worker to its own databases; under spawn and forkserver, set
    up Django first and run the system checks, as the parent did.

    The parent numbers its workers, so a worker's databases are named by its
    slot (1..N) whatever order the processes start in.
    """
    fresh = starts_fresh()
    if fresh:
        if setup.environment is not None:
            parity.apply_environment(setup.environment)
        patches.install()
        if callable(setup.process_setup):
            setup.process_setup(*setup.process_setup_args)
        # Before setup, for what it reads (INSTALLED_APPS, LOGGING, ...); again
        # after setup_test_environment(), which sets some of them itself.
        parity.apply_settings(setup.settings)
        django.setup()
        setup_test_environment(debug=setup.debug_mode)
        parity.apply_settings(setup.settings, notify=True)
        if setup.sqlite_snapshot_directory:
            sqlite3.use_snapshot_directory(setup.sqlite_snapshot_directory)
    aliases = setup.used_aliases if setup.used_aliases is not None else connections
    for alias in aliases:
        connection = connections[alias]
        if fresh:
            connection.settings_dict.update(setup.initial_settings[alias])
            if contents := setup.serialized_contents.get(alias):
                connection._test_serialized_contents = contents
            connection.force_debug_cursor = alias in setup.debug_cursor_aliases
        connection.creation.setup_worker_connection(worker_id)
        if fresh and os.environ.get("RUNNING_DJANGOS_TEST_SUITE") == "true":
            # Django's own suite marks backend-specific expected failures on
            # the connections; a fresh interpreter has not done it yet.
            connection.creation.mark_expected_failures_and_skips()
    caches.isolate_worker(worker_id, aliases)
    if fresh:
        call_command(
            "check", stdout=io.StringIO(), stderr=io.StringIO(), databases=setup.used_aliases
        )
