"""The order in which a parallel run hands out TestCase classes."""

import heapq
import multiprocessing
import random
import unittest
from concurrent.futures import ProcessPoolExecutor

from django.test import SimpleTestCase, TestCase, TransactionTestCase

from django_overlay.runner import durations as durations_file
from django_overlay.runner.scheduling import LongestFirst, Task, class_label, kind_of

REORDER_BY = (unittest.loader._FailedTest, TestCase, SimpleTestCase)


def make_class(name, base, tests, module="app.tests"):
    methods = {f"test_{index}": lambda self: None for index in range(tests)}
    return type(name, (base,), {"__module__": module, **methods})


def make_task(number, test_class):
    tests = [test_class(name) for name in unittest.defaultTestLoader.getTestCaseNames(test_class)]
    return Task(number, class_label(tests[0]), tests, kind_of(tests[0], REORDER_BY))


def order(tasks, durations, keep_order=False):
    """The order one worker gets the tasks in."""
    schedule = LongestFirst(tasks, durations, keep_order)
    worker = object()
    return [schedule.next_task(worker, [worker]).label.removeprefix("app.tests.") for _ in tasks]


def simulate(tasks, durations, workers):
    """
    Run the schedule on workers that take the recorded durations: each
    worker's labels in order, and when the last one finished.
    """
    schedule = LongestFirst(tasks, durations)
    names = [f"worker {index}" for index in range(workers)]
    taken = {name: [] for name in names}
    # (time a worker is free, its name); a worker with nothing to take waits
    # for the next one to finish.
    free = [(0.0, name) for name in names]
    waiting = []
    end = 0.0
    while schedule:
        now, name = heapq.heappop(free)
        end = max(end, now)
        for candidate in [name, *waiting]:
            task = schedule.next_task(candidate, names)
            if task is None:
                continue
            if candidate != name:
                waiting.remove(candidate)
                waiting.append(name)
            taken[candidate].append(task)
            heapq.heappush(free, (now + durations[task.label], candidate))
            break
        else:
            waiting.append(name)
    end = max([end, *(time for time, _ in free)])
    return taken, end


def kinds_in_order(taken):
    return all(
        [task.kind for task in tasks] == sorted(task.kind for task in tasks)
        for tasks in taken.values()
    )


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


def test_modules_with_the_most_work_first_and_their_classes_together():
    tasks = [
        make_task(0, make_class("Long", TestCase, 1, module="app.tests.a")),
        make_task(1, make_class("Short", TestCase, 1, module="app.tests.a")),
        make_task(2, make_class("First", TestCase, 1, module="app.tests.b")),
        make_task(3, make_class("Second", TestCase, 1, module="app.tests.b")),
    ]
    durations = {
        "app.tests.a.Long": 5.0,
        "app.tests.a.Short": 1.0,
        "app.tests.b.First": 4.0,
        "app.tests.b.Second": 4.5,
    }

    assert order(tasks, durations) == ["b.Second", "b.First", "a.Long", "a.Short"]


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
    worker = object()
    taken = schedule.next_task(worker, [worker])

    schedule.requeue(Task(2, taken.label, taken.tests[1:], requeued=True))

    assert schedule.next_task(worker, [worker]).number == 2
    assert schedule.remaining_tests() == 1


def test_a_task_waits_behind_another_only_while_much_work_is_pending():
    tasks = [make_task(index, make_class(f"Case{index}", TestCase, 1)) for index in range(12)]
    schedule = LongestFirst(tasks, {f"app.tests.Case{index}": 1.0 for index in range(12)})
    worker, other = object(), object()
    running = schedule.next_task(worker, [worker, other])
    schedule.next_task(other, [worker, other])

    # 10 s pending: enough to keep two workers busy 4 times longer than 1 s.
    assert schedule.may_queue_behind(running, 2)
    while len(schedule) > 7:
        schedule.next_task(other, [worker, other])
    # 7 s: a task sent behind it could wait while the other worker idles.
    assert not schedule.may_queue_behind(running, 2)


def test_no_task_waits_behind_another_while_one_was_taken_back():
    tasks = [make_task(index, make_class(f"Case{index}", TestCase, 1)) for index in range(20)]
    schedule = LongestFirst(tasks, {})
    worker = object()
    running = schedule.next_task(worker, [worker])
    schedule.requeue(Task(20, running.label, running.tests, requeued=True))

    assert not schedule.may_queue_behind(running, 1)
    # Nor behind a task taken back, whose length was never estimated.
    requeued = schedule.next_task(worker, [worker])
    assert not schedule.may_queue_behind(requeued, 1)


def test_a_worker_moves_on_to_a_long_class_of_the_next_kind():
    tasks = [make_task(index, make_class(f"Case{index}", TestCase, 1)) for index in range(3)]
    tasks += [
        make_task(3, make_class("LongTransaction", TransactionTestCase, 1)),
        make_task(4, make_class("ShortTransaction", TransactionTestCase, 1)),
    ]
    durations = {task.label: 1.0 for task in tasks}
    durations["app.tests.LongTransaction"] = 10.0

    taken, end = simulate(tasks, durations, workers=2)

    # The TestCases take 3 s, less than the long class: it starts at once on
    # one worker, instead of after them (which ends at 1.5 + 10 s).
    assert end == 10.0
    labels = sorted(
        [task.label.removeprefix("app.tests.") for task in tasks] for tasks in taken.values()
    )
    assert labels == [["Case0", "Case1", "Case2", "ShortTransaction"], ["LongTransaction"]]


def test_workers_stay_on_a_kind_while_it_has_much_to_do():
    tasks = [make_task(index, make_class(f"Case{index}", TestCase, 1)) for index in range(30)]
    tasks.append(make_task(30, make_class("Transaction", TransactionTestCase, 1)))
    durations = {task.label: 1.0 for task in tasks}
    durations["app.tests.Transaction"] = 5.0

    taken, end = simulate(tasks, durations, workers=2)

    # 30 s of TestCases: a worker moves on when 5 s of them are left for the
    # other (at 12 s), instead of both finishing them first (at 15 s) and
    # one running the last class alone until 20 s.
    assert end == 18.0
    assert kinds_in_order(taken)


def test_no_worker_runs_an_earlier_kind_after_a_later_one():
    generator = random.Random(2026)
    for attempt in range(50):
        kinds = (TestCase, SimpleTestCase, TransactionTestCase, unittest.TestCase)
        tasks = [
            make_task(index, make_class(f"Class{index}", generator.choice(kinds), 1))
            for index in range(generator.randint(1, 40))
        ]
        durations = {task.label: generator.choice([0.1, 1.0, 5.0, 30.0]) for task in tasks}

        taken, _end = simulate(tasks, durations, workers=generator.randint(2, 4))

        assert kinds_in_order(taken), attempt
        assert sorted(task.number for tasks in taken.values() for task in tasks) == list(
            range(len(tasks))
        )


def test_a_kind_no_worker_may_take_any_more_runs_anyway():
    tasks = [
        make_task(0, make_class("Transaction", TransactionTestCase, 1)),
        make_task(1, make_class("Case", TestCase, 1)),
    ]
    schedule = LongestFirst(tasks, {"app.tests.Transaction": 9.0, "app.tests.Case": 1.0})
    moved_on, lost = object(), object()
    assert schedule.next_task(moved_on, [moved_on, lost]).number == 0

    # The worker that could still run the TestCase was lost.
    assert schedule.next_task(moved_on, [moved_on, lost]) is None
    assert schedule.next_task(moved_on, [moved_on]).number == 1


def record_repeatedly(path, label, times):
    for count in range(times):
        durations_file.record(path, {label: float(count)})


def test_runs_ending_together_all_keep_their_durations(tmp_path):
    path = tmp_path / "durations.json"
    labels = [f"app.tests.Run{number}" for number in range(6)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(labels), mp_context=context) as pool:
        for done in [pool.submit(record_repeatedly, path, label, 30) for label in labels]:
            done.result()

    assert durations_file.load(path) == dict.fromkeys(labels, 29.0)
    assert [entry.name for entry in tmp_path.iterdir()] == ["durations.json"]
