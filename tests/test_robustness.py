"""
Parallel runs that meet tests which kill, hang or cannot report their worker
(sample_app/tests/test_robustness.py): each case is reported by name, and
every other test runs and passes.

Upstream Django hangs forever on a dead worker and aborts the run on an
outcome it cannot pickle; run with --sample-without-overlay to see these
tests fail (a hang fails at the run's time limit).
"""

import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from conftest import Interrupt, SampleProject

ROBUSTNESS = "sample_app.tests.test_robustness"
START_METHODS = ["spawn", "fork"]
PASSING_CLASSES = [f"PassingTests{letter}" for letter in "ABCDEF"]
# A run that hangs is one of the failures these tests look for; this bounds it.
RUN_TIMEOUT = 90
# What a run leaves in the directory of its durations file.
DURATIONS_AND_FAILED = ["durations.failed.json", "durations.json"]


def run_cases(sample, cases, *arguments, start_method="spawn", **kwargs):
    return sample.run(
        ROBUSTNESS,
        "--parallel",
        "2",
        "-v",
        "2",
        *arguments,
        start_method=start_method,
        env={"SAMPLE_ROBUSTNESS": ",".join(cases), **kwargs.pop("env", {})},
        timeout=kwargs.pop("timeout", RUN_TIMEOUT),
        **kwargs,
    )


def check_durations_written_twice(sample, tmp_path, start_method="spawn"):
    """
    Two runs in turn record their classes in one durations file, keep what
    was there before, and leave nothing beside it but the record of failed
    tests (no lock file).
    """
    durations_file = tmp_path / "durations.json"
    durations_file.write_text(json.dumps({"format": 1, "classes": {"other.Tests": 12.5}}))
    for _ in range(2):
        run = run_cases(
            sample, [], "--durations-file", str(durations_file), start_method=start_method
        )
        run.assert_succeeded()
        assert re.search(r"^Ran \d+ tests in ", run.stderr, re.M), run.output
        recorded = json.loads(durations_file.read_text())["classes"]
        assert recorded["other.Tests"] == 12.5
        assert {f"{ROBUSTNESS}.{name}" for name in PASSING_CLASSES} <= set(recorded)
        assert sorted(path.name for path in tmp_path.iterdir()) == DURATIONS_AND_FAILED


def passed(run):
    """The tests the report lists as ok, as Class.test names."""
    return {
        f"{match[2]}.{match[1]}"
        for match in re.finditer(
            rf"^(\w+) \({ROBUSTNESS}\.(\w+)\.\w+\) \.\.\. ok$", run.stderr, re.M
        )
    }


def passing_class_tests():
    return {
        f"{name}.{test}"
        for name in PASSING_CLASSES
        for test in ("test_database_is_clean", "test_passes")
    }


def error_line(run, test_class, test):
    """The last line of the report of Class.test (an ERROR or FAIL section)."""
    match = re.search(
        rf"^(?:ERROR|FAIL): {test} \({ROBUSTNESS}\.{test_class}\.{test}\)[^\n]*\n-+\n(.*?)\n\n(?:=|-)",
        run.stderr,
        re.M | re.S,
    )
    assert match, f"no report for {test_class}.{test}\n{run.output}"
    return match[1].strip().splitlines()[-1]


def crash_report(run, test_class, test, section="ERROR", error="WorkerCrashError"):
    match = re.search(
        rf"^{section}: {test} \({ROBUSTNESS}\.{test_class}\.{test}\)\n-+\n"
        rf"django_overlay\.runner\.outcomes\.{error}: (.*?)\n+(?:={{70}}|-{{70}})",
        run.stderr,
        re.M | re.S,
    )
    assert match, f"no crash report for {test_class}.{test}\n{run.output}"
    return re.sub(r"pid \d+", "pid P", match[1])


def summary(run):
    ran = re.search(r"^Ran (\d+) tests? in", run.stderr, re.M)
    return int(ran[1]) if ran else None, run.stderr.rstrip().splitlines()[-1:]


@pytest.mark.parametrize("start_method", START_METHODS)
def test_dead_workers_are_reported_and_replaced(sample, start_method):
    run = run_cases(sample, ["exit", "kill", "segfault"], start_method=start_method)

    assert run.returncode == 1, run.output
    for test_class, test, how in [
        ("ExitTests", "test_exits", "died (exit code 3)"),
        ("KillTests", "test_killed_from_outside", "died (killed by SIGKILL)"),
        ("SegfaultTests", "test_segfaults", "died (killed by SIGSEGV)"),
    ]:
        assert re.fullmatch(
            requeued_report(test_class, test, how), crash_report(run, test_class, test)
        )
    # The tests before each crash were reported before it, those after it ran
    # elsewhere, and the replacement workers' databases were clean.
    assert passed(run) == passing_class_tests() | {
        f"{name}.{test}"
        for name in ("ExitTests", "KillTests", "SegfaultTests")
        for test in ("test_a_before", "test_z_after")
    }
    assert "FAILED (errors=3)" in run.stderr
    assert run.leftovers == []


def test_classes_waiting_behind_a_lost_worker_run_elsewhere(sample):
    """
    While much work is pending, a worker is sent its next class before it
    ends the one it runs; those it had not begun when it died are run by
    another worker, not lost with it.
    """
    run = sample.run(
        ROBUSTNESS,
        "sample_app.tests.test_trivial",
        "--parallel",
        "2",
        "-v",
        "2",
        # The crashes first, with the trivial classes still to come.
        "--discovery-order",
        start_method="spawn",
        env={"SAMPLE_ROBUSTNESS": "exit,kill", "SAMPLE_TRIVIAL_TESTS": "400"},
        timeout=RUN_TIMEOUT,
    )

    assert run.returncode == 1, run.output
    assert summary(run)[0] == 400 + 2 * len(PASSING_CLASSES) + 6
    assert "FAILED (errors=2)" in run.stderr
    trivial = r"^test_\d+ \(sample_app\.tests\.test_trivial\.\w+\.test_\d+\) \.\.\. ok$"
    assert len(re.findall(trivial, run.stderr, re.M)) == 400, run.output
    assert passed(run) == passing_class_tests() | {
        f"{name}.{test}"
        for name in ("ExitTests", "KillTests")
        for test in ("test_a_before", "test_z_after")
    }
    assert run.leftovers == []


def requeued_report(test_class, test, how):
    """
    The report of a worker lost in test_class.test: the test after it goes
    back in the queue, and test_a_before too unless its outcome had reached
    the parent already (workers send outcomes every 50 ms).
    """
    return (
        rf"worker [12] \(pid P\) {re.escape(how)} while running "
        rf"{ROBUSTNESS}\.{test_class}\.{test}\. The [12] tests? of {ROBUSTNESS}\.{test_class} "
        r"not reported yet went back in the queue for another worker\."
    )


@pytest.mark.parametrize("database", ["postgresql", "sqlite-file"], indirect=True)
def test_replacement_worker_gets_fresh_databases(sample, database):
    """
    ExitTests dies after writing a row in its TransactionTestCase, which
    would have removed it at teardown: the worker taking the slot clones the
    database afresh, so every PassingTests class finds it empty.
    """
    run = run_cases(sample, ["exit"])

    assert run.returncode == 1, run.output
    assert passed(run) == passing_class_tests() | {
        "ExitTests.test_a_before",
        "ExitTests.test_z_after",
    }
    assert "FAILED (errors=1)" in run.stderr
    assert database.leftovers() == []


@pytest.mark.parametrize("start_method", START_METHODS)
def test_hung_test_is_stopped_and_its_stacks_reported(sample, start_method):
    run = run_cases(sample, ["hang"], "--timeout", "3", start_method=start_method)

    assert run.returncode == 1, run.output
    # A failure, as a test too slow fails; not an error.
    report = crash_report(run, "HangTests", "test_hangs", "FAIL", "TestTimedOut")
    assert re.match(
        requeued_report("HangTests", "test_hangs", "was stopped after 3 s (--timeout)")
        + r"\n\nStacks of the worker's threads when it was stopped:\n\n",
        report,
    ), run.output
    # Among them the test's own thread, stopped in the test.
    assert re.search(
        r"^Current thread 0x[0-9a-f]+ \(most recent call first\):\n"
        r'  File "[^"]+test_robustness\.py", line \d+ in test_hangs\n',
        report,
        re.M,
    ), report
    assert passed(run) == passing_class_tests() | {
        "HangTests.test_a_before",
        "HangTests.test_z_after",
    }
    assert "FAILED (failures=1)" in run.stderr


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize(
    "arguments, label",
    [
        ([], ROBUSTNESS),
        (["--parallel", "1"], ROBUSTNESS),
        # One class: upstream's build_suite makes that a serial run.
        (["--parallel", "2"], f"{ROBUSTNESS}.HangTests"),
    ],
    ids=["serial", "parallel-1", "one-class"],
)
def test_hung_test_is_stopped_in_a_serial_run(sample, database, start_method, arguments, label):
    """
    A serial run with --timeout runs its tests in one worker, which is
    stopped at the deadline and replaced; before, the run hung.
    """
    check_serial_timeout(sample, database, start_method, arguments, label)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_hung_test_is_stopped_in_a_serial_run_on_a_server(sample, database):
    """The one worker's clone is made and dropped; its replacement's made afresh."""
    check_serial_timeout(sample, database, "spawn", [], ROBUSTNESS)


def check_serial_timeout(sample, database, start_method, arguments, label):
    run = sample.run(
        label,
        "-v",
        "2",
        "--timeout",
        "3",
        *arguments,
        start_method=start_method,
        env={"SAMPLE_ROBUSTNESS": "hang"},
        timeout=RUN_TIMEOUT,
    )

    assert run.returncode == 1, run.output
    report = crash_report(run, "HangTests", "test_hangs", "FAIL", "TestTimedOut")
    assert re.match(
        r"worker 1 \(pid P\) was stopped after 3 s \(--timeout\) while running "
        rf"{ROBUSTNESS}\.HangTests\.test_hangs\. The [12] tests? of {ROBUSTNESS}\.HangTests "
        r"not reported yet went back in the queue for another worker\.\n\n"
        r"Stacks of the worker's threads when it was stopped:\n\n",
        report,
    ), run.output
    expected = {"HangTests.test_a_before", "HangTests.test_z_after"}
    if label == ROBUSTNESS:
        expected |= passing_class_tests()
    assert passed(run) == expected, run.output
    assert "FAILED (failures=1)" in run.stderr
    assert run.leftovers == []
    assert database.leftovers() == [], run.output


def test_hung_test_holding_the_gil_is_stopped_without_stacks(sample):
    """
    The worker's watchdog thread cannot arm faulthandler without the GIL:
    the parent kills the worker a grace period after the deadline.
    """
    run = run_cases(sample, ["hang-holding-the-gil"], "--timeout", "2")

    assert run.returncode == 1, run.output
    test_class, test = "HangHoldingTheGILTests", "test_hangs_holding_the_gil"
    assert re.fullmatch(
        requeued_report(test_class, test, "was stopped after 2 s (--timeout)"),
        crash_report(run, test_class, test, "FAIL", "TestTimedOut"),
    ), run.output
    assert passed(run) == passing_class_tests() | {
        f"{test_class}.test_a_before",
        f"{test_class}.test_z_after",
    }
    assert run.leftovers == []


def test_timeout_from_the_environment(sample):
    run = run_cases(sample, ["hang"], env={"DJANGO_TEST_TIMEOUT": "2.5"})

    assert "was stopped after 2.5 s (--timeout)" in crash_report(
        run, "HangTests", "test_hangs", "FAIL", "TestTimedOut"
    )


@pytest.mark.parametrize("start_method", START_METHODS)
def test_unpicklable_outcomes_are_reported_like_any_other(sample, start_method):
    run = run_cases(sample, ["unpicklable"], start_method=start_method)

    assert run.returncode == 1, run.output
    cls = "UnpicklableTests"
    assert error_line(run, cls, "test_local_exception_class") == (
        f"{ROBUSTNESS}.local_error.<locals>.LocalError: raised from a class local to a function"
    )
    assert error_line(run, cls, "test_exception_holding_a_lock") == (
        f"{ROBUSTNESS}.LockHoldingError: holds a lock"
    )
    assert error_line(run, cls, "test_exception_that_cannot_be_unpickled") == (
        f"{ROBUSTNESS}.NeedsTwoArguments: one and two"
    )
    assert error_line(run, cls, "test_failure_with_unpicklable_assertion") == (
        f"{ROBUSTNESS}.LocalAssertion: an assertion holding a lambda"
    )
    assert error_line(run, cls, "test_chained_unpicklable_cause") == "ValueError: the effect"
    assert (
        f"{ROBUSTNESS}.LockHoldingError: the cause\n\nThe above exception was the direct cause"
        in run.stderr
    )
    assert re.search(
        rf"^FAIL: test_subtest_with_unpicklable_parameter \({ROBUSTNESS}\.{cls}\."
        r"test_subtest_with_unpicklable_parameter\) \(callback=<function .+>, number=7\)$",
        run.stderr,
        re.M,
    ), run.output
    assert re.search(
        r"test_skip_with_unpicklable_reason .* skipped 'skipped for a reason holding a lock'",
        run.stderr,
    ), run.output
    # Each report keeps the traceback down to the line that raised.
    assert 'raise LockHoldingError("holds a lock")' in run.stderr
    assert passed(run) == passing_class_tests() | {f"{cls}.test_a_before", f"{cls}.test_z_after"}
    assert "FAILED (failures=2, errors=4, skipped=1)" in run.stderr


def test_skips_before_a_crash_are_reported_once(sample):
    run = run_cases(sample, ["skips-then-exit"])

    assert run.returncode == 1, run.output
    test_class = "SkipsThenExitTests"
    report = crash_report(run, test_class, "test_c_exits")
    assert re.fullmatch(requeued_report(test_class, "test_c_exits", "died (exit code 5)"), report)
    for test, reason in [("test_a_skipped", "first"), ("test_b_skipped", "second")]:
        lines = re.findall(
            rf"^{test} \({ROBUSTNESS}\.{test_class}\.{test}\) \.\.\. (.*)$", run.stderr, re.M
        )
        assert lines == [f"skipped '{reason}'"], run.output
    assert passed(run) == passing_class_tests() | {f"{test_class}.test_z_after"}
    assert "FAILED (errors=1, skipped=2)" in run.stderr


@pytest.mark.parametrize("database", ["sqlite-memory", "postgresql"], indirect=True)
@pytest.mark.parametrize("start_method", START_METHODS)
def test_exceptions_escaping_unittest_are_reported_like_lost_workers(
    sample, database, start_method
):
    """
    KeyboardInterrupt from a test, SystemExit from setUpClass and from
    tearDownClass escape unittest in the worker: each is reported where it
    happened, with its traceback, the worker is replaced, and the run goes on
    to its summary.
    """
    run = run_cases(sample, ["escapes"], start_method=start_method)

    assert run.returncode == 1, run.output
    report = crash_report(run, "KeyboardInterruptTests", "test_raises_keyboard_interrupt")
    assert re.match(
        rf"worker [12] \(pid P\) was replaced after KeyboardInterrupt escaped unittest while "
        rf"running {ROBUSTNESS}\.KeyboardInterruptTests\.test_raises_keyboard_interrupt\. "
        r"The [12] tests? of .* went back in the queue for another worker\.\n\n"
        r"Traceback \(most recent call last\):\n",
        report,
    ), report
    assert report.endswith("KeyboardInterrupt: raised by the code under test"), report
    for fixture, test_class, message in [
        ("setUpClass", "SetUpClassExitTests", "exit from setUpClass"),
        ("tearDownClass", "TearDownClassExitTests", "exit from tearDownClass"),
    ]:
        section = re.search(
            rf"^ERROR: {fixture} \({ROBUSTNESS}\.{test_class}\)\n-+\n(.*?)\n\n(?:={{70}}|-{{70}})",
            run.stderr,
            re.M | re.S,
        )
        assert section, run.output
        assert "SystemExit escaped unittest" in section[1], section[1]
        assert section[1].endswith(f"SystemExit: {message}"), section[1]
    # The other tests all ran, on clean databases; SetUpClassExitTests' never do.
    assert passed(run) == passing_class_tests() | {
        "KeyboardInterruptTests.test_a_before",
        "KeyboardInterruptTests.test_z_after",
        "TearDownClassExitTests.test_a_before",
        "TearDownClassExitTests.test_z_after",
    }
    assert re.search(r"^Ran 17 tests in ", run.stderr, re.M), run.output
    assert "FAILED (errors=3)" in run.stderr
    assert run.leftovers == []
    assert database.leftovers() == []


@pytest.mark.parametrize("start_method", START_METHODS)
def test_exception_chains_of_any_shape_are_reported(sample, start_method):
    """
    A chain of 1,000 causes, a cycle through __context__ of exceptions that
    cannot be printed or pickled, and an exception group holding one: each
    is reported, a long chain by its 10 outermost and 10 innermost links.
    """
    run = run_cases(sample, ["chains"], start_method=start_method)

    assert run.returncode == 1, run.output
    assert error_line(run, "ChainTests", "test_thousand_causes") == f"{ROBUSTNESS}.ChainLink: 999"
    section = run.stderr.split("ERROR: test_thousand_causes")[1].split("=" * 70)[0]
    assert section.count("The above exception was the direct cause") == 20, section
    assert (
        "django_overlay.runner.stand_ins.ElidedLinks: 980 more exceptions of this chain were "
        "elided: the report keeps the 10 outermost and the 10 innermost." in section
    )
    assert re.search(rf"^{ROBUSTNESS}\.ChainLink: 0$", section, re.M), section
    assert error_line(run, "ChainTests", "test_context_cycle") == (
        f"{ROBUSTNESS}.Unreportable: <unprintable Unreportable object>"
    )
    assert "[The chain loops: the next exception in it is one shown below.]" in run.stderr
    assert (
        "ExceptionGroup: several (2 sub-exceptions)\n  1: ValueError: one\n  2: Unreportable: "
        in (run.stderr)
    )
    assert passed(run) == passing_class_tests() | {
        "ChainTests.test_a_before",
        "ChainTests.test_z_after",
    }
    assert "FAILED (errors=3)" in run.stderr


@pytest.mark.parametrize("start_method", START_METHODS)
def test_class_that_keeps_killing_workers_stops_going_back(sample, start_method):
    """
    CrashLoopTests' every test kills its worker: after two losses (the
    default --max-crashes-per-class) its last tests are named as not run,
    and the other classes run, well within --max-worker-restarts.
    """
    run = run_cases(sample, ["crash-loop"], "--max-worker-restarts", "2", start_method=start_method)

    assert run.returncode == 1, run.output
    report = crash_report(run, "CrashLoopTests", "test_exits_2")
    assert report.endswith(
        f"{ROBUSTNESS}.CrashLoopTests has lost 2 workers (--max-crashes-per-class 2): its 2 "
        f"tests not reported yet will not run:\n  {ROBUSTNESS}.CrashLoopTests.test_exits_3\n"
        f"  {ROBUSTNESS}.CrashLoopTests.test_exits_4"
    ), report
    assert passed(run) == passing_class_tests()
    assert "Stopping" not in run.stderr
    assert "FAILED (errors=2)" in run.stderr
    assert run.leftovers == []


def test_stopped_run_lists_what_did_not_run_in_a_file(sample, tmp_path):
    """More tests than a report lists: they go in a file beside the durations."""
    durations_file = tmp_path / "durations.json"
    run = run_cases(
        sample,
        ["crash-loop", "many-tests"],
        "--max-worker-restarts",
        "0",
        "--durations-file",
        str(durations_file),
    )

    assert run.returncode == 1, run.output
    not_run_file = tmp_path / "durations.not-run.txt"
    match = re.search(
        r"WorkerCrashError: Stopping: 1 workers were lost, more than --max-worker-restarts 0 allows\. (\d+) tests "
        rf"did not run\.\nThey are listed in {re.escape(str(not_run_file))}\.$",
        run.stderr,
        re.M,
    )
    assert match, run.output
    listed = not_run_file.read_text().splitlines()
    assert len(listed) == int(match[1]) > 30
    # Every test is reported once: run, or listed.
    ran = int(re.search(r"^Ran (\d+) tests? in", run.stderr, re.M)[1])
    assert ran + len(listed) == 12 + 4 + 40
    assert {
        f"{ROBUSTNESS}.PassingTestsA.test_passes",
        f"{ROBUSTNESS}.CrashLoopTests.test_exits_4",
    } <= set(listed)


def test_crash_loop_ends_the_run(sample):
    run = run_cases(
        sample, ["crash-loop"], "--max-worker-restarts", "2", "--max-crashes-per-class", "9"
    )

    assert run.returncode == 1, run.output
    assert re.search(
        r"^ERROR: parallel test run\n-+\ndjango_overlay\.runner\.outcomes\.WorkerCrashError: "
        r"Stopping: 3 workers were lost, more than --max-worker-restarts 2 allows\. "
        r"\d+ tests? did not run\.$",
        run.stderr,
        re.M,
    ), run.output
    # Each by name.
    assert f"\n  {ROBUSTNESS}.CrashLoopTests.test_exits_4\n" in run.stderr, run.output
    assert run.leftovers == []


def running(pid):
    """Whether the process is there and not a zombie (PID 1 may be slow to reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def run_leaving_children(
    sample, cases, tmp_path, start_method, *arguments, through_cat=True, **kwargs
):
    """
    Run cases whose tests leave processes, with the run's stdout through
    `| cat` as CI pipes it (or read by this process, whose pipes also end
    only when every process holding them has closed them): the run, the pids
    the tests recorded by name, and those still running afterwards (which
    are then killed).
    """
    children = tmp_path / "children"
    children.mkdir()
    piped = (
        SampleProject(
            sample.root,
            sample.database,
            sample.with_overlay,
            python=("bash", "-o", "pipefail", "-c", '"$0" "$@" | cat', sys.executable),
        )
        if through_cat
        else sample
    )
    try:
        # Without process groups the run ends only at its time limit.
        run = run_cases(
            piped,
            cases,
            *arguments,
            start_method=start_method,
            env={"SAMPLE_CHILDREN_DIR": str(children)},
            timeout=60,
            **kwargs,
        )
    finally:
        pids = {path.name: int(path.read_text()) for path in children.iterdir()}
        left = {name: pid for name, pid in pids.items() if running(pid)}
        for pid in left.values():
            os.kill(pid, signal.SIGKILL)
    return run, pids, left


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="looks for the processes in /proc")
@pytest.mark.parametrize("start_method", START_METHODS)
def test_processes_left_by_tests_end_with_the_run(sample, start_method, tmp_path):
    """
    A test leaves a sleeping child and a grandchild whose parent exited;
    another does the same and kills its worker; a third does the same and
    hangs until --timeout ends its worker. All hold the run's stdout, which
    goes through `| cat`: the pipeline ends with the run, no process is left,
    and each test is named in a warning.
    """
    run, pids, left = run_leaving_children(
        sample, ["children"], tmp_path, start_method, "--timeout", "3"
    )

    assert run.returncode == 1, run.output
    assert set(pids) == {
        f"{test}-{kind}" for test in ("left", "crashed", "hung") for kind in ("child", "grandchild")
    }
    assert left == {}, run.output
    assert re.search(
        rf"LeftProcessesWarning: {ROBUSTNESS}\.LeftChildrenTests\.test_leaves_children left 2 "
        rf"processes running: pid \d+ \(sleep 300\), pid \d+ \(sleep 300\)\. They end with "
        rf"worker [12] \(pid \d+\)\.$",
        run.stderr,
        re.M,
    ), run.output
    assert re.search(
        rf"LeftProcessesWarning: {ROBUSTNESS}\.CrashLeavingChildrenTests\.test_crashes_leaving_children "
        rf"left 2 processes running when worker [12] \(pid \d+\) was lost: pid \d+ \(sleep 300\), "
        rf"pid \d+ \(sleep 300\)\. They were ended\.$",
        run.stderr,
        re.M,
    ), run.output
    assert re.search(
        rf"LeftProcessesWarning: {ROBUSTNESS}\.HangLeavingChildrenTests\.test_hangs_leaving_children "
        rf"left 2 processes running when worker [12] \(pid \d+\) was lost: pid \d+ \(sleep 300\), "
        rf"pid \d+ \(sleep 300\)\. They were ended\.$",
        run.stderr,
        re.M,
    ), run.output
    assert passed(run) == passing_class_tests() | {
        f"{name}.{test}"
        for name in ("LeftChildrenTests", "CrashLeavingChildrenTests", "HangLeavingChildrenTests")
        for test in ("test_a_before", "test_z_after")
    } | {"LeftChildrenTests.test_leaves_children"}
    assert run.leftovers == []


@pytest.mark.parametrize("start_method", START_METHODS)
def test_worker_kept_alive_by_a_thread_is_named_with_its_test(sample, start_method):
    """
    A test and a setUpClass each leave a thread (not a daemon) waiting for
    ever: their workers cannot exit at the end of the run, and each one
    killed is named with the test, or the class, that left its thread.
    Python 3.11 raises no audit event when a thread starts: the class is
    named then.
    """
    run = run_cases(sample, ["thread"], start_method=start_method)

    run.assert_succeeded()
    warnings = re.findall(
        r"WorkerKilledAtExitWarning: worker [12] \(pid \d+\) had not exited 5 s after the "
        r"end of the run, and was killed: (.*)\.$",
        run.stderr,
        re.M,
    )
    test = f"{ROBUSTNESS}.LeftThreadTests" + (
        ".test_leaves_a_thread" if sys.version_info >= (3, 12) else ""
    )
    assert sorted(left for line in warnings for left in line.split("; ")) == [
        f"{ROBUSTNESS}.LeftThreadInSetUpClassTests left thread 'left-by-setupclass' running",
        f"{test} left thread 'left-by-a-test' running",
    ], run.output
    assert run.leftovers == []


def test_a_warning_made_an_error_does_not_end_the_run(sample):
    """
    Django's own runtests.py turns every RuntimeWarning into an error: the
    warning that a worker kept alive by a thread was killed is printed as
    that error, and the run still ends with its summary. Raised, it ended
    Django's whole suite on PostgreSQL before the summary.
    """
    run = run_cases(sample, ["thread"], env={"PYTHONWARNINGS": "error::RuntimeWarning"})

    run.assert_succeeded()
    assert re.search(
        r"^WorkerKilledAtExitWarning \(an error by the warnings filter\): worker [12] "
        r"\(pid \d+\) had not exited 5 s after the end of the run, and was killed: ",
        run.stderr,
        re.M,
    ), run.output
    assert run.leftovers == []


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="looks for the processes in /proc")
@pytest.mark.parametrize(
    "interrupt",
    [
        pytest.param(Interrupt(signal.SIGINT, "interrupt-me", to_group=True), id="ctrl-c"),
        pytest.param(Interrupt(signal.SIGTERM, "interrupt-me", to_group=False), id="sigterm"),
    ],
)
@pytest.mark.parametrize("start_method", START_METHODS)
def test_processes_of_an_interrupted_run_end_with_it(sample, start_method, interrupt, tmp_path):
    """
    A terminal's Ctrl-C reaches the parent's process group only, which the
    workers have left: the parent ends them and their groups. (Not through
    `| cat`, which would get the Ctrl-C too.)
    """
    run, pids, left = run_leaving_children(
        sample,
        ["interrupted-with-children"],
        tmp_path,
        start_method,
        through_cat=False,
        interrupt=interrupt,
    )

    assert run.returncode == 1, run.output
    assert "RunInterrupted: The run was interrupted" in run.stderr, run.output
    assert set(pids) == {"interrupted-child", "interrupted-grandchild"}
    assert left == {}, run.output
    assert run.leftovers == []


@pytest.mark.parametrize(
    "interrupt",
    [
        pytest.param(Interrupt(signal.SIGINT, "interrupt-me", to_group=True), id="ctrl-c"),
        pytest.param(Interrupt(signal.SIGTERM, "interrupt-me", to_group=False), id="sigterm"),
    ],
)
@pytest.mark.parametrize("database", ["sqlite-memory", "postgresql"], indirect=True)
@pytest.mark.parametrize("start_method", START_METHODS)
def test_interrupted_run_cleans_up_and_reports(sample, database, start_method, interrupt):
    run = run_cases(sample, ["interrupt"], start_method=start_method, interrupt=interrupt)

    assert run.returncode == 1, run.output
    name = "Ctrl-C" if interrupt.signal == signal.SIGINT else "SIGTERM"
    reported = re.search(
        rf"^django_overlay\.runner\.outcomes\.RunInterrupted: The run was interrupted "
        rf"\({name}\)\. Then (.*)\. \d+ tests? did not run\.$",
        run.stderr,
        re.M,
    )
    assert reported, run.output
    # The tests under way are named, the one that waited among them.
    assert re.search(
        rf"\bworker \d \(pid \d+\) was running {ROBUSTNESS}\.InterruptedTests\."
        r"test_waits_to_be_interrupted\b",
        reported[1],
    ), run.output
    # What ran before the interruption is in the report.
    assert "InterruptedTests.test_a_before" in passed(run), run.output
    assert re.search(r"^Ran \d+ tests? in ", run.stderr, re.M), run.output
    assert run.leftovers == []
    assert database.leftovers() == []

    again = run_cases(sample, [], start_method=start_method)
    again.assert_succeeded()


@pytest.mark.parametrize(
    "arguments, env, message",
    [
        (["--timeout", "0"], {}, "argument --timeout: '0' is not a positive number of seconds"),
        (
            ["--timeout", "soon"],
            {},
            "argument --timeout: 'soon' is not a positive number of seconds",
        ),
        (
            [],
            {"DJANGO_TEST_TIMEOUT": "-1"},
            "$DJANGO_TEST_TIMEOUT: '-1' is not a positive number of seconds",
        ),
        (
            ["--max-worker-restarts", "many"],
            {},
            "argument --max-worker-restarts: 'many' is not a whole number >= 0",
        ),
    ],
)
def test_bad_values_are_usage_errors(sample, arguments, env, message):
    run = sample.run(ROBUSTNESS, "--parallel", "2", *arguments, env=env)

    assert run.returncode != 0
    assert message in run.stderr, run.output
    assert "Traceback" not in run.stderr


def test_durations_are_recorded_and_merged(sample, tmp_path):
    durations_file = tmp_path / "durations.json"
    durations_file.write_text(json.dumps({"format": 1, "classes": {"other.Tests": 12.5}}))

    run = run_cases(sample, [], "--durations-file", str(durations_file))

    run.assert_succeeded()
    recorded = json.loads(durations_file.read_text())["classes"]
    assert recorded["other.Tests"] == 12.5
    assert {f"{ROBUSTNESS}.{name}" for name in PASSING_CLASSES} <= set(recorded)
    assert all(recorded[f"{ROBUSTNESS}.{name}"] >= 0.6 for name in PASSING_CLASSES)
    # Nothing beside it but the record of failed tests: no lock file, no
    # temporary file.
    assert sorted(path.name for path in tmp_path.iterdir()) == DURATIONS_AND_FAILED


def test_corrupt_durations_file_is_a_warning(sample, tmp_path):
    durations_file = tmp_path / "durations.json"
    durations_file.write_text("{not json")

    run = run_cases(sample, [], "--durations-file", str(durations_file))

    run.assert_succeeded()
    assert f"Ignoring the durations file {durations_file}: cannot read it" in run.stderr
    assert (tmp_path / "durations.json.corrupt").read_text() == "{not json"
    assert json.loads(durations_file.read_text())["format"] == 1


def test_progress_display_leaves_the_report_as_it_is(sample):
    run = run_cases(sample, ["exit"], "--progress")

    assert run.returncode == 1, run.output
    assert passed(run) == passing_class_tests() | {
        "ExitTests.test_a_before",
        "ExitTests.test_z_after",
    }
    assert "FAILED (errors=1)" in run.stderr


def test_worker_that_fails_to_start_is_reported_once_and_stops_the_run(sample):
    """
    Before, the worker's exception ended the run with a traceback of the
    parent's and no summary; and a worker that died before it could say why
    was replaced again and again until --max-worker-restarts gave up.
    """
    run = run_cases(sample, [], env={"SAMPLE_WORKER_START_FAILS": "1"})

    assert run.returncode == 1, run.output
    reports = re.findall(r"worker [12] \(pid \d+\) failed to start\. Its traceback:", run.stderr)
    assert len(reports) == 1, run.output
    assert "RuntimeError: this worker cannot start, on purpose" in run.stderr
    assert re.search(
        r"WorkerCrashError: Stopping: worker [12] \(pid \d+\) failed to start\. "
        r"\d+ tests did not run\.$",
        run.stderr,
        re.M,
    ), run.output
    assert re.search(r"^Ran \d+ tests? in ", run.stderr, re.M), run.output
    assert "died" not in run.stderr
    assert run.leftovers == []


def reports(run):
    """The ERROR and FAIL sections of a run's report, by their title lines."""
    sections = re.split(r"^(?:=|-){70}\n", run.stderr, flags=re.M)
    return {
        section.partition("\n")[0]: section.partition("\n")[2].strip()
        for section in sections
        if re.match(r"(?:ERROR|FAIL): ", section)
    }


@pytest.mark.parametrize("start_method", START_METHODS)
def test_failed_tests_release_their_frames_and_report_everything(sample, start_method):
    """
    A worker keeps its task's outcomes until the class ends: each failed
    test's traceback used to keep its frames, and every local in them,
    alive until then. The next test finds them gone, without a garbage
    collection; and the reports are what a serial run prints, which formats
    each traceback where it was raised (there, unittest leaves them in a
    reference cycle for the garbage collector: its test_z fails).
    """
    parallel = run_cases(sample, ["frames"], start_method=start_method)
    serial = sample.run(
        ROBUSTNESS, "--parallel", "1", "-k", "ReleasedFrames", env={"SAMPLE_ROBUSTNESS": "frames"}
    )

    assert parallel.returncode == 1, parallel.output
    assert re.search(r"^test_z_objects_are_released .* \.\.\. ok$", parallel.stderr, re.M), (
        parallel.output
    )
    assert "FAILED (failures=2, errors=1)" in parallel.stderr, parallel.output
    assert parallel.stderr.count("Cloning test database") == 2, parallel.output
    failed = reports(parallel)
    assert len(failed) == 3, parallel.output
    assert failed == {title: report for title, report in reports(serial).items() if title in failed}
