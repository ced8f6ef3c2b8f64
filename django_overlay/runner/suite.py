"""
The overlay's ParallelTestSuite: upstream's class, running its subsuites in a
Session (session.py) over the overlay's own worker pool instead of
multiprocessing.Pool.

It subclasses upstream's so that runners written for it keep working: Django's
own runtests.py sets process_setup on it, custom runners override
runner_class or run_subsuite, and results are replayed through the same
handle_event(), so result classes written for upstream get the same calls.
"""

import multiprocessing
from contextlib import nullcontext

from django.db import connections
from django.test import runner as upstream

from .. import caches
from ..start_method import keep_forkserver_socket_short, starts_fresh
from . import databases, outcomes, parity
from .session import RunOptions, Session, Workers
from .worker import WorkerSetup, init_worker, run_subsuite


def plain_function(attribute):
    """A function stored on the suite's class comes back bound; workers need it plain."""
    return getattr(attribute, "__func__", attribute)


class ParallelTestSuite(upstream.ParallelTestSuite):
    init_worker = init_worker
    run_subsuite = run_subsuite
    options = RunOptions()
    # A serial run's tests in one worker (--timeout): databases of its own.
    one_worker = False

    def handle_event(self, result, tests, event):
        if event[0] == "addSubTest":
            event = outcomes.attach_subtest(event, tests[event[1]])
        super().handle_event(result, tests, outcomes.restore_subtest_sentinel(event))

    def run(self, result):
        self.initialize_suite()
        # The workers already capture output; buffering again here would hide
        # errors reported outside a test.
        result.buffer = False
        progress = None
        if self.options.progress:
            from .progress import ProgressDisplay

            progress = ProgressDisplay(self.processes)
        keep_forkserver_socket_short()
        clones = (
            databases.one_worker_clones(self.used_aliases) if self.one_worker else nullcontext()
        )
        with clones:
            workers = Workers(
                processes=self.processes,
                init_worker=plain_function(self.init_worker),
                setup=self.worker_setup(),
                run_subsuite=plain_function(self.run_subsuite),
                runner_class=self.runner_class,
                failfast=self.failfast,
                buffer=self.buffer,
            )
            session = Session(
                self.subsuites,
                workers,
                self.handle_event,
                result,
                self.options,
                multiprocessing.get_context(),
                progress,
            )
            session.run()
        return result

    def initialize_suite(self):
        """
        Take what spawned and forkserver workers cannot inherit, as it is when
        the suite starts: after the runner's __init__ and
        setup_test_environment(), and any override_settings then active.
        """
        self.parent_settings = self.parent_environment = self.parent_warnings_filters = None
        self.debug_cursor_aliases = set()
        # Django 5.2 does this for spawn only; forkserver needs it as much.
        if starts_fresh():
            self.parent_settings = parity.capture_settings()
            self.parent_environment = parity.capture_environment()
            self.parent_warnings_filters = parity.capture_warnings_filters()
            self.debug_cursor_aliases = {
                alias for alias in connections if connections[alias].force_debug_cursor
            }
            self.initial_settings = {
                alias: connections[alias].settings_dict for alias in connections
            }
            self.serialized_contents = {
                alias: connections[alias]._test_serialized_contents
                for alias in connections
                if alias in self.serialized_aliases
            }

    def worker_setup(self):
        return WorkerSetup(
            debug_mode=self.debug_mode,
            used_aliases=self.used_aliases,
            process_setup=plain_function(self.process_setup),
            process_setup_args=self.process_setup_args,
            initial_settings=self.initial_settings,
            serialized_contents=self.serialized_contents or {},
            test_db_handovers=test_db_handovers(),
            settings=self.parent_settings or {},
            environment=self.parent_environment,
            warnings_filters=self.parent_warnings_filters,
            debug_cursor_aliases=self.debug_cursor_aliases,
            cache_run=caches.current_run(),
        )


def test_db_handovers():
    """
    What a worker started afresh needs from this process to reach its copy
    of each alias's test database, by alias, where the backend hands over
    anything (DatabaseCreation.worker_handover()).
    """
    handovers = {alias: connections[alias].creation.worker_handover() for alias in connections}
    return {alias: handover for alias, handover in handovers.items() if handover is not None}
