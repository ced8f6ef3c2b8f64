"""
Parallel runs that meet tests which kill, hang or cannot report their worker
(sample_app/tests/test_robustness.py): each case is reported by name, and
every other test runs and passes.

Upstream Django hangs forever on a dead worker and aborts the run on an
outcome it cannot pickle; run with --sample-without-overlay to see these
tests fail (a hang fails at the run's time limit).
"""

import json
import re
import signal

import pytest

from conftest import Interrupt

ROBUSTNESS = "sample_app.tests.test_robustness"
START_METHODS = ["spawn", "fork"]
PASSING_CLASSES = [f"PassingTests{letter}" for letter in "ABCDEF"]
# A run that hangs is one of the failures these tests look for; this bounds it.
RUN_TIMEOUT = 90


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


def passed(run):
    """The tests the report lists as ok, as Class.test names."""
    return {
        f"{match[2]}.{match[1]}"
        for match in re.finditer(rf"^(\w+) \({ROBUSTNESS}\.(\w+)\.\w+\) \.\.\. ok$", run.stderr, re.M)
    }


def passing_class_tests():
    return {
        f"{name}.{test}" for name in PASSING_CLASSES for test in ("test_database_is_clean", "test_passes")
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


def crash_report(run, test_class, test):
    match = re.search(
        rf"^ERROR: {test} \({ROBUSTNESS}\.{test_class}\.{test}\)\n-+\n"
        r"django_overlay\.runner\.outcomes\.WorkerCrashError: (.*?)\n+(?:={70}|-{70})",
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
        assert re.fullmatch(requeued_report(test_class, test, how), crash_report(run, test_class, test))
    # The tests before each crash were reported before it, those after it ran
    # elsewhere, and the replacement workers' databases were clean.
    assert passed(run) == passing_class_tests() | {
        f"{name}.{test}"
        for name in ("ExitTests", "KillTests", "SegfaultTests")
        for test in ("test_a_before", "test_z_after")
    }
    assert "FAILED (errors=3)" in run.stderr
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
    assert passed(run) == passing_class_tests() | {"ExitTests.test_a_before", "ExitTests.test_z_after"}
    assert "FAILED (errors=1)" in run.stderr
    assert database.leftovers() == []


@pytest.mark.parametrize("start_method", START_METHODS)
def test_hung_test_is_stopped_and_its_stacks_reported(sample, start_method):
    run = run_cases(sample, ["hang"], "--timeout", "3", start_method=start_method)

    assert run.returncode == 1, run.output
    report = crash_report(run, "HangTests", "test_hangs")
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
    assert passed(run) == passing_class_tests() | {"HangTests.test_a_before", "HangTests.test_z_after"}
    assert "FAILED (errors=1)" in run.stderr


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
        crash_report(run, test_class, test),
    ), run.output
    assert passed(run) == passing_class_tests() | {f"{test_class}.test_a_before", f"{test_class}.test_z_after"}
    assert run.leftovers == []


def test_timeout_from_the_environment(sample):
    run = run_cases(sample, ["hang"], env={"DJANGO_TEST_TIMEOUT": "2.5"})

    assert "was stopped after 2.5 s (--timeout)" in crash_report(run, "HangTests", "test_hangs")


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
    assert f"{ROBUSTNESS}.LockHoldingError: the cause\n\nThe above exception was the direct cause" in run.stderr
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
        lines = re.findall(rf"^{test} \({ROBUSTNESS}\.{test_class}\.{test}\) \.\.\. (.*)$", run.stderr, re.M)
        assert lines == [f"skipped '{reason}'"], run.output
    assert passed(run) == passing_class_tests() | {f"{test_class}.test_z_after"}
    assert "FAILED (errors=1, skipped=2)" in run.stderr


def test_crash_loop_ends_the_run(sample):
    run = run_cases(sample, ["crash-loop"], "--max-worker-restarts", "2")

    assert run.returncode == 1, run.output
    assert re.search(
        r"^ERROR: parallel test run\n-+\ndjango_overlay\.runner\.outcomes\.WorkerCrashError: "
        r"Stopping: 3 workers were lost, more than --max-worker-restarts 2 allows\. "
        r"\d+ tests? did not run\.$",
        run.stderr,
        re.M,
    ), run.output
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
    assert re.search(
        rf"^django_overlay\.runner\.outcomes\.WorkerCrashError: The run was interrupted "
        rf"\({name}\)\. \d+ tests? did not run\.$",
        run.stderr,
        re.M,
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
        (["--timeout", "soon"], {}, "argument --timeout: 'soon' is not a positive number of seconds"),
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
    # Nothing beside it: no lock file, no temporary file.
    assert [path.name for path in tmp_path.iterdir()] == ["durations.json"]


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
    assert passed(run) == passing_class_tests() | {"ExitTests.test_a_before", "ExitTests.test_z_after"}
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
