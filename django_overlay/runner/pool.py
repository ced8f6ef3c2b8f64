"""
The worker processes of a parallel run, owned by one WorkerPool.

multiprocessing.Pool hides its processes: when one dies it starts another and
waits forever for a result that will never come. This pool keeps each process
with its own pipe and waits on the pipes and the process sentinels together,
so it knows at once which worker died and what it was running.
"""

import signal
import traceback
from collections import deque
from multiprocessing.connection import wait

# How often to look at should_stop() while workers are busy: Ctrl-C's first
# press only sets a flag on the result.
POLL_SECONDS = 0.1


class WorkerFailedToStart(RuntimeError):
    pass


class WorkerCrashed(RuntimeError):
    pass


class TaskFailed(RuntimeError):
    pass


def serve(connection, worker_id, initializer, initargs):
    """Body of a worker process: initialise, then run tasks until told to stop."""
    try:
        initializer(worker_id, *initargs)
    except BaseException:
        connection.send(("init_failed", traceback.format_exc()))
        return
    connection.send(("ready",))
    while (task := _receive(connection)) is not None:
        number, function, argument = task
        try:
            connection.send(("done", number, function(argument)))
        except KeyboardInterrupt:
            return
        except BaseException:
            connection.send(("failed", number, traceback.format_exc()))


def _receive(connection):
    try:
        return connection.recv()
    except (EOFError, KeyboardInterrupt):
        # The parent is gone or the run is being interrupted.
        return None


def describe_exit(exitcode):
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class Worker:
    def __init__(self, worker_id, process, connection):
        self.id = worker_id
        self.process = process
        self.connection = connection
        self.ready = False
        self.task = None

    def __repr__(self):
        return f"worker {self.id} (pid {self.process.pid})"


class WorkerPool:
    """Start N workers, hand them tasks, and collect what they send back."""

    def __init__(self, context, processes, initializer, initargs):
        self.context = context
        self.processes = processes
        self.initializer = initializer
        self.initargs = initargs
        self.workers = {}

    def __enter__(self):
        for worker_id in range(1, self.processes + 1):
            self.start_worker(worker_id)
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start_worker(self, worker_id):
        parent_end, child_end = self.context.Pipe()
        process = self.context.Process(
            target=serve,
            args=(child_end, worker_id, self.initializer, self.initargs),
            name=f"django-test-worker-{worker_id}",
            daemon=True,
        )
        process.start()
        child_end.close()
        self.workers[worker_id] = Worker(worker_id, process, parent_end)

    def imap_unordered(self, function, arguments, should_stop):
        """
        Yield the result for each argument as soon as a worker returns it,
        handing arguments out in order to whichever worker is free. Return
        early, leaving work undone, once should_stop() is true.
        """
        pending = deque(enumerate(arguments))
        while pending or any(worker.task for worker in self.workers.values()):
            if should_stop():
                return
            for worker in self.workers.values():
                if worker.ready and worker.task is None and pending:
                    worker.task = pending.popleft()
                    try:
                        worker.connection.send((worker.task[0], function, worker.task[1]))
                    except OSError:
                        raise self._crashed(worker) from None
            yield from self._collect()

    def _collect(self):
        by_handle = {}
        for worker in self.workers.values():
            by_handle[worker.connection] = worker
            by_handle[worker.process.sentinel] = worker
        for handle in wait(list(by_handle), timeout=POLL_SECONDS):
            worker = by_handle[handle]
            if handle is worker.connection:
                yield from self._receive_from(worker)
            elif not worker.connection.poll():
                raise self._crashed(worker)

    def _receive_from(self, worker):
        try:
            message = worker.connection.recv()
        except EOFError:
            raise self._crashed(worker) from None
        kind = message[0]
        if kind == "ready":
            worker.ready = True
        elif kind == "init_failed":
            raise WorkerFailedToStart(f"{worker!r} failed to start:\n{message[1]}")
        elif kind == "failed":
            raise TaskFailed(f"{worker!r} failed:\n{message[2]}")
        else:
            worker.task = None
            yield message[2]

    def _crashed(self, worker):
        worker.process.join()
        running = f" while running task {worker.task[0]}" if worker.task else ""
        return WorkerCrashed(
            f"{worker!r} died ({describe_exit(worker.process.exitcode)}){running}."
        )

    def stop(self):
        """Let idle workers exit; end busy ones, whose work is abandoned."""
        for worker in self.workers.values():
            if worker.task is None and worker.process.is_alive():
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
        self.workers.clear()
