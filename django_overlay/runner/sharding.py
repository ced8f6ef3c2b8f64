"""
--shard K/N: which TestCase classes this run takes, when N runs (machines,
CI agents) split one suite between them.

Every run of the split computes the same partition from the same inputs, the
loaded tests and the durations, and keeps its own part; so the N parts cover
the suite exactly once with no coordination. A class stays whole, as in a
parallel run: its setUpClass and fixtures are shared by its tests.

The partition balances the shards' total durations: classes longest first
(greedy longest-processing-time), each onto the shard with the least work so
far. The length of a class is what the durations recorded for it, else its
test count times the typical time per test (scheduling.estimated_seconds);
with no durations at all, shards balance test counts. Ties are broken by
class label and shard number, never by load order or hashing, so the same
inputs give the same shards on every machine and Python.
"""

import argparse
import heapq
from dataclasses import dataclass

from .scheduling import class_label, estimated_seconds


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


def partition(tests, count, durations):
    """The labels of the classes in each of count shards: a list of sets."""
    units = units_of(tests)
    estimates = estimated_seconds(units, durations)
    ordered = sorted(units, key=lambda unit: (-estimates[unit.number], unit.label))
    # (work so far, shard index): the least loaded shard, lowest index first.
    loads = [(0.0, index) for index in range(count)]
    shards = [set() for _ in range(count)]
    for unit in ordered:
        work, index = heapq.heappop(loads)
        shards[index].add(unit.label)
        heapq.heappush(loads, (work + estimates[unit.number], index))
    return shards


def select(tests, shard, durations):
    """The tests of this shard, in their given order."""
    labels = partition(tests, shard.count, durations)[shard.number - 1]
    return [test for test in tests if class_label(test) in labels]
