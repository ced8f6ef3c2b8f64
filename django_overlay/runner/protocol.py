"""
What a worker of a parallel run and the parent say to each other.

Each worker has a pipe of its own (pool.py). The parent sends RunTask for
each task and Stop at the end; the worker (worker.py) answers Ready or
StartFailed once, then, for each task, Events as its tests end,
LeftProcesses when the task leaves processes running, and Done, or Escaped
when something escaped the task and the worker exits; ThreadsAtExit after
Stop. Where the worker is in its task is no message: it writes it into
memory it shares with the parent (RUNNING, SINCE, FINISHED, TASK), at every
test's start and stop, which costs no message.

The pool keeps what says how a worker stands (Ready, StartFailed, Escaped)
and passes the rest to the session (session.py) with the worker that sent
it, and WorkerLost or WorkerTimedOut, of its own, for a worker that died or
passed its deadline; the session handles each by its type.

Several messages go for each TestCase class: they pickle by position
(Message.__reduce__), nearly as cheaply as the tuples they replace.
"""

from dataclasses import dataclass

# Where a worker is in its task, in its shared position: the index in the
# task of the test running (NOT_RUNNING between tests), when the current
# step began (0 when idle), how many of the task's tests have finished, and
# the number of the task, which may be one the parent has not seen begin: a
# task waits in the worker's pipe behind the one it runs (WorkerPool.send).
RUNNING, SINCE, FINISHED, TASK = range(4)
NOT_RUNNING = -1
POSITION_AT_START = [NOT_RUNNING, 0, 0, NOT_RUNNING]


class Message:
    """Something that crosses a worker's pipe."""

    __slots__ = ()

    def __reduce__(self):
        # By position: a slotted dataclass otherwise pickles its fields by
        # name, through __getstate__.
        return (type(self), tuple(getattr(self, name) for name in self.__match_args__))


# From the parent to a worker.


@dataclass(slots=True)
class RunTask(Message):
    """Run function(argument), task number's run_subsuite() and its arguments."""

    number: int
    function: object
    argument: tuple


@dataclass(slots=True)
class Stop(Message):
    """Exit once the tasks sent before are done."""


# From a worker to the parent.


@dataclass(slots=True)
class Ready(Message):
    """The worker is set up (its databases, under spawn Django too)."""


@dataclass(slots=True)
class StartFailed(Message):
    """The worker's set-up raised; it exits next."""

    traceback: str


@dataclass(slots=True)
class Events(Message):
    """The events of tests of a task that have ended, in the order they came."""

    task_number: int
    events: list


@dataclass(slots=True)
class LeftProcesses(Message):
    """
    A task left processes running in the worker's group: the indexes of the
    tests that may have started them (None for the class's fixtures), and
    pid -> command line.
    """

    task_number: int
    starters: list
    processes: dict


@dataclass(slots=True)
class Done(Message):
    """A task ended: what run_subsuite() returned, (its number, the events not sent yet)."""

    task_number: int
    result: tuple


@dataclass(slots=True)
class Escaped(Message):
    """
    An exception escaped the task (KeyboardInterrupt or SystemExit that
    unittest lets through, an error of the overlay's own), and the worker
    exits: its state is no other test's to meet.
    """

    task_number: int
    error_name: str
    traceback: str


@dataclass(slots=True)
class ThreadsAtExit(Message):
    """
    After Stop: the threads Python waits for before the worker exits, (name,
    (task number, index of the test or None for the class) or None for the
    worker's set-up), for the parent to name if it has to kill it.
    """

    threads: list


# In the parent, from the pool to the session: never pickled.


@dataclass(slots=True)
class WorkerLost:
    """
    A worker died, or failed before it was ready (start_failure, the
    traceback it sent, if it could), or exited after something escaped its
    task.
    """

    description: str
    # Its threads' stacks, when its watchdog wrote them (WorkerTimedOut).
    stacks: str | None = None
    start_failure: str | None = None
    escaped: Escaped | None = None
    # pid -> command line of the processes left in its group, which were
    # ended with it.
    left_processes: dict | None = None


@dataclass(slots=True)
class WorkerTimedOut(WorkerLost):
    """A worker's step passed its deadline (--timeout), and the worker was ended."""
