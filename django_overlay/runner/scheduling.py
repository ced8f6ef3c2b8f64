"""
What runs next: TestCase classes, longest first.

A class is the unit that stays on one worker (its setUpClass and fixtures are
shared by its tests). Handing out the longest first keeps one worker from
starting a long class when the others are about to run out of work. The
length of a class is what the durations file recorded for it, or, for a class
never measured, its test count times the typical time per test of the classes
that were.

Django's order by kind of test (DiscoverRunner.reorder_by: TestCase, then
SimpleTestCase, then TransactionTestCase and the rest) is kept: a
TransactionTestCase may leave the database in a state that a TestCase does not
expect (it flushes content types, for one), so within each worker no class of
a later kind may run before one of an earlier kind. Longest first applies
within each kind. A run in an order of its own (--shuffle, --reverse) keeps it.
"""

import statistics
from collections import deque
from dataclasses import dataclass, field

# Time per test assumed when nothing has been measured yet: only the order
# matters, so any positive number does.
UNMEASURED_SECONDS_PER_TEST = 0.1


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
    worker: object = field(default=None, repr=False)


def class_label(test):
    test_class = type(test)
    return f"{test_class.__module__}.{test_class.__qualname__}"


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
    return {
        task.number: durations.get(task.label, per_test * len(task.tests)) for task in tasks
    }


class LongestFirst:
    """Pending tasks; a task taken back from a lost worker goes first."""

    def __init__(self, tasks, durations, keep_order=False):
        if not keep_order:
            estimates = estimated_seconds(tasks, durations)
            tasks = sorted(tasks, key=lambda task: (task.kind, -estimates[task.number]))
        self.pending = deque(tasks)

    def __bool__(self):
        return bool(self.pending)

    def __len__(self):
        return len(self.pending)

    def next_task(self):
        return self.pending.popleft()

    def requeue(self, task):
        self.pending.appendleft(task)

    def remaining_tests(self):
        return sum(len(task.tests) for task in self.pending)
