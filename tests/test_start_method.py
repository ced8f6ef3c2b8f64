"""
``manage.py test --start-method`` and DJANGO_TEST_START_METHOD: a bad value
is a clear error, a good one is the start method the tests run under.

The runs here are serial: the sample test records the start method of the
process it runs in, which is the one the option or variable set.
"""

import multiprocessing
import subprocess
import sys

import django
import pytest

REPORT = "sample_app.tests.test_report"
START_METHODS = multiprocessing.get_all_start_methods()
CHOICES = ", ".join(START_METHODS)


def test_invalid_option_is_a_usage_error(sample):
    run = sample.run(REPORT, "--start-method", "bogus")
    assert run.returncode == 2, run.output
    assert (
        f"error: argument --start-method: invalid start method 'bogus': choose from {CHOICES}"
        in run.stderr
    )


def test_invalid_environment_variable_is_a_command_error(sample):
    run = sample.run(REPORT, env={"DJANGO_TEST_START_METHOD": "bogus"})
    assert run.returncode != 0, run.output
    assert run.stderr.strip() == (
        "CommandError: DJANGO_TEST_START_METHOD: invalid start method 'bogus': "
        f"choose from {CHOICES}"
    )
    assert run.workers == {}


@pytest.mark.parametrize("start_method", START_METHODS)
def test_option_reaches_multiprocessing(sample, start_method):
    run = sample.run(REPORT, "--start-method", start_method)
    run.assert_succeeded()
    assert list(run.workers.values()) == [start_method]


@pytest.mark.parametrize("start_method", START_METHODS)
def test_environment_variable_reaches_multiprocessing(sample, start_method):
    run = sample.run(REPORT, env={"DJANGO_TEST_START_METHOD": start_method})
    run.assert_succeeded()
    assert list(run.workers.values()) == [start_method]


def test_option_overrides_environment_variable(sample):
    run = sample.run(
        REPORT, "--start-method", "spawn", env={"DJANGO_TEST_START_METHOD": "forkserver"}
    )
    run.assert_succeeded()
    assert list(run.workers.values()) == ["spawn"]


def apply_on(platform, start_method):
    """Apply start_method as the option does, on a platform faked in a subprocess."""
    code = (
        f"import sys; sys.platform = {platform!r}\n"
        "from django_overlay.start_method import apply_start_method\n"
        f"apply_start_method({start_method!r})\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )


def test_fork_on_macos_is_warned_about():
    assert "RuntimeWarning: The fork start method on macOS" in apply_on("darwin", "fork").stderr
    assert apply_on("darwin", "spawn").stderr == ""
    assert apply_on("linux", "fork").stderr == ""


def test_progress_thread_never_runs_across_a_fork(sample):
    """
    With --progress under fork, the display's thread is not running when the
    workers are forked, nor when a lost one's replacement is: Python warns
    when a multi-threaded process forks.
    """
    run = sample.run(
        "sample_app.tests.test_robustness",
        "--parallel",
        "2",
        "--progress",
        start_method="fork",
        env={"SAMPLE_ROBUSTNESS": "exit", "PYTHONWARNINGS": "always::DeprecationWarning"},
    )
    assert run.returncode == 1, run.output
    assert "died (exit code 3)" in run.stderr, run.output
    assert "use of fork() may lead to deadlocks" not in run.stderr, run.output


# Past the 108 bytes of a Unix socket's path on Linux, whatever tmp_path is.
LONG_TMPDIR_NAME = "long-tmpdir-" + "x" * 100


@pytest.mark.parametrize("with_overlay", [True, False], ids=["overlay", "upstream"])
def test_forkserver_under_a_long_tmpdir(request, with_overlay):
    """
    forkserver's socket goes in multiprocessing's directory under TMPDIR;
    upstream fails to start the fork server ("AF_UNIX path too long").
    """
    if not with_overlay and django.VERSION[:2] < (6, 0):
        pytest.skip("Django 5.2 refuses to clone under forkserver before it starts a fork server")
    sample = request.getfixturevalue("sample" if with_overlay else "upstream_sample")
    run = sample.run(
        "sample_app.tests.test_workers",
        "--parallel",
        "2",
        start_method="forkserver",
        tmpdir_name=LONG_TMPDIR_NAME,
    )
    if with_overlay:
        run.assert_ran_on_two_workers("forkserver")
    else:
        assert run.returncode != 0, run.output
        assert "AF_UNIX path too long" in run.stderr, run.output
