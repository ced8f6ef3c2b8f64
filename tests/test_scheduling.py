"""The order in which a parallel run hands out TestCase classes."""

import unittest

from django.test import SimpleTestCase, TestCase, TransactionTestCase

from django_overlay.runner.scheduling import LongestFirst, Task, class_label, kind_of

REORDER_BY = (unittest.loader._FailedTest, TestCase, SimpleTestCase)


def make_class(name, base, tests):
    methods = {f"test_{index}": lambda self: None for index in range(tests)}
    return type(name, (base,), {"__module__": "app.tests", **methods})


def make_task(number, test_class):
    tests = [test_class(name) for name in unittest.defaultTestLoader.getTestCaseNames(test_class)]
    return Task(number, class_label(tests[0]), tests, kind_of(tests[0], REORDER_BY))


def order(tasks, durations, keep_order=False):
    schedule = LongestFirst(tasks, durations, keep_order)
    return [schedule.next_task().label.removeprefix("app.tests.") for _ in tasks]


def test_longest_first_within_each_kind():
    tasks = [
        make_task(0, make_class("ShortTestCase", TestCase, 1)),
        make_task(1, make_class("LongTestCase", TestCase, 1)),
        make_task(2, make_class("Simple", SimpleTestCase, 1)),
        make_task(3, make_class("LongTransaction", TransactionTestCase, 1)),
        make_task(4, make_class("ShortTransaction", TransactionTestCase, 1)),
    ]
    durations = {
        "app.tests.ShortTestCase": 1.0,
        "app.tests.LongTestCase": 9.0,
        "app.tests.Simple": 50.0,
        "app.tests.LongTransaction": 30.0,
        "app.tests.ShortTransaction": 2.0,
    }

    # A TransactionTestCase never starts before a TestCase, however long.
    assert order(tasks, durations) == [
        "LongTestCase",
        "ShortTestCase",
        "Simple",
        "LongTransaction",
        "ShortTransaction",
    ]


def test_unmeasured_classes_are_estimated_from_their_test_count():
    tasks = [
        make_task(0, make_class("Measured", TestCase, 2)),
        make_task(1, make_class("FewTests", TestCase, 1)),
        make_task(2, make_class("ManyTests", TestCase, 5)),
    ]
    # 2 s a test, so ManyTests is taken for 10 s and FewTests for 2 s.
    durations = {"app.tests.Measured": 4.0}

    assert order(tasks, durations) == ["ManyTests", "Measured", "FewTests"]


def test_an_order_of_the_runs_own_is_kept():
    tasks = [
        make_task(0, make_class("First", TestCase, 1)),
        make_task(1, make_class("Second", TestCase, 9)),
    ]

    assert order(tasks, {}, keep_order=True) == ["First", "Second"]


def test_requeued_task_goes_first():
    tasks = [make_task(0, make_class("A", TestCase, 3)), make_task(1, make_class("B", TestCase, 1))]
    schedule = LongestFirst(tasks, {})
    taken = schedule.next_task()

    schedule.requeue(Task(2, taken.label, taken.tests[1:], requeued=True))

    assert schedule.next_task().number == 2
    assert schedule.remaining_tests() == 1
