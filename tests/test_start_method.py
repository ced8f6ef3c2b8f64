"""
``manage.py test --start-method`` and DJANGO_TEST_START_METHOD: a bad value
is a clear error, a good one is the start method the tests run under.

The runs here are serial: the sample test records the start method of the
process it runs in, which is the one the option or variable set.
"""

import multiprocessing

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
