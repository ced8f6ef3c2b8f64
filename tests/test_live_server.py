"""
The overlay's live-server classes and shared_connections(), through the
sample project's live_app tests (sample_project/live_app/tests/test_live.py):
in headless Chromium, data made in a test shows in the browser, data written
through the browser is seen by the test, threads of the code under test work
inside the test's transaction, and nothing is left afterwards; on every
database, in one process and on two spawned workers, each with its live
server on a port of its own.
"""

import pytest

import django_overlay

# Chromium drives every test here.
pytestmark = pytest.mark.external

LIVE_TESTS = "live_app"
LIVE_TEST_COUNT = 13


@pytest.mark.parametrize(
    "database", ["sqlite-memory", "sqlite-file", "postgresql", "mariadb"], indirect=True
)
def test_live_server_tests_in_one_process(sample, database):
    run = sample.run(LIVE_TESTS)

    run.assert_succeeded()
    assert f"Ran {LIVE_TEST_COUNT} tests" in run.stderr, run.output
    assert run.leftovers == []
    assert database.leftovers() == []


@pytest.mark.parametrize(
    "database", ["sqlite-memory", "sqlite-file", "postgresql", "mariadb"], indirect=True
)
def test_live_server_tests_on_two_spawned_workers(sample, database):
    """Each worker's live server shares that worker's connection (the sample
    tests wait until both live servers are up, on different ports)."""
    run = sample.run(
        LIVE_TESTS, "--parallel", "2", start_method="spawn", env={"SAMPLE_LIVE_PARALLEL": "1"}
    )

    run.assert_ran_on_two_workers("spawn")
    assert f"Ran {LIVE_TEST_COUNT} tests" in run.stderr, run.output
    assert database.leftovers() == []


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_without_the_overlay_nothing_is_shared(upstream_sample, database):
    """
    The same tests on Django's own live server with TestCase's transactions:
    the server cannot see the test's rows, what it writes is committed and
    left behind, and the threads of the code under test see committed rows
    only.
    """
    run = upstream_sample.run(LIVE_TESTS)

    assert run.returncode == 1, run.output
    for failure in (
        "AssertionError: Lists differ: [] != ['made in the test']",
        "AssertionError: rows left after BrowserTests: ['typed in the browser', ",
        "FAIL: test_threads_see_and_write_the_tests_rows",
        "FAIL: test_no_rows (live_app.tests.test_live.NothingLeftTests.test_no_rows)",
    ):
        assert failure in run.stderr, run.output
    assert database.leftovers() == []


@pytest.mark.parametrize("database", ["sqlite-memory"], indirect=True)
def test_database_that_cannot_be_shared_fails_at_class_setup(sample, database):
    run = sample.run(
        "live_app.tests.test_live.BrowserTests", env={"SAMPLE_DATABASE": "unshareable"}
    )

    assert run.returncode == 1, run.output
    assert "ERROR: setUpClass (live_app.tests.test_live.BrowserTests)" in run.stderr, run.output
    assert (
        "NotSupportedError: Database 'default' cannot be shared between threads: its "
        "driver unshareable_sqlite3 declares DB-API threadsafety 0" in run.stderr
    ), run.output
    assert "Ran 0 tests" in run.stderr, run.output


def test_sharing_needs_the_overlay_installed():
    assert not django_overlay.is_installed()

    with pytest.raises(RuntimeError, match=r"call django_overlay\.install\(\)"):
        with django_overlay.shared_connections(databases=[]):
            pass
