"""
The sample project's parallel runs under a simulation of Windows' CPython
(windows_sim/sitecustomize.py, on PYTHONPATH for the run and its spawned
workers): no fcntl, no SIGUSR1/SIGUSR2/SIGALRM, no faulthandler.register(),
no os.O_DIRECTORY, os.killpg(), os.fork(), ...; spawn the only start method.
Workers that crash, hang or send what cannot be pickled are each named (the
hung one with its stacks), the other tests run, and the run writes its
durations file and JUnit report and prints its summary.

Before the overlay kept to portable APIs, every run here failed at import
(pool.py's signal.SIGUSR1).
"""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from conftest import Interrupt
from test_caches import CACHE_RUN, cache_backend, memcached_server  # noqa: F401 (fixtures)
from test_junit import EXPECTED, JUNIT, SCHEMA, outcomes
from test_robustness import (
    PASSING_CLASSES,
    ROBUSTNESS,
    check_durations_written_twice,
    crash_report,
    error_line,
    passed,
    passing_class_tests,
    requeued_report,
    run_cases,
)

SIMULATION = Path(__file__).resolve().parent / "windows_sim"


def simulated_environment():
    paths = [str(SIMULATION), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths)}


class SimulatedWindows:
    """The `sample` fixture's project, every run under the simulation."""

    def __init__(self, sample):
        self.sample = sample

    def run(self, *arguments, env=None, **kwargs):
        return self.sample.run(*arguments, env={**simulated_environment(), **(env or {})}, **kwargs)


@pytest.fixture
def windows(sample):
    return SimulatedWindows(sample)


def robustness(windows, cases, *arguments, **kwargs):
    # No --start-method: spawn is the simulated platform's default.
    return run_cases(windows, cases, *arguments, start_method=None, **kwargs)


def test_the_simulation_takes_the_posix_apis_away():
    probe = (
        "import faulthandler, multiprocessing, os, signal\n"
        "try:\n    import fcntl\nexcept ImportError:\n    fcntl = None\n"
        "print(fcntl, hasattr(signal, 'SIGUSR1'), hasattr(signal, 'SIGALRM'),\n"
        "      hasattr(faulthandler, 'register'), hasattr(os, 'O_DIRECTORY'),\n"
        "      hasattr(os, 'killpg'), hasattr(os, 'setsid'), hasattr(os, 'fork'),\n"
        "      multiprocessing.get_start_method(), multiprocessing.get_all_start_methods())"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, **simulated_environment()},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert output.split() == [
        "None",
        "False",
        "False",
        "False",
        "False",
        "False",
        "False",
        "False",
        "spawn",
        "['spawn']",
    ]


@pytest.mark.parametrize("database", ["sqlite-memory", "sqlite-file"], indirect=True)
def test_each_worker_has_its_own_database(windows, database):
    run = windows.run("sample_app", "--parallel", "2")

    run.assert_ran_on_two_workers("spawn")
    assert database.leftovers() == []


def test_crashed_hung_and_unpicklable_tests_are_named(windows, tmp_path):
    durations_file = tmp_path / "durations.json"
    run = robustness(
        windows,
        ["exit", "kill", "segfault", "hang", "unpicklable"],
        "--timeout",
        "3",
        "--durations-file",
        str(durations_file),
    )

    assert run.returncode == 1, run.output
    for test_class, test, how in [
        ("ExitTests", "test_exits", "died (exit code 3)"),
        ("KillTests", "test_killed_from_outside", "died (killed by SIGKILL)"),
        ("SegfaultTests", "test_segfaults", "died (killed by SIGSEGV)"),
    ]:
        assert re.fullmatch(
            requeued_report(test_class, test, how), crash_report(run, test_class, test)
        )
    hung = crash_report(run, "HangTests", "test_hangs", "FAIL", "TestTimedOut")
    assert re.match(
        requeued_report("HangTests", "test_hangs", "was stopped after 3 s (--timeout)")
        + r"\n\nStacks of the worker's threads when it was stopped:\n\n",
        hung,
    ), run.output
    assert re.search(r'^  File "[^"]+test_robustness\.py", line \d+ in test_hangs$', hung, re.M), (
        hung
    )
    assert error_line(run, "UnpicklableTests", "test_local_exception_class") == (
        f"{ROBUSTNESS}.local_error.<locals>.LocalError: raised from a class local to a function"
    )
    # Every other test ran.
    assert passed(run) == passing_class_tests() | {
        f"{name}.{test}"
        for name in ("ExitTests", "KillTests", "SegfaultTests", "HangTests", "UnpicklableTests")
        for test in ("test_a_before", "test_z_after")
    }
    assert "FAILED (failures=3, errors=7, skipped=1)" in run.stderr, run.output
    recorded = json.loads(durations_file.read_text())["classes"]
    assert {f"{ROBUSTNESS}.{name}" for name in PASSING_CLASSES} <= set(recorded)
    assert run.leftovers == []


def test_ctrl_c_ends_the_run_with_its_summary(windows):
    run = robustness(
        windows, ["interrupt"], interrupt=Interrupt(signal.SIGINT, "interrupt-me", to_group=True)
    )

    assert run.returncode == 1, run.output
    assert re.search(
        r"^django_overlay\.runner\.outcomes\.RunInterrupted: The run was interrupted "
        r"\(Ctrl-C\)\. Then .*\bwas running \S+\.test_waits_to_be_interrupted\b.*\. "
        r"\d+ tests? did not run\.$",
        run.stderr,
        re.M,
    ), run.output
    assert "InterruptedTests.test_a_before" in passed(run), run.output
    assert re.search(r"^Ran \d+ tests? in ", run.stderr, re.M), run.output
    assert run.leftovers == []


def test_durations_file_is_written_and_merged(windows, tmp_path):
    # No --start-method: spawn is the simulated platform's default.
    check_durations_written_twice(windows, tmp_path, start_method=None)


def test_junit_report(windows, tmp_path):
    report = tmp_path / "reports" / "junit.xml"

    run = windows.run(
        JUNIT, "--parallel", "2", "--junit-xml", str(report), env={"SAMPLE_JUNIT": "1"}
    )

    assert run.returncode == 1, run.output
    document = etree.parse(str(report))
    assert SCHEMA.validate(document), SCHEMA.error_log
    assert outcomes(document) == EXPECTED
    assert [path.name for path in report.parent.iterdir()] == ["junit.xml"]
    assert run.leftovers == []


@pytest.mark.parametrize("cache_backend", ["redis", "file", "locmem"], indirect=True)
def test_each_worker_has_its_own_cache(windows, cache_backend):
    run = windows.run(*CACHE_RUN, env=cache_backend.env)

    run.assert_ran_on_two_workers("spawn")
    cache_backend.assert_only_outside_key_left()
