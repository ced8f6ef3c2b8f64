"""
Spawned and forkserver workers start in the state the parent is in when the
suite starts, as forked ones do: settings, environment variables and warnings
filters a custom runner set at run time, and --debug-sql.
"""

import multiprocessing
import sys
import warnings

import pytest

from django_overlay.runner import parity

PARITY_RUN = ("sample_app.tests.test_parity", "--parallel", "2")
PROJECT_RUNNER = {"SAMPLE_TEST_RUNNER": "sample_project.runner.ProjectRunner"}


@pytest.mark.parametrize("start_method", multiprocessing.get_all_start_methods())
def test_runner_configuration_reaches_every_worker(sample, start_method):
    run = sample.run(*PARITY_RUN, start_method=start_method, env=PROJECT_RUNNER)

    run.assert_ran_on_two_workers(start_method)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_debug_sql_reaches_every_worker(sample, start_method):
    run = sample.run(
        *PARITY_RUN,
        "--debug-sql",
        start_method=start_method,
        env={**PROJECT_RUNNER, "SAMPLE_EXPECT_DEBUG_SQL": "1"},
    )

    run.assert_ran_on_two_workers(start_method)


@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
def test_parent_side_options_report_alike(sample, start_method):
    """--timing, --durations, --shuffle and --buffer: the parent reports them
    from what workers send back, whatever started the workers."""
    options = ["--timing", "--shuffle", "42", "--buffer"]
    reports = ["Total run took", "Used shuffle seed: 42"]
    if sys.version_info >= (3, 12):
        # unittest records durations from Python 3.12 on.
        options += ["--durations", "2"]
        reports.append("Slowest test durations")
    run = sample.run(*PARITY_RUN, *options, start_method=start_method, env=PROJECT_RUNNER)

    run.assert_ran_on_two_workers(start_method)
    for report in reports:
        assert report in run.output, run.output


def test_unpicklable_setting_is_named_once_and_the_run_goes_on(sample):
    run = sample.run(
        *PARITY_RUN,
        start_method="spawn",
        env={**PROJECT_RUNNER, "SAMPLE_UNPICKLABLE_SETTING": "1"},
    )

    run.assert_ran_on_two_workers("spawn")
    assert run.stderr.count("UncarriedSettingWarning") == 1, run.output
    assert "cannot be pickled: SAMPLE_CALLBACK." in run.stderr


def test_upstream_spawn_workers_lose_the_runner_configuration(upstream_sample):
    """Why the overlay carries settings across: upstream's workers fail here."""
    run = upstream_sample.run(*PARITY_RUN, start_method="spawn", env=PROJECT_RUNNER)

    assert run.returncode == 1, run.output
    assert "test_password_hasher" in run.stderr
    assert "test_feature_flag" in run.stderr


def test_warnings_filter_that_cannot_be_pickled_is_named():
    class LocalWarning(UserWarning):
        pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", parity.UncarriedWarningsFilterWarning)
        warnings.filterwarnings("error", category=LocalWarning)
        carried = parity.capture_warnings_filters()

    assert all(entry[2] is not LocalWarning for entry in carried)
    assert [str(warning.message) for warning in caught] == [
        "Spawned test workers go without these warnings filters, whose categories cannot "
        "be pickled: error test_warnings_filter_that_cannot_be_pickled_is_named.<locals>.LocalWarning."
    ]
