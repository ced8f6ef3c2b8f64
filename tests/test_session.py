"""
The session's decisions, against a pool that runs each task at once in this
process: a worker that crashes or passes its deadline, the tests that go
back in the queue, the limit on replacements, Ctrl-C. The end-to-end tests
(test_robustness.py) run the same through real workers.
"""

import io
import unittest

import pytest
from django.conf import settings

from django_overlay.runner import session as session_module
from django_overlay.runner.interruption import Interrupted
from django_overlay.runner.protocol import Done, Events, WorkerLost, WorkerTimedOut
from django_overlay.runner.session import RunOptions, Session, Workers
from django_overlay.runner.worker import WorkerSetup

if not settings.configured:
    settings.configure(DATABASES={}, INSTALLED_APPS=[])


class Sample(unittest.TestCase):
    # Run by the session under test, not by pytest.
    __test__ = False

    def test_a(self):
        pass

    def test_b(self):
        pass

    def test_c(self):
        pass

    def test_d(self):
        pass


class Other(unittest.TestCase):
    __test__ = False

    def test_x(self):
        pass

    def test_y(self):
        pass


def instances_of(test_class):
    return [test_class(name) for name in unittest.defaultTestLoader.getTestCaseNames(test_class)]


class FakeWorker:
    def __init__(self, slot):
        self.slot = slot
        self.ready = True
        self.tasks = []
        self.running = None
        self.finished = 0

    def __repr__(self):
        return f"worker {self.slot}"

    @property
    def task(self):
        return self.tasks[0] if self.tasks else None

    @property
    def idle(self):
        return self.ready and not self.tasks

    def running_test(self):
        return self.running

    def tests_finished(self):
        return self.finished


class FakePool:
    """
    Runs each worker's first task when the session receives: its tests pass,
    but a test named in crashes ends the worker (each name once, or always
    if in always_crash); timeouts likewise, past its deadline. interrupt_at:
    the receive() at which Ctrl-C is pressed, while the tasks are running.
    """

    def __init__(self, crashes=(), always_crash=(), timeouts=(), interrupt_at=None):
        self.workers = {}
        self.started = []
        self.killed_at_exit = []
        self.crashes = set(crashes)
        self.always_crash = set(always_crash)
        self.timeouts = set(timeouts)
        self.interrupt_at = interrupt_at
        self.receives = 0
        self.abandoned = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.abandoned = exc_type is not None
        self.workers.clear()

    def start(self, slot, initargs):
        assert len(self.started) < 10, "workers are replaced without end"
        self.workers[slot] = worker = FakeWorker(slot)
        self.started.append(slot)
        return worker

    def idle_workers(self):
        return [worker for worker in self.workers.values() if worker.idle]

    def busy(self):
        return any(worker.tasks for worker in self.workers.values())

    def send(self, worker, task, function, argument):
        worker.tasks.append(task)

    def retire(self, worker):
        del self.workers[worker.slot]

    def receive(self):
        self.receives += 1
        assert self.receives < 1000, "the session waits for workers it no longer has"
        if self.receives == self.interrupt_at:
            for worker in self.workers.values():
                worker.running = 0
            raise Interrupted("Ctrl-C")
        for worker in list(self.workers.values()):
            if worker.task is None:
                continue
            task, events = worker.task, []
            for index, test in enumerate(task.tests):
                name = test._testMethodName
                if name in self.crashes | self.always_crash | self.timeouts:
                    self.crashes.discard(name)
                    worker.running, worker.finished = index, index
                    yield worker, Events(task.number, events)
                    del self.workers[worker.slot]
                    lost = WorkerTimedOut if name in self.timeouts else WorkerLost
                    yield worker, lost("killed by SIGKILL")
                    break
                events += [("startTest", index), ("addSuccess", index), ("stopTest", index)]
            else:
                worker.tasks.pop(0)
                yield worker, Done(task.number, (task.number, events))


def handle_event(result, tests, event):
    getattr(result, event[0])(tests[event[1]], *event[2:])


def run(monkeypatch, tmp_path, pool, subsuites, processes=1, **options):
    monkeypatch.setattr(session_module, "WorkerPool", lambda *args: pool)
    result = unittest.TextTestResult(
        unittest.runner._WritelnDecorator(io.StringIO()), descriptions=False, verbosity=0
    )
    workers = Workers(
        processes, init_worker=None, setup=WorkerSetup(), run_subsuite=None, runner_class=None
    )
    options = RunOptions(
        durations_file=str(tmp_path / "durations.json"), record_durations=False, **options
    )
    Session(subsuites, workers, handle_event, result, options, context=None).run()
    return result


def errors(result):
    return {test.id().rpartition(".")[2]: text for test, text in result.errors + result.failures}


def test_a_crashed_worker_is_replaced_and_its_class_rest_requeued(monkeypatch, tmp_path):
    pool = FakePool(crashes={"test_b"})
    result = run(monkeypatch, tmp_path, pool, [instances_of(Sample)])

    assert pool.started == [1, 1]
    assert list(errors(result)) == ["test_b"]
    assert "worker 1 died (killed by SIGKILL) while running" in errors(result)["test_b"]
    assert (
        f"The 2 tests of {Sample.__module__}.Sample not reported yet went back in the queue"
        in (errors(result)["test_b"])
    )
    assert result.testsRun == 4
    assert not result.shouldStop


def test_a_test_past_its_deadline_fails(monkeypatch, tmp_path):
    pool = FakePool(timeouts={"test_c"})
    result = run(monkeypatch, tmp_path, pool, [instances_of(Sample)], timeout=5)

    assert result.errors == []
    [(test, text)] = result.failures
    assert test.id().endswith("test_c")
    assert "TestTimedOut: worker 1 was stopped after 5 s (--timeout) while running" in text
    assert result.testsRun == 4


def test_a_class_that_keeps_crashing_workers_stops_going_back(monkeypatch, tmp_path):
    pool = FakePool(always_crash={"test_b", "test_c"})
    result = run(monkeypatch, tmp_path, pool, [instances_of(Sample), instances_of(Other)])

    assert pool.started == [1, 1, 1]
    assert list(errors(result)) == ["test_b", "test_c"]
    lost_twice = errors(result)["test_c"]
    assert (
        f"{Sample.__module__}.Sample has lost 2 workers (--max-crashes-per-class 2)" in lost_twice
    )
    assert "its 1 test not reported yet will not run" in lost_twice
    assert result.testsRun == 5
    assert not result.shouldStop


def test_the_run_stops_past_the_restart_limit(monkeypatch, tmp_path):
    pool = FakePool(always_crash={"test_a", "test_x"})
    result = run(
        monkeypatch,
        tmp_path,
        pool,
        [instances_of(Sample), instances_of(Other)],
        max_worker_restarts=1,
    )

    assert pool.started == [1, 1]
    assert result.shouldStop
    [stopping] = [text for test, text in result.errors if "parallel test run" in test.id()]
    assert "Stopping: 2 workers were lost, more than --max-worker-restarts 1 allows." in stopping


@pytest.mark.parametrize("processes", [1, 2])
def test_ctrl_c_names_what_ran_and_what_did_not(monkeypatch, tmp_path, processes):
    pool = FakePool(interrupt_at=1)
    result = run(
        monkeypatch,
        tmp_path,
        pool,
        [instances_of(Sample), instances_of(Other)],
        processes=processes,
    )

    assert pool.abandoned
    assert result.shouldStop
    [(test, text)] = result.errors
    assert "RunInterrupted: The run was interrupted (Ctrl-C). Then worker 1 was running" in text
    assert "6 tests did not run." in text


def one_test_each():
    """Tasks of one test each: enough of them that a second waits behind the first."""
    return [[test] for test in instances_of(Sample) + instances_of(Other)]


def test_a_task_waiting_behind_a_lost_workers_goes_back_in_the_queue(monkeypatch, tmp_path):
    pool = FakePool(crashes={"test_a"})
    result = run(monkeypatch, tmp_path, pool, one_test_each())

    assert pool.started == [1, 1]
    assert list(errors(result)) == ["test_a"]
    # test_b, sent to wait behind test_a, ran on the replacement.
    assert result.testsRun == 6


def test_ctrl_c_names_a_task_waiting_behind_a_running_one(monkeypatch, tmp_path):
    pool = FakePool(interrupt_at=1)
    result = run(monkeypatch, tmp_path, pool, one_test_each())

    [(test, text)] = result.errors
    assert f"Then worker 1 was running {Sample.__module__}.Sample.test_a. 6 tests" in text
    assert f"  {Sample.__module__}.Sample.test_b\n" in text
