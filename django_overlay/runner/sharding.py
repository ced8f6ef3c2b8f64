"""
--shard K/N: which TestCase classes this run takes, when N runs (machines,
CI agents) split one suite between them.

Every run of the split computes the same partition from the same inputs, the
loaded tests and the durations, and keeps its own part; so the N parts cover
the suite exactly once with no coordination. A class stays whole, as in a
parallel run: its setUpClass and fixtures are shared by its tests.

The partition balances the shards' estimated run times: classes longest
first (greedy longest-processing-time), each onto the shard whose estimate
grows least. The length of a class is what the durations recorded for it,
else its test count times the typical time per test
(scheduling.estimated_seconds); with no durations at all, shards balance test
counts. Ties are broken by class label and shard number, never by load order
or hashing, so the same inputs give the same shards on every machine and
Python.

A shard's run time is not its total work when it runs in parallel: its
workers take Django's kinds of tests in order (scheduling.py), so a long
class of a later kind (a 150 s SimpleTestCase in Django's own suite) starts
only once the earlier kinds are handed out, and a class is never split. The
estimate is the longer of the work spread over the processes and, for each
kind, the earlier kinds' work spread over them plus that kind's longest
class. With one process it is the total work. The N runs of a split must
use the same --parallel, as they must see the same tests and durations.
"""

import argparse
import hashlib
from dataclasses import dataclass

from .scheduling import class_label, estimated_seconds, kind_of

# The JUnit report's properties of a shard's run, read by shard_check.
SHARD_PROPERTY = "django_overlay.shard"
PLAN_PROPERTY = "django_overlay.shard_plan"
SUITE_SIZE_PROPERTY = "django_overlay.suite_tests"


@dataclass(frozen=True)
class Shard:
    number: int
    """1-based, as given on the command line."""

    count: int

    def __str__(self):
        return f"{self.number}/{self.count}"


def parse(value):
    """argparse type for --shard: "K/N" with 1 <= K <= N."""
    number, slash, count = value.partition("/")
    try:
        shard = Shard(int(number), int(count))
    except ValueError:
        shard = None
    if not slash or shard is None or shard.count < 1 or not 1 <= shard.number <= shard.count:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a shard K/N with 1 <= K <= N, e.g. 1/4 for the first of four"
        )
    return shard


@dataclass(eq=False)
class _Unit:
    """The tests of one class, as the partition sees them (Task's fields it needs)."""

    number: int
    label: str
    tests: list


def units_of(tests):
    """The tests grouped by class label, in order of first appearance."""
    groups = {}
    for test in tests:
        groups.setdefault(class_label(test), []).append(test)
    return [_Unit(number, label, grouped) for number, (label, grouped) in enumerate(groups.items())]


class _Load:
    """A shard's work and longest class for each kind of test."""

    def __init__(self, kinds):
        self.work = [0.0] * kinds
        self.longest = [0.0] * kinds

    def estimate(self, processes, kind=None, seconds=0.0):
        """The shard's run time, with a class of kind and seconds added."""
        spread = (sum(self.work) + seconds) / processes
        earlier = 0.0
        for position, (work, longest) in enumerate(zip(self.work, self.longest, strict=True)):
            if position == kind:
                work, longest = work + seconds, max(longest, seconds)
            spread = max(spread, earlier / processes + longest)
            earlier += work
        return spread

    def add(self, kind, seconds):
        self.work[kind] += seconds
        self.longest[kind] = max(self.longest[kind], seconds)


def partition(tests, count, durations, processes=1, reorder_by=()):
    """The labels of the classes in each of count shards: a list of sets."""
    units = units_of(tests)
    estimates = estimated_seconds(units, durations)
    kinds = {unit.number: kind_of(unit.tests[0], reorder_by) for unit in units}
    ordered = sorted(units, key=lambda unit: (-estimates[unit.number], unit.label))
    loads = [_Load(len(reorder_by) + 1) for _ in range(count)]
    shards = [set() for _ in range(count)]
    for unit in ordered:
        kind, seconds = kinds[unit.number], estimates[unit.number]
        index = min(
            range(count), key=lambda index: (loads[index].estimate(processes, kind, seconds), index)
        )
        loads[index].add(kind, seconds)
        shards[index].add(unit.label)
    return shards


def select(tests, shard, durations, processes=1, reorder_by=()):
    """
    The tests of this shard, in their given order, and the digest of the
    whole split's plan.
    """
    shards = partition(tests, shard.count, durations, processes, reorder_by)
    labels = shards[shard.number - 1]
    return [test for test in tests if class_label(test) in labels], plan_digest(tests, shards)


def plan_digest(tests, shards):
    """
    A short digest of which shard takes each test: the N runs of a split
    agree on it exactly when they split the same tests the same way, which
    is what covering the suite exactly once needs. Runs given different
    durations (or tests, or --parallel) make different plans, which the check
    of their reports (shard_check) then refuses.
    """
    number_of = {label: number for number, labels in enumerate(shards, 1) for label in labels}
    digest = hashlib.sha256(f"{len(shards)}\n".encode())
    for test_id, number in sorted((test.id(), number_of[class_label(test)]) for test in tests):
        digest.update(f"{number}\t{test_id}\n".encode())
    return digest.hexdigest()[:16]
