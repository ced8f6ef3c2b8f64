"""
Parallel runs of the sample project with two workers: each worker runs tests
on a database of its own, on every start method and database, and the run
leaves nothing behind, neither while it runs nor after.

The sample tests do the checking inside the run (sample_app/tests/
test_workers.py); these tests check what they recorded, the exit status, and
what is left in the run's working directory, TMPDIR and database server.
"""

import re

import pytest

PARALLEL_RUN = ("sample_app", "--parallel", "2")


@pytest.mark.parametrize(
    "database, start_method",
    [
        ("sqlite-memory", "spawn"),
        ("sqlite-file", "spawn"),
        ("postgresql", "spawn"),
        ("mariadb", "spawn"),
        ("sqlite-memory", "fork"),
        # Django 5.2 cannot clone SQLite for forkserver workers; the overlay can.
        ("sqlite-memory", "forkserver"),
    ],
    indirect=["database"],
)
def test_each_worker_has_its_own_database(sample, database, start_method):
    run = sample.run(*PARALLEL_RUN, start_method=start_method)

    run.assert_ran_on_two_workers(start_method)
    assert database.leftovers() == []


@pytest.mark.parametrize("database", ["uncloneable"], indirect=True)
def test_backend_that_cannot_clone_runs_in_one_process(sample, database):
    """
    Upstream fails during database setup ("The database backend doesn't
    support cloning databases"); the overlay says why and runs serially.
    """
    run = sample.run(
        "sample_app.tests.test_report",
        "sample_app.tests.test_hashing",
        "--parallel",
        "2",
        start_method="spawn",
        env={"SAMPLE_HASHING_TESTS": "1"},
    )

    run.assert_succeeded()
    assert (
        "Running tests in one process: the database backend of 'default' cannot "
        "clone test databases for parallel workers." in run.stdout
    ), run.output
    assert len(run.workers) == 1


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_test_runner_setting_installs_the_overlay(upstream_sample, start_method):
    """TEST_RUNNER = "django_overlay.runner.DiscoverRunner", no install() in manage.py."""
    run = upstream_sample.run(
        *PARALLEL_RUN,
        "--start-method",
        start_method,
        env={"SAMPLE_TEST_RUNNER": "django_overlay.runner.DiscoverRunner"},
    )

    run.assert_ran_on_two_workers(start_method)


def test_parallel_auto_counts_workers_under_forkserver(sample):
    """
    A project whose start method is already forkserver (its own choice, or
    Python 3.14's default) gets as many workers from --parallel auto as any
    other: Django 5.2's get_max_test_processes() answers 1 for forkserver.
    """
    run = sample.run(
        "sample_app",
        "--parallel",
        "auto",
        env={"SAMPLE_START_METHOD": "forkserver", "DJANGO_TEST_PROCESSES": "2"},
    )

    run.assert_ran_on_two_workers("forkserver")


# Upstream's multiprocessing.Pool replaces the dead worker and waits for its
# task forever under fork; under spawn the replacement fails to find a database.
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_worker_that_dies_ends_the_run(sample, start_method):
    run = sample.run(
        *PARALLEL_RUN,
        start_method=start_method,
        env={"SAMPLE_WORKER_EXIT_CODE": "3"},
        timeout=60,
    )

    assert run.returncode != 0, run.output
    assert re.search(r"worker \d+ \(pid \d+\) died \(exit code 3\)", run.stderr), run.output
    assert run.leftovers == []


def test_upstream_leaves_files_in_cwd(upstream_sample):
    """Why the overlay clones SQLite differently: upstream's workers load
    their in-memory databases from files it writes to the working directory."""
    run = upstream_sample.run(*PARALLEL_RUN, start_method="spawn")

    assert run.returncode == 1, run.output
    assert "['default_1.sqlite3', 'default_2.sqlite3'] != []" in run.stderr


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_setupclass_error_is_reported_with_buffer(sample, start_method):
    """
    What Django's test_buffer_mode_reports_setupclass_failure checks through a
    mocked multiprocessing.Pool, which the overlay no longer uses, checked here
    on real workers.
    """
    run = sample.run(
        *PARALLEL_RUN,
        "--buffer",
        start_method=start_method,
        env={"SAMPLE_SETUP_CLASS_ERROR": "raised in setUpClass"},
    )

    assert run.returncode == 1, run.output
    assert "ERROR: setUpClass (sample_app.tests.test_errors.SetUpClassErrorTests)" in run.stderr
    assert "ValueError: raised in setUpClass" in run.stderr
