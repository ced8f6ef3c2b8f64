"""
--reruns: a test that fails, errors or loses its worker runs again, alone in
a fresh worker process, and only its last run counts
(sample_app/tests/test_robustness.py, its "reruns" case: tests that fail on
their first run only, or always, and remember their runs in a file of the
run's results directory).

Upstream has no --reruns: run with --sample-without-overlay to see these
tests fail.
"""

import re
import shlex
import unittest

import pytest
from lxml import etree

from test_junit import SCHEMA

ROBUSTNESS = "sample_app.tests.test_robustness"
RERUNS = f"{ROBUSTNESS}.RerunTests"
CRASH_ONCE = f"{ROBUSTNESS}.CrashOnceTests"
# A run that hangs is one of the failures these tests look for; this bounds it.
RUN_TIMEOUT = 90
START_METHODS = ["spawn", "fork"]
# How the summary labels a test that passed on a rerun: which other classes
# ran before it on its worker depends on the schedule.
PASSED_AGAIN = "FLAKY|FLAKY OR ORDER-DEPENDENT"


def run(sample, *arguments, start_method=None, env=None):
    return sample.run(
        *arguments,
        "-v",
        "2",
        start_method=start_method,
        env={"SAMPLE_ROBUSTNESS": "reruns", **(env or {})},
        timeout=RUN_TIMEOUT,
    )


def runs_of(sample_run, name):
    """The pids that ran the sample test called name, one per run."""
    return sample_run.memory.get(name, [])


def ran(sample_run):
    return int(re.search(r"^Ran (\d+) tests? in ", sample_run.stderr, re.M)[1])


def skips_counted():
    """
    Whether this Python's unittest counts a skipped test in "Ran N tests":
    3.11 and 3.13 do, 3.12.1 (this machine's 3.12) does not.
    """

    class Skipping(unittest.TestCase):
        @unittest.skip("counted or not")
        def test_skipped(self):
            pass

    result = unittest.TestResult()
    Skipping("test_skipped").run(result)
    return result.testsRun == 1


def summary_line(sample_run, label, test):
    match = re.search(rf"^  ({label}) {re.escape(test)}: (.*)$", sample_run.stderr, re.M)
    assert match, sample_run.output
    return match[2]


@pytest.mark.parametrize("start_method", START_METHODS)
def test_only_the_last_run_counts(sample, tmp_path, start_method):
    report = tmp_path / "junit.xml"
    first = run(
        sample,
        RERUNS,
        CRASH_ONCE,
        "--parallel",
        "2",
        "--reruns",
        "2",
        "--junit-xml",
        str(report),
        start_method=start_method,
    )

    # test_always_fails fails its three runs: the run fails, and counts it
    # once, as one failure; the others passed in the end.
    assert first.returncode == 1, first.output
    # Eight tests and a skipped one.
    assert ran(first) == 8 + skips_counted(), first.output
    assert re.search(
        r"^FAILED \(failures=1, skipped=1, expected failures=1\)$", first.stderr, re.M
    ), first.output
    assert len(re.findall(r"^FAIL\b.*: test_always_fails ", first.stderr, re.M)) == 1, first.output
    assert not re.search(r"^ERROR\b", first.stderr, re.M), first.output
    assert summary_line(first, "FAILED", f"{RERUNS}.test_always_fails") == "failed all 3 runs"
    assert len(runs_of(first, "always-fails")) == 3
    for test, name in [
        ("test_flaky", "flaky"),
        ("test_errors_once", "errors-once"),
        ("test_subtest_fails_once", "subtest-fails-once"),
    ]:
        assert re.match(
            r"passed on rerun 1\b", summary_line(first, PASSED_AGAIN, f"{RERUNS}.{test}")
        )
        assert len(runs_of(first, name)) == 2
    # Each failed run is a line at -v 2.
    assert re.search(
        rf"^test_flaky \({RERUNS}\.test_flaky\) \.\.\. RERUN \(failure; rerun 1 of --reruns 2\)$",
        first.stderr,
        re.M,
    ), first.output
    assert len(re.findall(r"test_always_fails .* \.\.\. RERUN \(failure", first.stderr)) == 2, (
        first.output
    )
    # Expected failures and skips are not rerun.
    assert len(runs_of(first, "expected-failure")) == 1
    # The test that killed its worker ran again in a fresh one, which had run
    # nothing before it.
    crashed, rerun = runs_of(first, "crashes-once")
    assert crashed != rerun
    others = {pid for name, pids in first.memory.items() if name != "crashes-once" for pid in pids}
    assert rerun not in others
    assert re.match(
        r"passed on rerun 1\b", summary_line(first, PASSED_AGAIN, f"{CRASH_ONCE}.test_crashes_once")
    )

    document = etree.parse(str(report))
    SCHEMA.assertValid(document)

    def testcase(name):
        (element,) = document.xpath(f"//testcase[@name='{name}']")
        return element

    always = testcase("test_always_fails")
    assert [child.tag for child in always] == ["failure", "rerunFailure", "rerunFailure"]
    assert always[1].get("message") == "always-fails: fails on every run"
    assert "Traceback" in always[1].findtext("stackTrace")
    assert [child.tag for child in testcase("test_flaky")] == ["flakyFailure"]
    assert [child.tag for child in testcase("test_errors_once")] == ["flakyError"]
    assert testcase("test_errors_once")[0].get("type") == "RuntimeError"
    crash = testcase("test_crashes_once")
    assert [(child.tag, child.get("type")) for child in crash] == [
        ("flakyError", "WorkerCrashError")
    ]
    assert [child.tag for child in testcase("test_a_passes")] == []


@pytest.mark.parametrize("mode", ["parallel", "serial"])
def test_a_flaky_test_passes_the_run(sample, mode):
    # The serial run asks through the environment, with a delay.
    if mode == "parallel":
        arguments, env = ["--parallel", "2", "--reruns", "1"], {}
    else:
        arguments = ["--parallel", "1"]
        env = {"DJANGO_TEST_RERUNS": "1", "DJANGO_TEST_RERUNS_DELAY": "0.2"}
    flaky = run(
        sample,
        f"{RERUNS}.test_flaky",
        f"{RERUNS}.test_a_passes",
        f"{CRASH_ONCE}.test_crashes_once",
        *arguments,
        start_method="spawn",
        env=env,
    )

    flaky.assert_succeeded()
    assert ran(flaky) == 3
    assert re.search(r"^OK$", flaky.stderr, re.M), flaky.output
    assert summary_line(flaky, PASSED_AGAIN, f"{RERUNS}.test_flaky").startswith(
        "passed on rerun 1,"
    )
    assert len(runs_of(flaky, "flaky")) == 2
    assert len(runs_of(flaky, "crashes-once")) == 2


@pytest.mark.parametrize("database", ["sqlite-file", "postgresql"], indirect=True)
def test_reruns_on_fresh_databases_leave_none_behind(sample, database):
    rows = run(
        sample,
        f"{ROBUSTNESS}.FlakyDatabaseTests",
        CRASH_ONCE,
        "--parallel",
        "2",
        "--reruns",
        "1",
        start_method="spawn",
    )

    rows.assert_succeeded()
    assert len(rows.memory["flaky-with-rows"]) == 2
    assert database.leftovers() == []


def test_order_dependent_failure_names_its_sequence(sample):
    # Serially, in one worker: the victim runs behind the polluter, fails,
    # and passes alone in a fresh worker.
    victim = f"{ROBUSTNESS}.OrderVictimTests.test_victim"
    ordered = run(
        sample,
        f"{ROBUSTNESS}.OrderPolluterTests",
        victim,
        "--reruns",
        "1",
        "--discovery-order",
    )

    ordered.assert_succeeded()
    line = summary_line(ordered, "FLAKY OR ORDER-DEPENDENT", victim)
    assert (
        "passed on rerun 1, alone in a fresh worker, after 1 failed run behind other classes"
        in line
    )
    command = re.search(rf"{re.escape(line)}\n    (.*)$", ordered.stderr, re.M)[1]
    # The order record's command: the polluter, then the victim, serially,
    # without --reruns, which would hide the failure.
    assert command.endswith(f"--parallel 1 {ROBUSTNESS}.OrderPolluterTests {victim}"), command
    assert "--reruns" not in command
    # And it shows the failure.
    python, manage_py, test, *arguments = shlex.split(command)
    assert test == "test"
    sequence = sample.run(*arguments, env={"SAMPLE_ROBUSTNESS": "reruns"}, timeout=RUN_TIMEOUT)
    assert sequence.returncode == 1, sequence.output
    assert re.search(r"^FAIL: test_victim ", sequence.stderr, re.M), sequence.output


def test_without_reruns_nothing_changes(sample):
    once = run(sample, RERUNS, CRASH_ONCE, "--parallel", "2", start_method="fork")

    assert once.returncode == 1, once.output
    assert "RERUN" not in once.stderr
    assert "Reruns (" not in once.stderr
    assert re.search(
        r"^FAILED \(failures=3, errors=2, skipped=1, expected failures=1\)$", once.stderr, re.M
    ), once.output
    assert len(runs_of(once, "flaky")) == 1
    assert len(runs_of(once, "always-fails")) == 1


@pytest.mark.parametrize(
    "arguments, env, message",
    [
        (["--reruns", "-1"], {}, "'-1' is not a whole number >= 0"),
        (["--reruns-delay", "1"], {}, "--reruns-delay applies only with --reruns N"),
        (["--reruns", "1", "--reruns-delay", "soon"], {}, "'soon' is not a number of seconds >= 0"),
        (
            [],
            {"DJANGO_TEST_RERUNS": "many"},
            "$DJANGO_TEST_RERUNS: 'many' is not a whole number >= 0",
        ),
    ],
)
def test_bad_reruns_options_are_refused(sample, arguments, env, message):
    refused = run(sample, f"{RERUNS}.test_a_passes", *arguments, env=env)

    assert refused.returncode != 0, refused.output
    assert message in refused.stderr, refused.output


def test_failfast_stops_only_at_a_last_run(sample):
    # The worker must not stop test_flaky's class at its first, held-back
    # failure: test_z_after runs, and the run passes.
    run_ = run(
        sample,
        f"{RERUNS}.test_flaky",
        f"{RERUNS}.test_z_after",
        f"{CRASH_ONCE}",
        "--parallel",
        "2",
        "--reruns",
        "1",
        "--failfast",
        start_method="fork",
    )

    run_.assert_succeeded()
    assert ran(run_) == 3, run_.output
    assert len(run_.memory["after"]) == 1


@pytest.mark.parametrize("database", ["uncloneable"], indirect=True)
def test_serial_reruns_say_when_they_cannot_apply(sample, database):
    # A serial run with --reruns runs in a worker process on a clone of the
    # test databases; a backend that cannot clone gets the plain serial run.
    serial = run(sample, f"{ROBUSTNESS}.FlakyDatabaseTests", "--reruns", "1")

    assert serial.returncode == 1, serial.output
    assert (
        "--reruns does not apply: a serial run with it runs in a worker process on a "
        "clone of the test databases, and the database backend of 'default' cannot clone."
    ) in serial.stdout + serial.stderr, serial.output
    assert "RERUN" not in serial.stderr
