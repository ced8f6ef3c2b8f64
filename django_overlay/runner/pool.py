"""
The worker processes of a parallel run.

multiprocessing.Pool hides its processes: when one dies it starts another and
waits forever for a result that will never come. Here each worker has its own
pipe, and the pool waits on the pipes and the process sentinels together, so
it knows at once which worker died and what it was running. A worker that
outlives its deadline has the stacks of its threads dumped (faulthandler, on a
pipe of its own) before it is killed. What to do about either is the
session's business (session.py): the pool only reports it.
"""

import faulthandler
import os
import signal
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait

# How often to look at should_stop() while workers are busy: Ctrl-C's first
# press only sets a flag on the result.
POLL_SECONDS = 0.1
# How long a worker has to write its stacks once asked, and how long the dump
# may pause before it is taken to be complete.
STACK_DUMP_SECONDS = 2.0
STACK_DUMP_QUIET_SECONDS = 0.2
STACK_DUMP_SIGNAL = signal.SIGUSR1
# How long a run that is over waits for a worker still starting (cloning its
# databases) before ending it anyway.
STARTING_SECONDS = 60


class WorkerFailedToStart(RuntimeError):
    pass


# Where a worker is in its task, in memory it shares with the parent, which
# reads it when the worker is lost and to enforce the timeout: written at
# every test's start and stop, it costs no message.
RUNNING, SINCE, FINISHED = range(3)
NOT_RUNNING = -1

# In a worker process: the parent end of the pipe, for send_to_parent(), and
# the shared position.
_parent = None
_position = None


def serve(connection, stack_writer, position, worker_id, initializer, initargs):
    """Body of a worker process: initialise, then run tasks until told to stop."""
    global _parent, _position
    _parent, _position = connection, position
    # Ctrl-C reaches the whole process group; the parent decides what stops,
    # and ends a worker with SIGTERM, whose handler a forked worker inherited.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    faulthandler.register(STACK_DUMP_SIGNAL, file=stack_writer.fileno(), all_threads=True)
    try:
        initializer(worker_id, *initargs)
    except BaseException:
        connection.send(("init_failed", traceback.format_exc()))
        return
    connection.send(("ready",))
    while (task := _receive(connection)) is not None:
        number, function, argument = task
        position[:] = [NOT_RUNNING, time.monotonic(), 0]
        try:
            outcome = ("done", number, function(argument))
        except BaseException as error:
            report_escape(connection, number, error)
            return
        position[SINCE] = 0
        connection.send(outcome)


def report_escape(connection, number, error):
    """
    Tell the parent what escaped the task (KeyboardInterrupt or SystemExit
    that unittest lets through, an error of the overlay's own): the parent
    replaces this worker, whose state no other test should meet (a class's
    transaction still open, its tearDownClass not run). The shared position
    still says where it happened.
    """
    connection.send(("escaped", number, (type(error).__qualname__, traceback.format_exc())))


def send_to_parent(*message):
    """From inside a task: tell the parent something before the task ends."""
    _parent.send(message)


def mark_test_started(index):
    _position[RUNNING], _position[SINCE] = index, time.monotonic()


def mark_test_stopped(index):
    _position[:] = [NOT_RUNNING, time.monotonic(), index + 1]


def _receive(connection):
    try:
        return connection.recv()
    except EOFError:
        # The parent is gone.
        return None


def describe_exit(exitcode):
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


@dataclass
class Message:
    """Something a worker sent: "events" during a task, "done" at its end."""

    worker: "Worker"
    kind: str
    task_number: int
    payload: object


@dataclass
class WorkerLost:
    """A worker died, or was killed at its deadline after dumping its stacks."""

    worker: "Worker"
    description: str
    timed_out: bool = False
    stacks: str | None = None
    # (exception name, traceback) of what escaped the task, which ended it.
    escaped: tuple | None = None


class Worker:
    def __init__(self, slot, process, connection, stack_reader, position):
        self.slot = slot
        self.process = process
        self.connection = connection
        self.stack_reader = stack_reader
        self.position = position
        self.ready = False
        self.task = None
        # Its end of the pipe is closed: it exited or is about to.
        self.hung_up = False
        self.escaped = None

    def __repr__(self):
        return f"worker {self.slot} (pid {self.process.pid})"

    @property
    def idle(self):
        return self.ready and self.task is None

    def running_test(self):
        """Index in its task of the test it is running, or None between tests."""
        index = int(self.position[RUNNING])
        return None if index == NOT_RUNNING else index

    def tests_finished(self):
        """How many of its task's tests it has finished, reported or not."""
        return int(self.position[FINISHED])

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

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.stop(abandon=exc_type is not None)

    def start(self, slot, initargs):
        parent_end, child_end = self.context.Pipe()
        stack_reader, stack_writer = self.context.Pipe(duplex=False)
        position = self.context.RawArray("d", [NOT_RUNNING, 0, 0])
        process = self.context.Process(
            target=serve,
            args=(child_end, stack_writer, position, slot, self.initializer, initargs),
            name=f"django-test-worker-{slot}",
            daemon=True,
        )
        process.start()
        child_end.close()
        stack_writer.close()
        self.workers[slot] = Worker(slot, process, parent_end, stack_reader, position)
        return self.workers[slot]

    def idle_workers(self):
        return [worker for worker in self.workers.values() if worker.idle]

    def busy(self):
        return any(worker.task is not None for worker in self.workers.values())

    def send(self, worker, task, function, argument):
        worker.task = task
        try:
            worker.connection.send((task.number, function, argument))
        except (OSError, ValueError):
            # It died; its sentinel says so on the next receive().
            pass

    def receive(self):
        """
        Wait a little for workers, and yield a Message for what they sent and
        a WorkerLost for each one that died or passed its deadline. A lost
        worker is removed from the pool.
        """
        by_handle = {}
        for worker in self.workers.values():
            by_handle[worker.connection] = worker
            by_handle[worker.process.sentinel] = worker
        for handle in wait(list(by_handle), timeout=self._wait_seconds()):
            worker = by_handle[handle]
            if not self._owns(worker):
                continue
            if handle is worker.connection:
                yield from self._drain(worker)
            if worker.hung_up and self._owns(worker):
                # A closed pipe means the process is exiting; one that does
                # not finish is of no more use.
                worker.process.join(timeout=5)
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
                stacks = self._dump_stacks(worker)
                yield from self._drain(worker)
                yield self._lose(worker, "killed at its deadline", True, stacks)

    def _deadline(self, worker):
        started = worker.step_started()
        if self.timeout is None or worker.task is None or started is None:
            return None
        return started + self.timeout

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
        kind = message[0]
        if kind == "ready":
            worker.ready = True
        elif kind == "init_failed":
            raise WorkerFailedToStart(f"{worker!r} failed to start:\n{message[1]}")
        elif kind == "escaped":
            # It exits after sending this: lost, as if it had died.
            worker.escaped, worker.hung_up = message[2], True
        else:
            if kind == "done":
                worker.task = None
            yield Message(worker, kind, message[1], message[2])

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

    def _dump_stacks(self, worker):
        """Ask a worker for the stacks of its threads, then kill it."""
        try:
            os.kill(worker.process.pid, STACK_DUMP_SIGNAL)
        except ProcessLookupError:
            return None
        chunks = []
        reader = worker.stack_reader
        give_up = time.monotonic() + STACK_DUMP_SECONDS
        while time.monotonic() < give_up:
            quiet = STACK_DUMP_QUIET_SECONDS if chunks else give_up - time.monotonic()
            if not wait([reader], timeout=max(0, quiet)):
                break
            chunk = os.read(reader.fileno(), 65536)
            if not chunk:
                break
            chunks.append(chunk)
        worker.process.kill()
        worker.process.join()
        return b"".join(chunks).decode(errors="replace") or None

    def _lose(self, worker, description, timed_out=False, stacks=None):
        worker.process.join()
        del self.workers[worker.slot]
        worker.connection.close()
        worker.stack_reader.close()
        return WorkerLost(worker, description, timed_out, stacks, worker.escaped)

    def stop(self, abandon=False):
        """
        Let idle workers exit and end busy ones, whose work is abandoned. A
        worker still starting is cloning its databases: it is let finish,
        unless the run is being abandoned (Ctrl-C), since one killed halfway
        leaves a clone that teardown cannot find.
        """
        for worker in self.workers.values():
            if not worker.ready and not abandon and worker.process.is_alive():
                try:
                    worker.connection.poll(STARTING_SECONDS)
                except (EOFError, OSError):
                    pass
            if worker.task is None and not abandon and worker.process.is_alive():
                try:
                    worker.connection.send(None)
                except OSError:
                    pass
            else:
                worker.process.terminate()
        for worker in self.workers.values():
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
            worker.stack_reader.close()
        self.workers.clear()
