"""
The session of a parallel run: it owns the worker pool, hands out TestCase
classes in the order the schedule gives, replays what workers send into the
run's result as it arrives, and decides what a lost worker means. It takes
from the suite (suite.py) only what it uses: the subsuites, what the workers
run (Workers), and how an event reaches the result (handle_event).

A worker is lost when it dies (os._exit, a signal, a segfault) or when it
passes its deadline (--timeout). The test it was running is reported as an
error naming the worker, how it ended and the test; the tests of that class
that had not run yet go back to the schedule, to run first on another worker;
a replacement takes the lost worker's slot with fresh copies of its
databases. A class that has lost --max-crashes-per-class workers goes back no
more: its tests that did not run are named in the report. After too many
replacements the run ends with an error naming every test that did not run.
Ctrl-C and SIGTERM end the run the same way: workers stopped, an error
saying what did not run, and a result that fails.

With --reruns, a test's outcome is held back while the test may run again
(reruns.py), and its rerun goes to a fresh worker, which takes the slot of
an idle one.
"""

import time
import unittest
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from django.db import connections

from . import durations
from .interruption import Interrupted, interruptible
from .left_threads import WorkerKilledAtExitWarning
from .notices import warn
from .order_record import OrderRecord
from .outcomes import RunInterrupted, TestTimedOut, WorkerCrashError, crash_error
from .pool import WorkerPool
from .process_groups import LeftProcessesWarning, describe
from .protocol import Done, Events, LeftProcesses, WorkerLost, WorkerTimedOut
from .reruns import RERUN_EVENTS, Reruns, announce, attempts_of
from .scheduling import LongestFirst, Task, class_label, kind_of

# Events that make a test count as failed (workers send addSubTest only for
# subtests that failed).
FAILING_EVENTS = {"addError", "addFailure", "addSubTest", "addUnexpectedSuccess"}
# Workers a run may lose, per worker, before it gives up.
RESTARTS_PER_WORKER = 4
# Workers a TestCase class may lose before its tests stop going back in the
# queue: a class that kills every worker would otherwise spend every restart.
CRASHES_PER_CLASS = 2
# Tests that did not run a stopped run names in its report; more go in a file.
NOT_RUN_LISTED = 30


@dataclass
class Workers:
    """
    How many workers a run starts, and what they run: functions a worker
    imports by name (init_worker, run_subsuite) and their arguments.
    """

    processes: int
    init_worker: object
    setup: object
    run_subsuite: object
    runner_class: type
    failfast: bool = False
    buffer: bool = False

    def task_call(self, task, failfast):
        """The function and argument that run task in a worker, as upstream's pool would."""
        return self.run_subsuite, (
            self.runner_class,
            task.number,
            unittest.TestSuite(task.tests),
            failfast,
            self.buffer,
        )


@dataclass
class RunOptions:
    """What the test command's options ask of a parallel run."""

    timeout: float | None = None
    max_worker_restarts: int | None = None
    max_crashes_per_class: int = CRASHES_PER_CLASS
    durations_file: str | None = None
    durations_from_junit: tuple = ()
    record_durations: bool = True
    progress: bool = False
    # From the runner: Django's order of kinds of tests, and whether the run
    # asked for an order of its own (--shuffle, --reverse).
    reorder_by: tuple = ()
    keep_order: bool = False
    # The labels the run was given, left out of the order record's commands.
    test_labels: tuple = ()
    # --reruns and --reruns-delay.
    reruns: int = 0
    reruns_delay: float = 0


def details_section(lost):
    """What the report of a lost worker shows below its message."""
    if lost.escaped:
        return f"\n\n{lost.escaped.traceback.rstrip()}"
    if lost.stacks:
        return f"\n\nStacks of the worker's threads when it was stopped:\n\n{lost.stacks}"
    return ""


def tests(count):
    return f"{count} test" if count == 1 else f"{count} tests"


def listed(not_run):
    return "\n".join(f"  {test.id()}" for test in not_run)


class Session:
    def __init__(self, subsuites, workers, handle_event, result, options, context, progress=None):
        """
        Run subsuites (lists of tests, one TestCase class each) on workers,
        replaying their events into result through handle_event(result,
        tests, event), upstream's ParallelTestSuite.handle_event.
        """
        self.subsuites = subsuites
        self.workers = workers
        self.handle_event = handle_event
        self.result = result
        self.options = options
        self.context = context
        self.progress = progress
        self.max_restarts = (
            options.max_worker_restarts
            if options.max_worker_restarts is not None
            else RESTARTS_PER_WORKER * workers.processes
        )
        self.restarts = 0
        # Class label -> workers lost while running it.
        self.crashes = {}
        self.measured = {}
        self.tasks = {}
        self.schedule = None
        self.durations_path = options.durations_file or durations.default_path()
        self.order_record = OrderRecord(options.test_labels)
        # With --reruns only: without it, a test's events go to the result
        # as they come, as before.
        self.reruns = Reruns(options.reruns, options.reruns_delay) if options.reruns else None
        # Task number -> tests of it to rerun once it ends.
        self.rerun_after = {}
        # Workers that have run nothing since they started, and the rerun
        # each fresh worker started for one is to run.
        self.fresh_workers = set()
        self.pinned = {}
        # The workers that still had tasks when the run ended
        # (noting_busy_workers).
        self.stopped_busy = []
        # What the pool passes on, by type: handler(worker, message, pool).
        self.handlers = {
            Events: self.on_events,
            LeftProcesses: self.on_left_processes,
            Done: self.on_done,
            WorkerLost: self.on_worker_lost,
            WorkerTimedOut: self.on_worker_timed_out,
        }

    def run(self):
        tasks = [self.new_task(list(subsuite)) for subsuite in self.subsuites if subsuite]
        self.schedule = LongestFirst(
            tasks,
            durations.load(self.durations_path, self.options.durations_from_junit),
            keep_order=self.options.keep_order,
        )
        # Forked workers must not share the parent's database sockets, and a
        # database is cloned only while nobody is connected to it.
        connections.close_all()
        pool = WorkerPool(self.context, self.workers.init_worker, self.options.timeout)
        try:
            with pool, self.noting_busy_workers(pool), interruptible():
                # Before the workers start, so that they inherit the
                # descriptors it diverts (progress.py).
                if self.progress:
                    self.progress.start(sum(len(task.tests) for task in tasks), self.result)
                for slot in range(1, self.workers.processes + 1):
                    self.fresh_workers.add(pool.start(slot, (self.workers.setup,)))
                self.serve(pool)
        except Interrupted as interruption:
            under_way = self.tests_under_way(self.stopped_busy)
            self.end_run(
                f"The run was interrupted ({interruption}).{under_way}",
                self.stopped_busy,
                RunInterrupted,
            )
        finally:
            if self.reruns is not None:
                self.finish_reruns()
            if self.progress:
                self.progress.stop()
        for killed in pool.killed_at_exit:
            self.warn_killed_at_exit(killed)
        if self.measured and self.options.record_durations:
            durations.record(self.durations_path, self.measured)
        # Beside the durations file, which a user knows where to find.
        order_path = Path(self.durations_path).with_suffix(".order.txt")
        if self.order_record.write(order_path):
            self.result.stream.writeln(
                "The classes each failing test's worker ran before it, and commands "
                f"that rerun them serially: {order_path}"
            )

    @contextmanager
    def noting_busy_workers(self, pool):
        """
        Note the workers that still have tasks as the run ends, before the
        pool stops them and forgets them: what their tasks did not report is
        still the run's to name (tests_under_way, end_run, finish_reruns).
        The pool owns the link between a task and its worker (Worker.tasks).
        """
        try:
            yield
        finally:
            self.stopped_busy = [worker for worker in pool.workers.values() if worker.tasks]

    def serve(self, pool):
        while self.schedule or pool.busy() or self.reruns_pending():
            if self.result.shouldStop:
                return
            self.dispatch(pool)
            for worker, message in pool.receive():
                self.handlers[type(message)](worker, message, pool)
                if self.restarts > self.max_restarts:
                    self.end_run(
                        f"Stopping: {self.restarts} workers were lost, more than "
                        f"--max-worker-restarts {self.max_restarts} allows.",
                        pool.workers.values(),
                    )
                    return
            if self.progress:
                self.show_running(pool)
                self.progress.pump()

    def new_task(self, tests, requeued=False):
        kind = kind_of(tests[0], self.options.reorder_by)
        task = Task(len(self.tasks), class_label(tests[0]), tests, kind, requeued)
        self.tasks[task.number] = task
        return task

    def reruns_pending(self):
        return self.reruns is not None and bool(self.reruns.waiting or self.pinned)

    def dispatch(self, pool):
        """
        Hand out tasks: a rerun or the schedule's next to each idle worker;
        then, while there is plenty left and no rerun waits, one more to
        each busy worker, to wait behind the task it runs
        (scheduling.LongestFirst.may_queue_behind).
        """
        for worker in pool.idle_workers():
            task = self.pinned.pop(worker, None)
            if task is None and self.reruns is not None and (test := self.reruns.next_due()):
                task = self.new_task([test], requeued=True)
                if worker not in self.fresh_workers:
                    self.make_way(pool, worker, task)
                    continue
            if task is None and self.schedule:
                task = self.schedule.next_task(worker, pool.workers.values())
            if task is not None:
                self.hand_out(pool, worker, task)
        if self.reruns_pending():
            # They go first, to the first workers free.
            return
        for worker in list(pool.workers.values()):
            if len(worker.tasks) == 1 and self.schedule.may_queue_behind(
                worker.task, len(pool.workers)
            ):
                if (task := self.schedule.next_task(worker, pool.workers.values())) is not None:
                    self.hand_out(pool, worker, task)

    def hand_out(self, pool, worker, task):
        self.fresh_workers.discard(worker)
        task.dispatched_at = time.monotonic()
        self.order_record.dispatched(worker, task)
        # With --reruns, a failure the worker sees may not be the test's
        # last: the result, which sees only those, stops the run (serve)
        # instead of the worker its class.
        failfast = self.workers.failfast and self.reruns is None
        pool.send(worker, task, *self.workers.task_call(task, failfast))

    def make_way(self, pool, worker, task):
        """A rerun runs in a fresh worker: worker gives its slot to one, which will run task."""
        pool.retire(worker)
        connections.close_all()
        fresh = pool.start(worker.slot, (replace(self.workers.setup, fresh_databases=True),))
        self.fresh_workers.add(fresh)
        self.pinned[fresh] = task

    def on_events(self, worker, message, pool):
        self.replay(worker, self.tasks[message.task_number], message.events)

    def on_left_processes(self, worker, message, pool):
        self.warn_left_processes(
            worker, self.tasks[message.task_number], message.starters, message.processes
        )

    def on_done(self, worker, message, pool):
        # A worker with no task waiting behind this one gets its next before
        # this one's outcomes are replayed, not after.
        self.dispatch(pool)
        task = self.tasks[message.task_number]
        _, events = message.result
        self.replay(worker, task, events)
        self.queue_reruns(task)
        if (following := worker.task) is not None:
            # It was waiting in the worker's pipe: it starts now, as far as
            # the parent can tell.
            following.dispatched_at = time.monotonic()
        if not task.requeued:
            elapsed = time.monotonic() - task.dispatched_at
            self.measured[task.label] = self.measured.get(task.label, 0) + elapsed

    def replay(self, worker, task, events):
        """
        Replay the events of worker's task into the result, as upstream's
        handle_event() does; with --reruns, each test's together once it has
        stopped. The worker is passed, not looked up: the pool has dropped
        it from its workers when it is lost, and its task from its tasks
        when the task is done, before the events are replayed.
        """
        if self.reruns is None:
            self.deliver(worker, task, events)
            return
        for event in events:
            if task.held is not None:
                task.held.append(event)
                if event[0] == "stopTest":
                    held, task.held = task.held, None
                    self.test_ended(worker, task, held)
            elif event[0] == "startTest":
                task.held = [event]
            else:
                # Class and module fixtures' outcomes, not rerun.
                self.deliver(worker, task, [event])

    def test_ended(self, worker, task, events):
        """A test's events, with --reruns: held back while it may run again, else replayed."""
        index = events[0][1]
        test = task.tests[index]
        if any(event[0] in RERUN_EVENTS for event in events) and self.reruns.may_rerun(test):
            self.hold(worker, task, index, test, events)
            return
        history = self.reruns.final(test, any(event[0] in FAILING_EVENTS for event in events))
        if history is not None and (add_reruns := getattr(self.result, "addReruns", None)):
            add_reruns(test, [attempt for attempts in history.attempts for attempt in attempts])
        self.deliver(worker, task, events)

    def hold(self, worker, task, index, test, events):
        # Other classes, whose leftovers the rerun in a fresh worker escapes.
        ran_behind_others = bool(self.order_record.ran_before(worker, task))
        attempts = attempts_of(events, lambda err: self.result._exc_info_to_string(err, test))
        number = self.reruns.hold(test, task, events, attempts, ran_behind_others)
        self.order_record.failed(worker, task, test)
        task.finished = index + 1
        self.rerun_after.setdefault(task.number, []).append(test)
        announce(self.result, test, attempts, number, self.reruns.limit)

    def queue_reruns(self, task):
        if self.reruns is not None and (tests := self.rerun_after.pop(task.number, None)):
            self.reruns.queue(tests)

    def finish_reruns(self):
        """
        Outcomes held for reruns that did not end (the run stopped first) are
        the tests' outcomes; then what the reruns found. A held outcome's
        task may be done, or lost with its worker, or have been under way
        when the run stopped.
        """
        had = {task: worker for worker in self.stopped_busy for task in worker.tasks}
        for task, events in self.reruns.unfinished():
            self.deliver(had.get(task), task, events)
        self.pinned.clear()
        for line in self.reruns.summary(lambda test: self.order_record.command(test.id())):
            self.result.stream.writeln(line)

    def deliver(self, worker, task, events):
        """
        Pass events of worker's task to the result; the order record and the
        progress display hear of them too, unless worker is None: an outcome
        held for a rerun, replayed as the run ends (finish_reruns), whose
        task was done or lost with its worker by then.
        """
        for event in events:
            name = event[0]
            self.handle_event(self.result, task.tests, event)
            if name in FAILING_EVENTS:
                task.failed = True
                if worker is not None:
                    self.order_record.failed(worker, task, task.tests[event[1]])
            elif name == "stopTest":
                task.finished = event[1] + 1
                if self.progress and worker is not None:
                    self.progress.test_stopped(worker.slot, task.failed)
                task.failed = False

    def warn_left_processes(self, worker, task, starters, processes):
        """A class left processes running: named with the tests that may have started them."""
        names = [task.tests[index].id() if index is not None else task.label for index in starters]
        count = len(processes)
        warn(
            f"{' or '.join(names)} left {count} process{'es' if count > 1 else ''} "
            f"running: {describe(processes)}. They end with {worker!r}.",
            LeftProcessesWarning,
        )

    def warn_killed_at_exit(self, killed):
        """A worker did not exit when told to: named with the tests that left its threads."""
        left = "; ".join(
            f"thread {name!r}, which no test started, was left running"
            if starter is None
            else f"{self.thread_starter(*starter)} left thread {name!r} running"
            for name, starter in killed.threads
        )
        warn(
            f"{killed.worker!r} had not exited {killed.waited:g} s after the end of the run, "
            f"and was killed{f': {left}' if left else ''}.",
            WorkerKilledAtExitWarning,
        )

    def thread_starter(self, number, index):
        task = self.tasks[number]
        return task.label if index is None else task.tests[index].id()

    def show_running(self, pool):
        for worker in pool.workers.values():
            index = worker.running_test() if worker.task else None
            test = worker.task.tests[index] if index is not None else None
            self.progress.show_running(worker.slot, test)

    def on_worker_timed_out(self, worker, lost, pool):
        # A test that outlived --timeout failed, as a test too slow fails an
        # assertion on its time.
        how = f"was stopped after {self.options.timeout:g} s (--timeout)"
        self.replace_lost(worker, lost, pool, how, ("addFailure", TestTimedOut))

    def on_worker_lost(self, worker, lost, pool):
        if lost.escaped:
            how = f"was replaced after {lost.escaped.error_name} escaped unittest"
        else:
            how = f"died ({lost.description})"
        self.replace_lost(worker, lost, pool, how, ("addError", WorkerCrashError))

    def replace_lost(self, worker, lost, pool, how, outcome):
        """
        Report what the lost worker was running, requeue what it had not,
        and start another in its slot, within the restart limit.
        """
        task = worker.task
        if not worker.ready:
            self.report_start_failure(worker, lost, pool)
            return
        self.restarts += 1
        if lost.left_processes:
            self.warn_processes_of_lost(worker, lost, task)
        if task is None:
            self.report_error(
                unittest.suite._ErrorHolder(f"{worker!r}"), f"{worker!r} {how} between tests."
            )
        else:
            self.report_lost_task(task, worker, how, details_section(lost), outcome)
            self.queue_reruns(task)
        for waiting in reversed(worker.tasks[1:]):
            # Never begun: back in the queue as they were.
            self.schedule.requeue(waiting)
        self.fresh_workers.discard(worker)
        if (pinned := self.pinned.pop(worker, None)) is not None:
            # A fresh worker lost before it was given its rerun: another runs it.
            self.reruns.waiting.appendleft((0, pinned.tests[0]))
        if (self.schedule or self.reruns_pending()) and self.restarts <= self.max_restarts:
            # A worker killed inside a TransactionTestCase leaves rows behind:
            # its replacement clones its databases afresh.
            connections.close_all()
            fresh = pool.start(worker.slot, (replace(self.workers.setup, fresh_databases=True),))
            self.fresh_workers.add(fresh)

    def warn_processes_of_lost(self, worker, lost, task):
        """A lost worker left processes in its group, which the pool ended."""
        if task is None:
            culprit = f"{worker!r}"
        elif (running := worker.running_test()) is not None:
            culprit = task.tests[running].id()
        else:
            culprit = f"the class fixtures of {task.label}"
        count = len(lost.left_processes)
        warn(
            f"{culprit} left {count} process{'es' if count > 1 else ''} running when "
            f"{worker!r} was lost: {describe(lost.left_processes)}. They were ended.",
            LeftProcessesWarning,
        )

    def report_start_failure(self, worker, lost, pool):
        """
        A worker that fails before its first task would fail the same way
        again: the run stops rather than replace it, and reports the first
        such failure only (the other workers' are most likely the same).
        """
        if self.result.shouldStop:
            return
        if lost.start_failure:
            why = f"Its traceback:\n\n{lost.start_failure}"
        else:
            why = (
                f"It ended ({lost.description}) before it could say why; its "
                "own output, above, may."
            )
        self.report_error(
            unittest.suite._ErrorHolder(f"{worker!r}"),
            f"{worker!r} failed to start. {why}",
        )
        self.end_run(f"Stopping: {worker!r} failed to start.", pool.workers.values())

    def report_lost_task(self, task, worker, how, details, outcome):
        """
        Report where the worker was lost, from the position it shared, and
        put back in the queue the class's tests that will not otherwise be
        reported: those after the one it was running, and those it had
        finished but whose outcomes had not been sent yet.
        """
        running = worker.running_test()
        finished = worker.tests_finished()
        if running is None and finished == 0:
            # In setUpClass: running the class again would most likely fail
            # the same way.
            message = (
                f"{worker!r} {how} while setting up {task.label}; its "
                f"{tests(len(task.tests))} did not run."
            )
            self.report_class_error(f"setUpClass ({task.label})", message + details, outcome)
            return
        unreported = task.tests[task.finished : running if running is not None else finished]
        later = task.tests[running + 1 :] if running is not None else task.tests[finished:]
        if running is None:
            message = f"{worker!r} {how} after the last test of {task.label} it ran."
        else:
            message = f"{worker!r} {how} while running {task.tests[running].id()}."
        crashes = self.crashes[task.label] = self.crashes.get(task.label, 0) + 1
        left = unreported + later
        if left and crashes >= self.options.max_crashes_per_class:
            message += (
                f" {task.label} has lost {crashes} workers (--max-crashes-per-class "
                f"{self.options.max_crashes_per_class}): its {tests(len(left))} not reported "
                f"yet will not run:\n{listed(left)}"
            )
        elif left:
            self.schedule.requeue(self.new_task(left, requeued=True))
            message += (
                f" The {tests(len(left))} of {task.label} not reported "
                "yet went back in the queue for another worker."
            )
        if running is None:
            self.report_class_error(f"tearDownClass ({task.label})", message + details, outcome)
            return
        message += details
        event, error_class = outcome
        self.replay(
            worker,
            task,
            [
                ("startTest", running),
                (event, running, crash_error(message, error_class)),
                ("stopTest", running),
            ],
        )

    def report_class_error(self, where, message, outcome):
        self.report_error(unittest.suite._ErrorHolder(where), message, outcome)

    def report_error(self, test, message, outcome=("addError", WorkerCrashError)):
        event, error_class = outcome
        getattr(self.result, event)(test, crash_error(message, error_class))

    def tests_under_way(self, workers):
        """The tests workers are running, named: a hung one is often why a run is interrupted."""
        running = [
            f"{worker!r} was running {worker.task.tests[index].id()}"
            for worker in sorted(workers, key=lambda worker: worker.task.number)
            if (index := worker.running_test()) is not None
        ]
        return f" Then {'; '.join(running)}." if running else ""

    def end_run(self, reason, workers, error_class=WorkerCrashError):
        """
        Report, by name, what will not run, so that an incomplete run fails:
        what the schedule still has, then the tests of workers' tasks not
        reported yet, in the order the tasks were made.
        """
        not_run = self.schedule.pending_tests() if self.schedule else []
        under_way = [task for worker in workers for task in worker.tasks]
        for task in sorted(under_way, key=lambda task: task.number):
            not_run += task.tests[task.finished :]
        message = f"{reason} {tests(len(not_run))} did not run."
        if len(not_run) > NOT_RUN_LISTED:
            # Beside the durations file, which a user knows where to find.
            path = Path(self.durations_path).with_suffix(".not-run.txt")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"{test.id()}\n" for test in not_run))
            message += f"\nThey are listed in {path}."
        elif not_run:
            message += f"\n{listed(not_run)}"
        self.report_error(
            unittest.suite._ErrorHolder("parallel test run"), message, ("addError", error_class)
        )
        self.result.stop()
