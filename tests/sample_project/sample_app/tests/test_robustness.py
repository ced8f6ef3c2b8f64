"""
Tests that misbehave on purpose, for tests/test_robustness.py: each case
exists only when SAMPLE_ROBUSTNESS names it (a comma-separated list, which may
be empty), so that ordinary runs of the sample project never meet them.

Each misbehaving class has a test before the bad one (test_a_before), which
must have been reported already when the worker dies, and one after it
(test_z_after), which must run on another worker. Passing classes
(PassingTests*) check that their database holds no rows a lost worker left
behind.
"""

import ctypes
import glob
import os
import subprocess
import sys
import threading
import time
import unittest
import weakref
from pathlib import Path

from django.test import SimpleTestCase, TransactionTestCase

from sample_app.models import TaggedRow

from .recording import results_directory

ROBUSTNESS_RUN = "SAMPLE_ROBUSTNESS" in os.environ
CASES = set(filter(None, os.environ.get("SAMPLE_ROBUSTNESS", "").split(",")))


def record(name):
    """Leave a file named name, for the pytest test that watches the run."""
    (results_directory() / name).write_text(str(os.getpid()))


class Checks:
    def test_a_before(self):
        pass

    def test_z_after(self):
        pass


if "exit" in CASES:

    class ExitTests(Checks, TransactionTestCase):
        """The worker exits in the middle of a test that has written rows."""

        def test_exits(self):
            TaggedRow.objects.create(pid=os.getpid())
            os._exit(3)


if "drop-own-database" in CASES:

    class DropOwnDatabaseTests(SimpleTestCase):
        """A test that drops its worker's database, which teardown then misses."""

        def test_drops_its_database(self):
            from django.db import connection

            name = connection.settings_dict["NAME"]
            connection.close()
            if connection.vendor == "postgresql":
                with connection._nodb_cursor() as cursor:
                    cursor.execute(f"DROP DATABASE {connection.ops.quote_name(name)} WITH (FORCE)")
            else:
                # Under spawn a worker reads its clone into memory: the clones'
                # files, <test database>_<worker><extension>, go.
                root, extension = os.path.splitext(connection.settings_dict["TEST"]["NAME"])
                for path in glob.glob(f"{glob.escape(root)}_[0-9]*{extension}"):
                    os.remove(path)


if "kill" in CASES:

    class KillTests(Checks, SimpleTestCase):
        def test_killed_from_outside(self):
            subprocess.run(["kill", "-KILL", str(os.getpid())], check=False)
            time.sleep(60)


if "segfault" in CASES:

    class SegfaultTests(Checks, SimpleTestCase):
        def test_segfaults(self):
            # faulthandler would print the stack on stderr; the report is ours.
            import faulthandler

            faulthandler.disable()
            ctypes.string_at(0)


if "noisy" in CASES:

    class NoisyTests(Checks, SimpleTestCase):
        """Writes around unittest's back, as libraries do, and fails."""

        def test_writes_to_its_descriptors(self):
            os.write(2, f"noisy: written to descriptor 2 by {os.getpid()}\n".encode())
            print(f"noisy: printed by {os.getpid()}", flush=True)
            print(f"noisy: printed to stderr by {os.getpid()}", file=sys.stderr, flush=True)

        def test_fails(self):
            self.fail("noisy: this test fails, on purpose")


if "hang" in CASES:

    class HangTests(Checks, SimpleTestCase):
        def test_hangs(self):
            while True:
                pass


if "hang-holding-the-gil" in CASES:

    class HangHoldingTheGILTests(Checks, SimpleTestCase):
        def test_hangs_holding_the_gil(self):
            # A PyDLL call keeps the GIL: no Python thread of the worker runs
            # again, as in a C extension stuck without releasing it.
            ctypes.PyDLL(None).sleep(60)


def leave_sleepers(name):
    """
    Start a child that sleeps and a grandchild whose parent has exited (a
    double fork), both holding the run's stdout and stderr, and leave their
    pids in SAMPLE_CHILDREN_DIR for the pytest test to look for.
    """
    directory = Path(os.environ["SAMPLE_CHILDREN_DIR"])
    child = subprocess.Popen(["sleep", "300"])
    (directory / f"{name}-child").write_text(str(child.pid))
    grandchild = directory / f"{name}-grandchild"
    subprocess.run(["sh", "-c", f'sleep 300 & echo $! > "{grandchild}"'], check=True)
    # sh forks the background job, which then execs sleep: until it has, the
    # job is a copy of sh, and the warning would name it so.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and command_of(grandchild.read_text().strip()) != "sleep 300":
        time.sleep(0.01)


def command_of(pid):
    listed = subprocess.run(["ps", "-o", "command=", "-p", pid], capture_output=True, text=True)
    return listed.stdout.strip()


if "children" in CASES:

    class LeftChildrenTests(Checks, SimpleTestCase):
        def test_leaves_children(self):
            leave_sleepers("left")

    class CrashLeavingChildrenTests(Checks, SimpleTestCase):
        def test_crashes_leaving_children(self):
            leave_sleepers("crashed")
            os._exit(3)

    class HangLeavingChildrenTests(Checks, SimpleTestCase):
        def test_hangs_leaving_children(self):
            leave_sleepers("hung")
            while True:
                pass


if "python-child" in CASES:

    class LeftPythonChildTests(Checks, SimpleTestCase):
        """Leaves a child behind with nothing but Python, as on Windows."""

        def test_leaves_a_python_child(self):
            directory = os.environ["SAMPLE_CHILDREN_DIR"]
            # The directory in its command line lets the pytest test find it.
            child = subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(300)", directory]
            )
            (Path(directory) / "python-child").write_text(str(child.pid))


if "thread" in CASES:

    def wait_for_ever(name):
        # Not a daemon: Python waits for it before the worker exits.
        threading.Thread(target=threading.Event().wait, name=name).start()

    class LeftThreadTests(Checks, SimpleTestCase):
        def test_leaves_a_thread(self):
            wait_for_ever("left-by-a-test")

    class LeftThreadInSetUpClassTests(Checks, SimpleTestCase):
        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            wait_for_ever("left-by-setupclass")


if "interrupted-with-children" in CASES:

    class InterruptedWithChildrenTests(Checks, SimpleTestCase):
        def test_waits_with_children(self):
            leave_sleepers("interrupted")
            record("interrupt-me")
            time.sleep(60)


if "crash-loop" in CASES:

    class CrashLoopTests(SimpleTestCase):
        def test_exits_1(self):
            os._exit(4)

        def test_exits_2(self):
            os._exit(4)

        def test_exits_3(self):
            os._exit(4)

        def test_exits_4(self):
            os._exit(4)


if "escapes" in CASES:

    class KeyboardInterruptTests(Checks, TransactionTestCase):
        """A library under test raises KeyboardInterrupt, which unittest lets through."""

        def test_raises_keyboard_interrupt(self):
            TaggedRow.objects.create(pid=os.getpid())
            raise KeyboardInterrupt("raised by the code under test")

    class SetUpClassExitTests(Checks, SimpleTestCase):
        """unittest catches only Exception around class fixtures."""

        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            raise SystemExit("exit from setUpClass")

    class TearDownClassExitTests(Checks, SimpleTestCase):
        @classmethod
        def tearDownClass(cls):
            super().tearDownClass()
            raise SystemExit("exit from tearDownClass")


if "chains" in CASES:

    class ChainLink(Exception):
        pass

    class Unreportable(Exception):
        """Neither printable nor picklable."""

        def __str__(self):
            raise RuntimeError("no str")

        def __reduce__(self):
            raise RuntimeError("no reduce")

    class ChainTests(Checks, SimpleTestCase):
        def test_thousand_causes(self):
            previous = None
            for number in range(1000):
                try:
                    raise ChainLink(number) from previous
                except ChainLink as error:
                    previous = error
            raise previous

        def test_context_cycle(self):
            first, second = Unreportable(), ValueError("second")
            first.__context__, second.__context__ = second, first
            raise first

        def test_exception_group(self):
            raise ExceptionGroup("several", [ValueError("one"), Unreportable()])


if "many-tests" in CASES:

    class ManyTests(SimpleTestCase):
        """Enough tests that a run stopped early lists them in a file."""

        for number in range(40):
            locals()[f"test_{number:02}"] = lambda self: time.sleep(0.1)


if "skips-then-exit" in CASES:

    class SkipsThenExitTests(SimpleTestCase):
        """
        Two skipped tests, which Python 3.12+ reports without starting them,
        then a crash: each skip is reported once, under its own name.
        """

        @unittest.skip("first")
        def test_a_skipped(self):
            pass

        @unittest.skip("second")
        def test_b_skipped(self):
            pass

        def test_c_exits(self):
            # The skips' outcomes reach the parent within 50 ms.
            time.sleep(0.3)
            os._exit(5)

        def test_z_after(self):
            pass


if "frames" in CASES:

    class Held:
        """Stands for a large object; a weak reference says whether it is gone."""

    # Test name -> weak reference to what its frames held when it failed.
    held = {}

    def hold(name):
        value = Held()
        held[name] = weakref.ref(value)
        return value

    def raise_holding(name):
        # Kept alive by this frame only.
        value = hold(name)  # noqa: F841
        raise ValueError(f"{name}: the cause, raised holding an object")

    def fail_from_cause(name):
        try:
            raise_holding(name)
        except ValueError as cause:
            raise AssertionError(f"{name}: failed after its cause") from cause

    class ReleasedFramesTests(SimpleTestCase):
        """
        Tests that fail holding an object in a local variable (of a frame
        that only the cause's traceback reaches, for the first), then one
        that runs after them on the same worker and finds every object gone,
        without a garbage collection: the memory is back before it starts.
        """

        def test_a_fails_with_a_cause(self):
            fail_from_cause("failure")

        def test_b_errors(self):
            value = hold("error")  # noqa: F841
            raise RuntimeError("error: raised holding an object")

        def test_c_subtest_fails(self):
            with self.subTest(number=1):
                value = hold("subtest")  # noqa: F841
                self.fail("subtest: failed holding an object")

        def test_z_objects_are_released(self):
            self.assertEqual(
                {name: reference() for name, reference in held.items()},
                dict.fromkeys(["failure", "error", "subtest"]),
            )


if "failing" in CASES:
    # What fails: SAMPLE_FAILING, a comma-separated list, so that a run and
    # the --failed run after it can differ, as code being fixed does.
    FAILING = set(filter(None, os.environ.get("SAMPLE_FAILING", "").split(",")))

    class FailingTests(SimpleTestCase):
        def test_error(self):
            if "error" in FAILING:
                raise RuntimeError("an error, on request")

        def test_failure(self):
            self.assertNotIn("failure", FAILING)

        def test_passes(self):
            pass

        def test_subtest(self):
            with self.subTest(number=1):
                self.assertNotIn("subtest", FAILING)

        @unittest.expectedFailure
        def test_unexpected_success(self):
            self.assertIn("unexpected-success", FAILING)

    class FailingSetUpClassTests(SimpleTestCase):
        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            if "setup" in FAILING:
                raise RuntimeError("setUpClass fails, on request")

        def test_one(self):
            pass

        def test_two(self):
            pass

    @unittest.skipIf("skip" in FAILING, "skipped, on request")
    class SkipOnRequestTests(SimpleTestCase):
        def test_fails_unless_skipped(self):
            self.assertNotIn("fail-then-skip", FAILING)

    class CrashOnRequestTests(SimpleTestCase):
        def test_crashes(self):
            if "crash" in FAILING:
                os._exit(6)

        def test_passes(self):
            pass

    class TimeoutOnRequestTests(SimpleTestCase):
        def test_passes(self):
            pass

        def test_times_out(self):
            if "timeout" in FAILING:
                time.sleep(60)


if "interrupt" in CASES:

    class InterruptedTests(Checks, SimpleTestCase):
        def test_waits_to_be_interrupted(self):
            # Workers send outcomes every 50 ms: test_a_before's has reached
            # the parent by the time the run is interrupted.
            time.sleep(0.5)
            record("interrupt-me")
            time.sleep(60)


if "unpicklable" in CASES:

    def local_error():
        class LocalError(Exception):
            pass

        return LocalError

    class LockHoldingError(Exception):
        def __init__(self, message):
            super().__init__(message)
            self.lock = threading.Lock()

    class NeedsTwoArguments(Exception):
        """Pickles, but cannot be unpickled: __init__ wants two arguments."""

        def __init__(self, first, second):
            super().__init__(f"{first} and {second}")

    class LocalAssertion(AssertionError):
        def __init__(self, message):
            super().__init__(message)
            self.callback = lambda: None

    class UnpicklableTests(Checks, SimpleTestCase):
        def test_local_exception_class(self):
            raise local_error()("raised from a class local to a function")

        def test_exception_holding_a_lock(self):
            raise LockHoldingError("holds a lock")

        def test_exception_that_cannot_be_unpickled(self):
            raise NeedsTwoArguments("one", "two")

        def test_failure_with_unpicklable_assertion(self):
            raise LocalAssertion("an assertion holding a lambda")

        def test_chained_unpicklable_cause(self):
            try:
                raise LockHoldingError("the cause")
            except LockHoldingError as cause:
                raise ValueError("the effect") from cause

        def test_subtest_with_unpicklable_parameter(self):
            with self.subTest(callback=lambda: None, number=7):
                self.fail("subtest failed")

        def test_skip_with_unpicklable_reason(self):
            raise unittest.SkipTest(UnprintableReason())

    class UnprintableReason:
        def __init__(self):
            self.lock = threading.Lock()

        def __str__(self):
            return "skipped for a reason holding a lock"


if ROBUSTNESS_RUN:

    class PassingChecks:
        def test_database_is_clean(self):
            record(f"clean-{os.getpid()}-{type(self).__name__}")
            self.assertEqual(TaggedRow.objects.count(), 0)
            time.sleep(0.3)

        def test_passes(self):
            time.sleep(0.3)

    # Enough classes that a replacement worker gets some of them.
    for letter in "ABCDEF":
        globals()[f"PassingTests{letter}"] = type(
            f"PassingTests{letter}",
            (PassingChecks, TransactionTestCase),
            {"__module__": __name__},
        )


if "reruns" in CASES:

    def run_number(name):
        """
        How many times the test called name has run in this run, this time
        included. Its memory is a file in the run's own results directory
        (SAMPLE_RESULTS_DIR), one line per run: the pid that ran it.
        """
        path = results_directory() / f"runs-{name}"
        with path.open("a") as file:
            file.write(f"{os.getpid()}\n")
        return len(path.read_text().splitlines())

    class RerunTests(SimpleTestCase):
        """For --reruns: tests that fail, error or crash on their first run only, or always."""

        def test_a_passes(self):
            run_number("passes")

        def test_always_fails(self):
            run_number("always-fails")
            self.fail("always-fails: fails on every run")

        def test_errors_once(self):
            if run_number("errors-once") == 1:
                raise RuntimeError("errors-once: an error on its first run")

        @unittest.expectedFailure
        def test_expected_failure(self):
            run_number("expected-failure")
            self.fail("expected-failure: fails, as it says it does")

        def test_flaky(self):
            if run_number("flaky") == 1:
                self.fail("flaky: fails on its first run")

        @unittest.skip("skipped, on purpose")
        def test_skipped(self):
            pass

        def test_subtest_fails_once(self):
            first = run_number("subtest-fails-once") == 1
            with self.subTest(number=1):
                self.assertFalse(first, "subtest-fails-once: a subtest fails on its first run")

        def test_z_after(self):
            run_number("after")

    class CrashOnceTests(SimpleTestCase):
        """Alone in its class, so that the tests its worker had not reported yet are not others'."""

        def test_crashes_once(self):
            if run_number("crashes-once") == 1:
                os._exit(7)

    class FlakyDatabaseTests(TransactionTestCase):
        def test_flaky_with_rows(self):
            self.assertEqual(TaggedRow.objects.count(), 0)
            TaggedRow.objects.create(pid=os.getpid())
            if run_number("flaky-with-rows") == 1:
                self.fail("flaky-with-rows: fails on its first run, after writing a row")

    # What OrderPolluterTests leaves in its worker; OrderVictimTests fails
    # behind it, and passes alone.
    POLLUTED = []

    class OrderPolluterTests(SimpleTestCase):
        def test_pollutes(self):
            POLLUTED.append("polluted")

    class OrderVictimTests(SimpleTestCase):
        def test_victim(self):
            run_number("victim")
            self.assertEqual(POLLUTED, [], "the victim ran behind OrderPolluterTests")
