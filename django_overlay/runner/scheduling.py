"""
What runs next: TestCase classes, longest first.

A class is the unit that stays on one worker (its setUpClass and fixtures are
shared by its tests). Handing out the longest first keeps one worker from
starting a long class when the others are about to run out of work. The
length of a class is what the durations file recorded for it, or, for a class
never measured, its test count times the typical time per test of the classes
that were.

Longest first goes by module: the modules with the most work first, and each
module's classes together, longest first. A worker then runs a module's
classes one after the other, as in discovery order, rather than classes of
the whole suite in turn, which cost the workers more CPU in a measurement on
Django's own suite (docs/benchmarks.md: that one was mostly a cost of
upstream's per-class tblib install(), since removed, see outcomes); and the
last modules are short, which is what the end of a run needs.

Django's order by kind of test (DiscoverRunner.reorder_by: TestCase, then the
other SimpleTestCase classes, TransactionTestCase among them, then the rest) is
kept: a TransactionTestCase may leave the database in a state that a TestCase
does not expect (it flushes content types, for one), so within each worker no
class of a later kind may run before one of an earlier kind. Longest first
applies within each kind.

The rule binds each worker, not the run: a worker may move on to the next
kind while the others finish the earlier one. It does so when the earlier
kind's pending work would keep the others busy no longer than the next
kind's longest class takes: otherwise that class starts only once the
earlier kind is done, and one worker runs it alone at the end (Django's own
suite: a 20 to 35 s class of the last kind left the other worker idle that
long). The last worker that may still run the earlier kind stays on it.

A run in an order of its own (--shuffle, --reverse) keeps it.
"""

import statistics
from collections import deque
from dataclasses import dataclass

# Time per test assumed when nothing has been measured yet: only the order
# matters, so any positive number does.
UNMEASURED_SECONDS_PER_TEST = 0.1
# A task may wait in a worker's pipe behind the one the worker runs while the
# work still pending would keep every worker busy this many times longer than
# that one is expected to take: the worker reaches it long before the others
# run out, so no worker idles while a task waits elsewhere, unless an
# estimate is that far off.
QUEUE_BEHIND_MARGIN = 4


@dataclass(eq=False)
class Task:
    """Tests of one TestCase class, sent to a worker together."""

    number: int
    label: str
    tests: list
    kind: int = 0
    requeued: bool = False
    # How many of its tests the parent has seen finish, and whether the one
    # being replayed has failed; both advance as the worker's events arrive.
    finished: int = 0
    failed: bool = False
    dispatched_at: float | None = None
    # With --reruns: the events of the test being replayed, held until it
    # stops, when the session knows whether it will run again.
    held: list | None = None


def class_label(test):
    test_class = type(test)
    return f"{test_class.__module__}.{test_class.__qualname__}"


def module_of(task):
    return type(task.tests[0]).__module__


def kind_of(test, reorder_by):
    """The position of the test's kind in Django's run order."""
    for position, test_class in enumerate(reorder_by):
        if isinstance(test, test_class):
            return position
    return len(reorder_by)


def estimated_seconds(tasks, durations):
    measured = [
        durations[task.label] / len(task.tests) for task in tasks if task.label in durations
    ]
    per_test = statistics.median(measured) if measured else UNMEASURED_SECONDS_PER_TEST
    return {task.number: durations.get(task.label, per_test * len(task.tests)) for task in tasks}


class LongestFirst:
    """
    Pending tasks by kind, longest first; a task taken back from a lost
    worker goes first, to whichever worker asks.
    """

    def __init__(self, tasks, durations, keep_order=False):
        self.estimates = estimated_seconds(tasks, durations)
        # With an order of the run's own, one queue in that order.
        self.queues = {}
        for task in tasks:
            self.queues.setdefault(0 if keep_order else task.kind, []).append(task)
        self.seconds = {
            kind: sum(self.estimates[task.number] for task in queue)
            for kind, queue in self.queues.items()
        }
        # Each kind's tasks, longest first, for a worker moving on to it;
        # those taken meanwhile are skipped.
        self.by_length = {}
        self.taken = set()
        if not keep_order:
            for kind, queue in self.queues.items():
                self.queues[kind] = self.by_module(queue)
                self.by_length[kind] = deque(sorted(queue, key=self.estimate, reverse=True))
        self.queues = {kind: deque(queue) for kind, queue in self.queues.items()}
        self.requeued = deque()
        # The kind of the last task each worker took: none of an earlier kind
        # may follow it there.
        self.kind_taken = {}

    def estimate(self, task):
        return self.estimates[task.number]

    def by_module(self, tasks):
        """The modules with the most work first, each one's classes longest first."""
        work = {}
        for task in tasks:
            work[module_of(task)] = work.get(module_of(task), 0) + self.estimate(task)
        return sorted(
            tasks, key=lambda task: (-work[module_of(task)], module_of(task), -self.estimate(task))
        )

    def __bool__(self):
        return bool(self.requeued) or any(self.queues.values())

    def __len__(self):
        return len(self.requeued) + sum(map(len, self.queues.values()))

    def next_task(self, worker, workers):
        """
        The task for worker, or None if all that is pending must wait for
        another of workers (the pool's), which may still run an earlier kind.
        """
        if self.requeued:
            return self.requeued.popleft()
        kinds = sorted(kind for kind, queue in self.queues.items() if queue)
        if not kinds:
            return None
        others = [other for other in workers if other is not worker]
        open_kinds = [kind for kind in kinds if kind >= self.kind_taken.get(worker, kind)]
        if not open_kinds:
            if any(self.kind_taken.get(other, kinds[0]) <= kinds[0] for other in others):
                return None
            # No worker may take them in order any more (the ones that could
            # were lost): they run out of order rather than never.
            open_kinds = kinds
        kind = open_kinds[0]
        if len(open_kinds) > 1 and self.worth_moving_on(others, kind, open_kinds[1]):
            kind = open_kinds[1]
            task = self.longest(kind)
            self.queues[kind].remove(task)
        else:
            task = self.queues[kind].popleft()
        self.taken.add(task.number)
        self.seconds[kind] -= self.estimate(task)
        self.kind_taken[worker] = kind
        return task

    def may_queue_behind(self, task, worker_count):
        """Whether a task may be sent to the worker running task, to wait behind it."""
        if self.requeued or task.number not in self.estimates:
            # A task taken back from a lost worker goes to the first one free.
            return False
        pending = sum(self.seconds.values())
        return pending >= QUEUE_BEHIND_MARGIN * worker_count * self.estimate(task)

    def longest(self, kind):
        tasks = self.by_length[kind]
        while tasks[0].number in self.taken:
            tasks.popleft()
        return tasks[0]

    def worth_moving_on(self, others, kind, next_kind):
        """Whether the others can finish kind while next_kind's longest task runs."""
        staying = [other for other in others if self.kind_taken.get(other, kind) <= kind]
        return bool(staying) and self.seconds[kind] <= len(staying) * self.estimate(
            self.longest(next_kind)
        )

    def requeue(self, task):
        self.requeued.appendleft(task)

    def remaining_tests(self):
        return len(self.pending_tests())

    def pending_tests(self):
        """The tests of the tasks not handed out yet, requeued ones first."""
        tasks = [*self.requeued, *(task for queue in self.queues.values() for task in queue)]
        return [test for task in tasks for test in task.tests]
