"""
The sample project's parallel spawn runs on the official Windows CPython 3.13
(embeddable, win_amd64 wheels) under Wine: `make windows-smoke`, which lays
the interpreter out first (install_python.py) and runs

    python -m pytest tests/windows/smoke.py

Not collected by `make test` (its name is no test_*.py). Wine is not Windows:
this shows what Wine 8 makes of the Windows CPython's calls, nothing more
(docs/windows.md).

The checks are our pytest suite's own (test_parallel_spawn.py,
test_robustness.py), called with the sample project run by
tests/windows/python instead of the Linux interpreter. Each session gets a
Wine prefix and a directory for Wine's server of its own, removed at the end
with everything in them.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

import test_parallel_spawn
import test_robustness
from conftest import Interrupt, SampleProject
from test_robustness import (
    ROBUSTNESS,
    crash_report,
    passed,
    passing_class_tests,
    requeued_report,
    run_cases,
)

WINDOWS_PYTHON = Path(__file__).resolve().with_name("python")
INTERPRETER = Path(__file__).resolve().parents[2] / ".windows" / "python" / "python.exe"
WINE = "/usr/lib/wine/wine64"
WINESERVER = "/usr/lib/wine/wineserver64"
PROC = Path("/proc")


@pytest.fixture(scope="session")
def wine():
    """The environment of a Wine prefix of this session's own, with its server running."""
    if not INTERPRETER.exists():
        pytest.fail(f"no {INTERPRETER}: run `make windows-smoke`, which lays it out", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="windows-smoke-"))
    environment = {
        "WINEPREFIX": str(root / "prefix"),
        "WINE_TMPDIR": str(root / "tmp"),
        "WINEDEBUG": "-all",
    }
    (root / "tmp").mkdir()
    # The server will not start for a prefix directory that does not exist.
    (root / "prefix").mkdir()
    wine_environment = {**os.environ, **environment, "TMPDIR": environment["WINE_TMPDIR"]}
    # The server is kept running, and with it the prefix's system processes
    # (services.exe, winedevice.exe, ...) that wineboot starts: started by
    # a run instead, they would inherit its stdout and stderr and hold the
    # pipes open after it exits. Their own output goes nowhere.
    quiet = {
        "env": wine_environment,
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
    }
    try:
        subprocess.run([WINESERVER, "--persistent"], check=True, **quiet)
        subprocess.run([WINE, "wineboot", "--init"], check=True, **quiet)
        yield environment
    finally:
        subprocess.run([WINESERVER, "--kill"], check=False, **quiet)
        subprocess.run([WINESERVER, "--wait"], check=False, **quiet)
        shutil.rmtree(root, ignore_errors=True)


class WindowsSample:
    """The sample project, each run by the Windows CPython under Wine."""

    def __init__(self, sample, wine_environment):
        self.sample = sample
        self.wine_environment = wine_environment

    def run(self, *arguments, env=None, **kwargs):
        return self.sample.run(*arguments, env={**self.wine_environment, **(env or {})}, **kwargs)


@pytest.fixture
def windows(tmp_path, database, wine):
    return WindowsSample(
        SampleProject(tmp_path, database, with_overlay=True, python=[WINDOWS_PYTHON]), wine
    )


def test_the_interpreter_is_windows_cpython(wine):
    probe = (
        "import multiprocessing, os, sys; "
        "print(sys.platform, os.name, multiprocessing.get_start_method(), sys.version)"
    )
    completed = subprocess.run(
        [WINDOWS_PYTHON, "-c", probe],
        env={**os.environ, **wine},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )
    print(completed.stdout)
    platform, name, start_method, version = completed.stdout.split(maxsplit=3)
    assert (platform, name, start_method) == ("win32", "nt", "spawn")
    assert re.match(r"3\.13\.\d+ .*\[MSC v\.\d+ 64 bit \(AMD64\)\]", version), version


@pytest.mark.parametrize("database", ["sqlite-memory", "sqlite-file"], indirect=True)
def test_each_worker_has_its_own_database(windows, database):
    test_parallel_spawn.test_each_worker_has_its_own_database(windows, database, "spawn")


def test_worker_crash_is_reported_and_its_tests_run_elsewhere(windows):
    run = run_cases(windows, ["exit"])

    assert run.returncode == 1, run.output
    assert re.fullmatch(
        requeued_report("ExitTests", "test_exits", "died (exit code 3)"),
        crash_report(run, "ExitTests", "test_exits"),
    ), run.output
    assert passed(run) == passing_class_tests() | {
        "ExitTests.test_a_before",
        "ExitTests.test_z_after",
    }
    assert "FAILED (errors=1)" in run.stderr
    assert run.leftovers == []
    # No access violation here: the sample's SegfaultTests reads address 0
    # through ctypes, whose calls the Windows CPython guards, raising OSError
    # ("exception: access violation reading 0x0000000000000000") instead.


def test_hung_test_is_stopped_and_its_stacks_reported(windows):
    test_robustness.test_hung_test_is_stopped_and_its_stacks_reported(windows, "spawn")


def test_unpicklable_outcomes_are_reported_like_any_other(windows):
    test_robustness.test_unpicklable_outcomes_are_reported_like_any_other(windows, "spawn")


def test_durations_file_is_written_twice(windows, tmp_path):
    test_robustness.check_durations_written_twice(windows, tmp_path)


def test_ctrl_c_ends_the_run_with_its_summary(windows, database):
    """Wine turns the SIGINT each process of the group gets into a console Ctrl-C event."""
    test_robustness.test_interrupted_run_cleans_up_and_reports(
        windows, database, "spawn", Interrupt(signal.SIGINT, "interrupt-me", to_group=True)
    )


def linux_processes_naming(text):
    """
    The Linux processes whose command line holds text: Wine gives each
    Windows process's Linux process the Windows command line.
    """
    found = []
    for entry in PROC.iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_text(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            # It ended meanwhile.
            continue
    return found


def test_a_child_left_running_ends_with_the_run_and_is_named(windows, tmp_path):
    """
    A test leaves a sleeping Python behind, which holds the run's stdout and
    stderr: the worker's job object ends it with the run, and the test is
    named in a warning with the child's pid and executable (Wine has no
    command line of another process to give).
    """
    children = tmp_path / "children"
    children.mkdir()
    try:
        run = run_cases(windows, ["python-child"], env={"SAMPLE_CHILDREN_DIR": str(children)})
        left = linux_processes_naming(str(children))
    finally:
        for pid in linux_processes_naming(str(children)):
            os.kill(pid, signal.SIGKILL)

    run.assert_succeeded()
    pid = (children / "python-child").read_text()
    assert re.search(
        rf"LeftProcessesWarning: {ROBUSTNESS}\.LeftPythonChildTests\.test_leaves_a_python_child "
        rf"left 1 process running: pid {pid} \([^)]*\\python\.exe\)\. They end with "
        rf"worker [12] \(pid \d+\)\.$",
        run.stderr,
        re.M,
    ), run.output
    assert left == [], run.output
    assert run.leftovers == []


def test_worker_kept_alive_by_a_thread_is_named_with_its_test(windows):
    test_robustness.test_worker_kept_alive_by_a_thread_is_named_with_its_test(windows, "spawn")
