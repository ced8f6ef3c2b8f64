"""
What runs inside a worker process before its first test.

Under fork a worker inherits the parent's memory; under spawn and forkserver
it starts from a fresh interpreter and must be brought to the parent's state
from what WorkerSetup carries: the test databases' settings, the contents
serialized for TransactionTestCase.serialized_rollback, the settings,
environment variables and warnings filters as the parent has them (see
parity), and the overlay itself, which the fresh interpreter has not
installed yet.
"""

import io
import os
from dataclasses import dataclass, field

import django
from django.core.management import call_command
from django.db import connections
from django.test.utils import setup_test_environment

from .. import caches, patches
from ..start_method import starts_fresh
from . import parity
from .outcomes import EventStream, picklable_event, streaming
from .pool import send_to_parent


@dataclass
class WorkerSetup:
    debug_mode: bool = False
    used_aliases: set | None = None
    process_setup: object = None
    process_setup_args: tuple = ()
    # Only under spawn and forkserver; fork inherits all of these.
    initial_settings: dict | None = None
    serialized_contents: dict = field(default_factory=dict)
    test_db_handovers: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    environment: dict | None = None
    warnings_filters: list | None = None
    # Connections that log every query (--debug-sql).
    debug_cursor_aliases: set = field(default_factory=set)
    # For a worker that replaces a lost one, whose databases may hold
    # whatever the lost worker left in them.
    fresh_databases: bool = False
    # The cache run the worker joins (caches.current_run()), if one is active.
    cache_run: caches.Run | None = None


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
        for alias, handover in setup.test_db_handovers.items():
            connections[alias].creation.take_worker_handover(handover)
    aliases = setup.used_aliases if setup.used_aliases is not None else connections
    for alias in aliases:
        connection = connections[alias]
        if fresh:
            connection.settings_dict.update(setup.initial_settings[alias])
            if contents := setup.serialized_contents.get(alias):
                connection._test_serialized_contents = contents
            connection.force_debug_cursor = alias in setup.debug_cursor_aliases
        if setup.fresh_databases:
            clone_afresh(connection, worker_id)
        connection.creation.setup_worker_connection(worker_id)
        if fresh and os.environ.get("RUNNING_DJANGOS_TEST_SUITE") == "true":
            # Django's own suite marks backend-specific expected failures on
            # the connections; a fresh interpreter has not done it yet.
            connection.creation.mark_expected_failures_and_skips()
    caches.isolate_worker(worker_id, aliases, setup.cache_run)
    if fresh:
        call_command(
            "check", stdout=io.StringIO(), stderr=io.StringIO(), databases=setup.used_aliases
        )
        if setup.warnings_filters is not None:
            # Last: filters the worker's own setup added, the parent's list
            # holds as well.
            parity.apply_warnings_filters(setup.warnings_filters)


def clone_afresh(connection, worker_id):
    """
    Drop and clone again the worker's copy of a test database. An in-memory
    copy is already fresh: forked from the parent's, or loaded from its
    snapshot.
    """
    creation = connection.creation
    if creation.is_test_db_in_memory(connection.settings_dict["NAME"]):
        return
    creation.clone_test_db(suffix=str(worker_id), verbosity=0, autoclobber=True)


def run_subsuite(args):
    """
    Run one task's tests and send their events to the parent as each test
    starts and stops; return the events that were not sent yet.

    The arguments are upstream's, and so is the runner: only its result's
    events list is replaced, so runner classes and result classes written
    for upstream keep working.
    """
    runner_class, task_number, subsuite, failfast, buffer = args
    runner = runner_class(failfast=failfast, buffer=buffer)

    def send(events):
        send_to_parent("events", task_number, events)

    runner.resultclass = streaming(runner.resultclass, send)
    try:
        result = runner.run(subsuite)
    except BaseException:
        # The parent reports what escaped (pool.report_escape) after the
        # outcomes of the tests that ended.
        for stream in runner.resultclass.streams:
            stream.send_ended_tests()
        raise
    if isinstance(result.events, EventStream):
        return task_number, result.events.unsent()
    return task_number, [picklable_event(event) for event in result.events]
