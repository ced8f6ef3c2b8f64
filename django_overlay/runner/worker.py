"""
The worker's end of a parallel run: the process's body (serve), its set-up,
and how its tests' outcomes reach the parent, what protocol.py names.

The set-up: under fork a worker inherits the parent's memory; under spawn
and forkserver it starts from a fresh interpreter and must be brought to
the parent's state from what WorkerSetup carries: the test databases'
settings, the contents serialized for
TransactionTestCase.serialized_rollback, the settings, environment
variables and warnings filters as the parent has them (see parity), and the
overlay itself, which the fresh interpreter has not installed yet.

The outcomes: upstream's RemoteTestResult collects a whole TestCase class's
events and the pool returns them when the class is done, so a worker that
dies loses them all. Here the worker sends the events of the tests that
stopped as it goes (EventStream), and writes where it is into the position
it shares with the parent at every test's start and stop.
"""

import io
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field

import django
from django.core.management import call_command
from django.db import connections
from django.test.utils import setup_test_environment

from .. import caches, patches
from ..start_method import starts_fresh
from . import parity, process_groups
from .left_threads import ThreadWatch
from .outcomes import CARRYING_OBJECTS, EXC_INFO_AT, PicklableEvents, picklable_event
from .protocol import (
    FINISHED,
    NOT_RUNNING,
    RUNNING,
    SINCE,
    Done,
    Escaped,
    Events,
    LeftProcesses,
    Ready,
    RunTask,
    StartFailed,
    ThreadsAtExit,
)
from .stand_ins import linked_exceptions
from .watchdog import StepWatchdog

# How often a worker sends the outcomes of the tests it has run: often enough
# that output advances test by test to the eye, seldom enough that a
# thousand fast tests do not make a thousand messages.
FLUSH_SECONDS = 0.05

# Events that give a test its outcome (a test whose subtests failed gets no
# other). unittest stops a test even when an exception escapes it
# (KeyboardInterrupt): a test stopped without one did not end.
OUTCOME_EVENTS = {*CARRYING_OBJECTS, "addSuccess", "addUnexpectedSuccess"}

# The signals a console sends every process attached to it.
INTERRUPTS = [signal.SIGINT, *filter(None, [getattr(signal, "SIGBREAK", None)])]

# In a worker process: the parent end of the pipe, for send_to_parent(), the
# shared position, and what looks for processes and threads its tests leave.
_parent = None
_position = None
_spawn_watch = None
_thread_watch = None


def serve(connection, position, worker_id, initializer, initargs, timeout, stacks_path, job):
    """Body of a worker process: initialise, then run tasks until told to stop."""
    global _parent, _position, _spawn_watch, _thread_watch
    _parent, _position = connection, position
    try:
        # First: whatever the worker starts from here on is in its group.
        if (group := process_groups.start_own_group(job)) is not None:
            _spawn_watch = process_groups.SpawnWatch(group)
        # Ctrl-C (and Ctrl-Break on Windows) reaches the whole console, and
        # a signal to the parent's process group still reaches a worker that
        # has no group of its own; the parent decides what stops, and ends a
        # worker with SIGTERM, whose handler a forked worker inherited. A
        # handler that does nothing rather than SIG_IGN: tests may check that
        # Ctrl-C is not ignored where upstream's workers leave it alone
        # (Django's dbshell tests do), and the processes tests start do not
        # inherit it.
        for signum in INTERRUPTS:
            signal.signal(signum, _interrupt_left_to_parent)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if timeout is not None:
            StepWatchdog(lambda: position[SINCE], timeout, stacks_path)
        initializer(worker_id, *initargs)
        _thread_watch = ThreadWatch(_running_test)
    except BaseException:
        connection.send(StartFailed(traceback.format_exc()))
        return
    connection.send(Ready())
    while isinstance(task := _receive(connection), RunTask):
        number = task.number
        position[:] = [NOT_RUNNING, time.monotonic(), 0, number]
        _thread_watch.task_started(number)
        try:
            done = Done(number, task.function(task.argument))
        except BaseException as error:
            report_escape(connection, number, error)
            return
        position[SINCE] = 0
        _thread_watch.task_ended()
        if _spawn_watch is not None and (left := _spawn_watch.left_processes()):
            connection.send(LeftProcesses(number, *left))
        connection.send(done)
    # Python waits for these before the process exits; the parent names
    # them if it has to kill it.
    if threads := _thread_watch.left_threads():
        _send(connection, ThreadsAtExit(threads))


def _interrupt_left_to_parent(signum, frame):
    """Ctrl-C in a worker: nothing; the parent stops the run and ends the workers."""


def report_escape(connection, number, error):
    """
    Tell the parent what escaped the task (KeyboardInterrupt or SystemExit
    that unittest lets through, an error of the overlay's own): the parent
    replaces this worker, whose state no other test should meet (a class's
    transaction still open, its tearDownClass not run). The shared position
    still says where it happened.
    """
    connection.send(Escaped(number, type(error).__qualname__, traceback.format_exc()))


def send_to_parent(message):
    """From inside a task: tell the parent something before the task ends."""
    _parent.send(message)


def _running_test():
    index = int(_position[RUNNING])
    return None if index == NOT_RUNNING else index


def _send(connection, message):
    try:
        connection.send(message)
    except OSError:
        # The parent is gone.
        pass


def _receive(connection):
    try:
        return connection.recv()
    except EOFError:
        # The parent is gone.
        return None


def mark_test_started(index):
    _position[RUNNING], _position[SINCE] = index, time.monotonic()


def mark_test_stopped(index):
    _position[RUNNING], _position[SINCE], _position[FINISHED] = (
        NOT_RUNNING,
        time.monotonic(),
        index + 1,
    )
    if _spawn_watch is not None:
        _spawn_watch.look(index)


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


class EventStream(PicklableEvents):
    """
    RemoteTestResult's events list, whose events a thread of the worker
    sends to the parent every FLUSH_SECONDS while the task runs, so that fast
    tests do not cost a message each, and a test that runs long (or hangs, or
    kills the worker) does not hold back the outcomes of those before it.
    Which test is running the parent reads from the worker's shared position,
    which every start and stop updates; a test stopped without an outcome
    stays the running one there, and its events unsent: the parent reports it
    as it does a test whose worker died. The list keeps every event, as
    upstream's does, so the result's own methods (wasSuccessful) read it
    unchanged; the frames of a test's tracebacks are released when it stops
    (release_frames).
    """

    def __init__(self, send):
        super().__init__()
        self.send = send
        self.sent = 0
        # Where the events of the tests that have ended end; the sender sends
        # up to there.
        self.complete = 0
        self.has_outcome = False
        _sender.add(self)

    def append(self, event):
        super().append(event)
        name = event[0]
        if name == "startTest":
            self.has_outcome = False
            mark_test_started(event[1])
        elif name in OUTCOME_EVENTS:
            self.has_outcome = True
        elif name == "stopTest" and self.has_outcome:
            release_frames(self[self.complete :])
            self.complete = len(self)
            mark_test_stopped(event[1])

    def send_ended_so_far(self):
        # Only whole tests: the parent replays a test's events together, so
        # that two workers' output does not interleave.
        end = self.complete
        if end > self.sent:
            self.send(self[self.sent : end])
            self.sent = end

    def unsent(self):
        """Stop sending; the events not sent yet, for the task's result."""
        self.stop_sending()
        return self[self.sent :]

    def send_ended_tests(self):
        """Stop sending, after sending what the tests that ended recorded."""
        self.stop_sending()
        self.send_ended_so_far()

    def stop_sending(self):
        _sender.remove(self)


class Sender:
    """
    The thread of a worker that sends its streams' ended tests every
    FLUSH_SECONDS: one for the worker's life, rather than a thread started
    and joined for each class, which was a measurable part of the per-test
    cost of classes of fast tests (bench/parallel_runner.py overhead,
    docs/benchmarks.md). A stream it no longer holds, it never sends again:
    removal waits for a send under way.
    """

    def __init__(self):
        self.lock = threading.Lock()
        # By id(): a stream is a list, whose == compares contents.
        self.streams = {}
        self.thread = None

    def add(self, stream):
        with self.lock:
            self.streams[id(stream)] = stream
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self.send_periodically, name="django-overlay-sender", daemon=True
                )
                self.thread.start()

    def remove(self, stream):
        with self.lock:
            self.streams.pop(id(stream), None)

    def send_periodically(self):
        while True:
            time.sleep(FLUSH_SECONDS)
            with self.lock:
                for stream in self.streams.values():
                    stream.send_ended_so_far()


_sender = Sender()


def _start_over_in_child():
    # A test that forks leaves its child without the thread, and perhaps
    # with the lock taken.
    global _sender
    _sender = Sender()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_start_over_in_child)


def release_frames(events):
    """
    Clear the local variables of the frames in the tracebacks that events
    carry, and in those of the exceptions chained to them.

    The events of a task are kept until its class ends, and a traceback keeps
    every frame it passes through alive with all its locals: a test that
    failed holding a large object (a MemoryError's test) would hold it while
    the rest of its class runs, and the next test could fail for want of
    memory too. The report loses nothing: tblib carries a frame's file, name
    and line, never its locals, and the parent formats the traceback from
    those. unittest's assertRaises() clears the frames it catches the same way.
    """
    to_visit, seen = [], set()
    for event in events:
        if event[0] not in EXC_INFO_AT:
            continue
        exc_info = event[1:][EXC_INFO_AT[event[0]]]
        if exc_info is None:
            continue
        traceback.clear_frames(exc_info[2])
        if exc_info[1] is not None:
            to_visit.append(exc_info[1])
    # Without recursion, and once each: a chain may be long or loop.
    while to_visit:
        exception = to_visit.pop()
        if id(exception) in seen:
            continue
        seen.add(id(exception))
        traceback.clear_frames(exception.__traceback__)
        to_visit.extend(linked_exceptions(exception))


def streaming(resultclass, send):
    """A resultclass whose results stream their events through send()."""

    def make_result(*args, **kwargs):
        result = resultclass(*args, **kwargs)
        result.events = EventStream(send)
        make_result.streams.append(result.events)
        return result

    make_result.streams = []
    return make_result


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
        send_to_parent(Events(task_number, events))

    runner.resultclass = streaming(runner.resultclass, send)
    try:
        result = runner.run(subsuite)
    except BaseException:
        # The parent reports what escaped (report_escape) after the
        # outcomes of the tests that ended.
        for stream in runner.resultclass.streams:
            stream.send_ended_tests()
        raise
    if isinstance(result.events, EventStream):
        return task_number, result.events.unsent()
    return task_number, [picklable_event(event) for event in result.events]
