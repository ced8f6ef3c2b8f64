"""
The worker processes of a parallel run.

multiprocessing.Pool hides its processes: when one dies it starts another and
waits forever for a result that will never come. Here each worker has its own
pipe, and the pool waits on the pipes and the process sentinels together, so
it knows at once which worker died and what it was running. A worker whose
step outlives its deadline writes the stacks of its threads into a file of
its own and ends itself (watchdog.py); the parent reads the file, and kills a
worker that is still there a grace period later. No signal is involved, so
the same runs on every platform. Each worker leads a process group of its
own (a job object on Windows), which the pool ends with the worker
(process_groups.py). What to
do about a lost worker is the session's business (session.py): the pool
only reports it. The messages are protocol.py's; the worker's end of the
pipe is worker.py.
"""

import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from . import process_groups
from .protocol import (
    FINISHED,
    NOT_RUNNING,
    POSITION_AT_START,
    RUNNING,
    SINCE,
    TASK,
    Done,
    Escaped,
    Events,
    LeftProcesses,
    Ready,
    RunTask,
    StartFailed,
    Stop,
    ThreadsAtExit,
    WorkerLost,
    WorkerTimedOut,
)
from .watchdog import read_stacks
from .worker import serve

# How often to look at should_stop() while workers are busy: Ctrl-C's first
# press only sets a flag on the result.
POLL_SECONDS = 0.1
# How long after its deadline a worker still running is killed: its watchdog
# should have written its stacks and ended it by then.
STACK_DUMP_SECONDS = 2.0
# Before Python 3.13, multiprocessing.connection.wait() on Windows is one
# WaitForMultipleObjects() call, which takes at most 63 handles (two a
# worker); 3.13 waits in batches itself.
WAIT_BATCH = 63 if sys.platform == "win32" and sys.version_info < (3, 13) else None
# How often batches are polled, when there are several.
BATCH_POLL_SECONDS = 0.005
# How long a run that is over waits for a worker still starting (cloning its
# databases) before ending it anyway.
STARTING_SECONDS = 60
# How long a worker told to stop, or that hung up, has to exit before it is
# killed: Python waits for the threads that are not daemons first.
EXIT_SECONDS = 5
# How much longer a worker told to stop at the end of the run has when it said
# no thread holds it: it is finalizing its interpreter, which after thousands
# of test modules (Django's own suite, spawned workers) took longer than
# EXIT_SECONDS on a loaded machine, and killing it would name no culprit.
FINALIZING_SECONDS = 60


# Windows ends a process that faults with an NTSTATUS code as its exit code;
# POSIX exit codes never exceed 255, so the table is safe to read everywhere.
WINDOWS_EXIT_CODES = {
    0xC0000005: "access violation",
    0xC00000FD: "stack overflow",
    0xC0000409: "stack buffer overrun, or abort() through a fail-fast",
    0xC0000374: "heap corruption",
    0xC000001D: "illegal instruction",
    0xC0000094: "integer division by zero",
    0xC0000017: "out of memory",
    0xC000013A: "ended by Ctrl-C or Ctrl-Break",
    0xC0000135: "a DLL was not found",
    0xC0000142: "a DLL failed to initialise",
}


def describe_exit(exitcode):
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    if exitcode in WINDOWS_EXIT_CODES:
        return f"exit code 0x{exitcode:08X}: {WINDOWS_EXIT_CODES[exitcode]}"
    return f"exit code {exitcode}"


def wait_for_any(handles, timeout):
    """
    multiprocessing.connection.wait() for any number of handles: in batches
    where one call takes too few (Windows before Python 3.13), each polled in
    turn until one is ready or the timeout passes.
    """
    if WAIT_BATCH is None or len(handles) <= WAIT_BATCH:
        return wait(handles, timeout)
    batches = [handles[start : start + WAIT_BATCH] for start in range(0, len(handles), WAIT_BATCH)]
    give_up = time.monotonic() + timeout
    while True:
        ready = [handle for batch in batches for handle in wait(batch, 0)]
        remaining = give_up - time.monotonic()
        if ready or remaining <= 0:
            return ready
        time.sleep(min(BATCH_POLL_SECONDS, remaining))


@dataclass
class KilledAtExit:
    """
    A worker told to stop at the end of the run that had not exited after
    `waited` seconds, and the threads it said it was waiting for: (name, (task
    number, index of the test or None for the class) or None for its setup).
    """

    worker: "Worker"
    threads: list
    waited: float


class Worker:
    def __init__(self, slot, process, connection, stacks_path, position, group):
        self.slot = slot
        self.process = process
        self.connection = connection
        # Where its watchdog writes the stacks of its threads (--timeout only).
        self.stacks_path = stacks_path
        self.position = position
        self.ready = False
        self.start_failure = None
        # The task it runs, then any sent to wait behind it.
        self.tasks = []
        # Its end of the pipe is closed: it exited or is about to.
        self.hung_up = False
        self.escaped = None
        # Its process group or job object (process_groups.py), where there are.
        self.group = group
        # Processes in it that it has named already.
        self.reported_processes = set()

    def __repr__(self):
        return f"worker {self.slot} (pid {self.process.pid})"

    @property
    def task(self):
        """The task it runs, as far as the parent knows: the oldest not done."""
        return self.tasks[0] if self.tasks else None

    @property
    def idle(self):
        return self.ready and not self.tasks

    def running_test(self):
        """Index in its task of the test it is running, or None between tests."""
        index = int(self.position[RUNNING])
        if index == NOT_RUNNING or not self._in(self.task):
            return None
        return index

    def tests_finished(self):
        """How many of its task's tests it has finished, reported or not."""
        if self._in(self.task):
            return int(self.position[FINISHED])
        # On to the next one, whose "done" never came: all of them.
        return len(self.task.tests) if self._past(self.task) else 0

    def _in(self, task):
        return task is not None and int(self.position[TASK]) == task.number

    def _past(self, task):
        return any(self._in(later) for later in self.tasks[self.tasks.index(task) + 1 :])

    def step_started(self):
        """When its current test (or class setup or teardown) began; None if idle."""
        return self.position[SINCE] or None


class WorkerPool:
    """
    N worker processes, numbered 1..N by slot: a worker that replaces another
    takes its slot, and so its databases.
    """

    def __init__(self, context, initializer, timeout=None):
        self.context = context
        self.initializer = initializer
        self.timeout = timeout
        self.workers = {}
        # The workers' stacks files, in a directory of the run's own.
        self.stacks_directory = None
        # What stop() had to kill.
        self.killed_at_exit = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.stop(abandon=exc_type is not None)

    def start(self, slot, initargs):
        parent_end, child_end = self.context.Pipe()
        position = self.context.RawArray("d", POSITION_AT_START)
        stacks_path = None
        if self.timeout is not None:
            if self.stacks_directory is None:
                self.stacks_directory = tempfile.mkdtemp(prefix="django-overlay-stacks-")
            stacks_path = str(Path(self.stacks_directory) / f"worker-{slot}.txt")
        job = process_groups.new_group()
        process = self.context.Process(
            target=serve,
            args=(
                child_end,
                position,
                slot,
                self.initializer,
                initargs,
                self.timeout,
                stacks_path,
                job,
            ),
            name=f"django-test-worker-{slot}",
            daemon=True,
        )
        process.start()
        child_end.close()
        group = process_groups.group_of(process, job)
        self.workers[slot] = Worker(slot, process, parent_end, stacks_path, position, group)
        return self.workers[slot]

    def idle_workers(self):
        return [worker for worker in self.workers.values() if worker.idle]

    def busy(self):
        return any(worker.tasks for worker in self.workers.values())

    def send(self, worker, task, function, argument):
        """
        Send worker a task, to run when those it has are done: one sent
        while it still runs another is read as soon as that one ends, as
        upstream's workers take their next task from a queue, instead of
        waiting for the parent to hear of the end and answer.
        """
        worker.tasks.append(task)
        try:
            worker.connection.send(RunTask(task.number, function, argument))
        except (OSError, ValueError):
            # It died; its sentinel says so on the next receive().
            pass

    def receive(self):
        """
        Wait a little for workers, and yield (worker, message): what they
        sent the session (Events, LeftProcesses, Done), and a WorkerLost or
        WorkerTimedOut for each one that died or passed its deadline. A lost
        worker is removed from the pool.
        """
        by_handle = {}
        for worker in self.workers.values():
            by_handle[worker.connection] = worker
            by_handle[worker.process.sentinel] = worker
        for handle in wait_for_any(list(by_handle), timeout=self._wait_seconds()):
            worker = by_handle[handle]
            if not self._owns(worker):
                continue
            if handle is worker.connection:
                yield from self._drain(worker)
            if worker.hung_up and self._owns(worker):
                # A closed pipe means the process is exiting; one that does
                # not finish is of no more use.
                worker.process.join(timeout=EXIT_SECONDS)
                if worker.process.is_alive():
                    worker.process.kill()
                    worker.process.join()
            if not worker.process.is_alive() and self._owns(worker):
                # Its last messages may still be in the pipe.
                yield from self._drain(worker)
                yield self._lose(worker, describe_exit(worker.process.exitcode))
        now = time.monotonic()
        for worker in list(self.workers.values()):
            deadline = self._deadline(worker)
            if deadline is not None and now >= deadline:
                # Its watchdog did not end it (a step that took the GIL for
                # good before the watchdog armed).
                worker.process.kill()
                worker.process.join()
                yield from self._drain(worker)
                yield self._lose(worker, "killed at its deadline", timed_out=True)

    def _deadline(self, worker):
        """When a worker still in its step is killed: the step's deadline, plus a grace."""
        started = worker.step_started()
        if self.timeout is None or worker.task is None or started is None:
            return None
        return started + self.timeout + STACK_DUMP_SECONDS

    def _wait_seconds(self):
        deadlines = [
            deadline
            for deadline in map(self._deadline, self.workers.values())
            if deadline is not None
        ]
        if not deadlines:
            return POLL_SECONDS
        return max(0, min(POLL_SECONDS, min(deadlines) - time.monotonic()))

    def _receive_from(self, worker):
        try:
            message = worker.connection.recv()
        except (EOFError, OSError):
            worker.hung_up = True
            return
        match message:
            case Events():
                yield worker, message
            case Done():
                worker.tasks.pop(0)
                yield worker, message
            case LeftProcesses():
                worker.reported_processes.update(message.processes)
                yield worker, message
            case Ready():
                worker.ready = True
            case StartFailed():
                # It exits next; the loss reports it.
                worker.start_failure = message.traceback
            case Escaped():
                # It exits after sending this: lost, as if it had died.
                worker.escaped, worker.hung_up = message, True

    def _owns(self, worker):
        """False once the worker is lost, even if another has taken its slot."""
        return self.workers.get(worker.slot) is worker

    def _drain(self, worker):
        while self._owns(worker) and not worker.hung_up:
            try:
                if not worker.connection.poll():
                    return
            except (EOFError, OSError):
                return
            yield from self._receive_from(worker)

    @staticmethod
    def _threads_at_exit(worker):
        """What a worker that does not exit said it waits for, last in its pipe."""
        threads = []
        try:
            while worker.connection.poll():
                message = worker.connection.recv()
                if isinstance(message, ThreadsAtExit):
                    threads = message.threads
        except (EOFError, OSError):
            pass
        return threads

    def _lose(self, worker, description, timed_out=False):
        worker.process.join()
        left = process_groups.members(
            worker.group, exclude={worker.process.pid, *worker.reported_processes}
        )
        process_groups.end_groups([worker.group] if worker.group is not None else [])
        del self.workers[worker.slot]
        worker.connection.close()
        stacks = None
        if worker.stacks_path is not None:
            # Only a watchdog that fired writes stacks, and it ends the worker.
            stacks = read_stacks(worker.stacks_path)
            os.unlink(worker.stacks_path)
        if stacks is not None:
            description, timed_out = "ended at its deadline", True
        lost = WorkerTimedOut if timed_out else WorkerLost
        return worker, lost(description, stacks, worker.start_failure, worker.escaped, left)

    def retire(self, worker):
        """
        Let an idle worker exit, to make way for a fresh one in its slot (a
        rerun runs in a fresh worker: session.py). What its tests left
        running ends with it.
        """
        del self.workers[worker.slot]
        try:
            worker.connection.send(Stop())
        except OSError:
            pass
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.connection.close()
        if worker.group is not None:
            process_groups.end_groups([worker.group])

    def stop(self, abandon=False):
        """
        Let idle workers exit and end busy ones, whose work is abandoned. A
        worker still starting is cloning its databases: it is let finish,
        unless the run is being abandoned (Ctrl-C), since one killed halfway
        leaves a clone that teardown cannot find.
        """
        told_to_stop = set()
        for worker in self.workers.values():
            if not worker.ready and not abandon and worker.process.is_alive():
                try:
                    worker.connection.poll(STARTING_SECONDS)
                except (EOFError, OSError):
                    pass
            if not worker.tasks and not abandon and worker.process.is_alive():
                try:
                    worker.connection.send(Stop())
                    told_to_stop.add(worker.slot)
                except OSError:
                    pass
            else:
                worker.process.terminate()
        for worker in self.workers.values():
            worker.process.join(timeout=EXIT_SECONDS)
            if worker.process.is_alive() and worker.slot in told_to_stop:
                waited = EXIT_SECONDS
                if not (threads := self._threads_at_exit(worker)):
                    worker.process.join(timeout=FINALIZING_SECONDS)
                    waited += FINALIZING_SECONDS
                if worker.process.is_alive():
                    self.killed_at_exit.append(KilledAtExit(worker, threads, waited))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        # What the workers' tests left running ends with them, and so lets go
        # of the run's stdout and stderr.
        process_groups.end_groups(
            [worker.group for worker in self.workers.values() if worker.group is not None]
        )
        self.workers.clear()
        if self.stacks_directory is not None:
            shutil.rmtree(self.stacks_directory, ignore_errors=True)
            self.stacks_directory = None
