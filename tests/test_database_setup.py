"""
Database setup that cannot finish, and test databases that are gone at
teardown (django_overlay/runner/failed_setup.py, databases.py): a server that
cannot be reached, Ctrl-C or SIGTERM during migrate, a test database left by
an interrupted run, and a test that drops its worker's database.

Run with --sample-without-overlay to see upstream's behaviour fail them: 200
lines of tracebacks, a first Ctrl-C ignored (the run outlives its time limit
here), EOFError at the question, a traceback after the summary.
"""

import os
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import MANAGE_PY, RUN_TIMEOUT, WINDOWS, Interrupt, MariaDB, PostgreSQL, SampleProject

ROBUSTNESS = "sample_app.tests.test_robustness"
# Migrate pauses for a minute once it has migrated (sample_app/apps.py): a
# run that does not stop at once outlives this.
INTERRUPTED_RUN_TIMEOUT = 40


def run_passing(sample, *arguments, **kwargs):
    """A parallel run of the sample's passing classes, which use the database."""
    return sample.run(
        ROBUSTNESS,
        "--parallel",
        "2",
        *arguments,
        start_method="spawn",
        env={"SAMPLE_ROBUSTNESS": "", **kwargs.pop("env", {})},
        **kwargs,
    )


class Unreachable:
    """The sample's settings for a server, pointed at a port nobody listens on."""

    def __init__(self, server):
        self.kind = server.kind
        self.env = {
            "SAMPLE_DATABASE": server.kind,
            "SAMPLE_DATABASE_NAME": server.name,
            f"{server.variable_prefix}_PORT": "1",
        }


@pytest.mark.external
@pytest.mark.parametrize("verbosity", ["1", "2"])
@pytest.mark.parametrize("server_class", [PostgreSQL, MariaDB], ids=["postgresql", "mariadb"])
def test_unreachable_server_is_one_line(request, tmp_path, server_class, verbosity):
    server = server_class()
    with_overlay = not request.config.getoption("--sample-without-overlay")
    sample = SampleProject(tmp_path, Unreachable(server), with_overlay)

    run = run_passing(sample, "-v", verbosity)

    assert run.returncode == 1, run.output
    last = run.stderr.splitlines()[-1]
    assert re.fullmatch(
        rf"Cannot connect to the database server of alias 'default' \({server.kind.replace('mariadb', 'mysql')}, "
        rf"host {re.escape(server.host)}, port 1\): .+",
        last,
    ), run.output
    assert "refused" in last or "(111)" in last or "(115)" in last, run.output
    if verbosity == "1":
        assert "Traceback" not in run.stderr, run.output
        assert "RuntimeWarning" not in run.stderr, run.output
        assert len(run.stderr.splitlines()) <= 3, run.output
    else:
        assert "Traceback" in run.stderr, run.output
    assert server.leftovers() == []


@pytest.mark.parametrize(
    "interrupt",
    [
        pytest.param(Interrupt(signal.SIGINT, "setting-up", to_group=True), id="ctrl-c"),
        pytest.param(Interrupt(signal.SIGTERM, "setting-up", to_group=False), id="sigterm"),
    ],
)
@pytest.mark.parametrize("database", ["sqlite-file", "postgresql"], indirect=True)
def test_interrupted_setup_stops_and_drops_what_it_made(sample, database, interrupt):
    run = run_passing(
        sample,
        env={"SAMPLE_SETUP_PAUSE": "60"},
        interrupt=interrupt,
        timeout=INTERRUPTED_RUN_TIMEOUT,
    )

    assert run.returncode == 1, run.output
    name = "Ctrl-C" if interrupt.signal == signal.SIGINT else "SIGTERM"
    assert re.search(
        rf"^Database setup was interrupted \({name}\): dropped '[^']*test_[^']*'\.$",
        run.stderr,
        re.M,
    ), run.output
    assert "Traceback" not in run.stderr, run.output
    assert run.leftovers == []
    assert database.leftovers() == []


class WhenCloning:
    """
    Ctrl-C once a clone of the test database is being made: while migrate
    pauses, a transaction of this process locks the test database (COMMENT
    ON DATABASE), so a clone (its connection to the test database, or its
    CREATE DATABASE ... TEMPLATE) waits for it; the signal goes once one
    waits, the lock goes just after. POSIX only, as the lock is PostgreSQL's
    and the signal a process group's.
    """

    def __init__(self, database):
        self.database = database
        self.locker = None
        self.migrated = None

    def when(self, results):
        self.migrated = results / "setting-up"
        self.marker_path = self
        return self

    def exists(self):
        """Polled by the harness until it says the run is cloning."""
        if self.locker is None:
            if not self.migrated.exists():
                return False
            self.locker = self.database.connect()
            self.locker.execute(f'COMMENT ON DATABASE "test_{self.database.name}" IS NULL')
        # A clone's CREATE DATABASE, or its connection to the test database
        # (for the server's version), waits for the lock.
        waiting = self.locker.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND objid = "
            "(SELECT oid FROM pg_database WHERE datname = %s)",
            [f"test_{self.database.name}"],
        ).fetchone()[0]
        return waiting > 0

    def send(self, process):
        os.killpg(process.pid, signal.SIGINT)
        # Long enough for the run to see the signal before the clones go on.
        time.sleep(1)
        self.release()

    def release(self):
        if self.locker is not None:
            self.locker.close()
            self.locker = None


@pytest.mark.skipif(WINDOWS, reason="signals a process group")
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_setup_interrupted_while_cloning_drops_the_clones(sample, database):
    interrupt = WhenCloning(database)
    try:
        run = run_passing(
            sample,
            env={"SAMPLE_SETUP_PAUSE": "3"},
            interrupt=interrupt,
            timeout=INTERRUPTED_RUN_TIMEOUT,
        )
    finally:
        interrupt.release()

    assert run.returncode == 1, run.output
    assert re.search(
        r"^Database setup was interrupted \(Ctrl-C\): dropped .*'test_overlay_sample_\d+_[12]'",
        run.stderr,
        re.M,
    ), run.output
    assert "Traceback" not in run.stderr, run.output
    assert database.leftovers() == []


def leave_test_database(database):
    """A test database as an interrupted run leaves it, made by hand."""
    if isinstance(database, PostgreSQL):
        with database.connect() as connection:
            connection.autocommit = True
            connection.execute(f'CREATE DATABASE "test_{database.name}"')
    else:
        sqlite3.connect(database.directory / "test_sample.sqlite3").close()


@pytest.mark.parametrize("database", ["sqlite-file", "postgresql"], indirect=True)
def test_leftover_test_database_is_asked_about_or_replaced(sample, database):
    leave_test_database(database)
    try:
        asked = run_passing(sample, noinput=False)

        assert asked.returncode == 1, asked.output
        assert re.search(
            r"^The test database '[^']*test_[^']*' of alias 'default' exists already "
            r".*Pass --noinput to replace it without asking\.$",
            asked.stderr,
            re.M,
        ), asked.output
        assert "Traceback" not in asked.stderr, asked.output
        # Not this run's to drop: nobody said yes.
        assert len(database.leftovers()) == 1

        replaced = run_passing(sample)

        replaced.assert_succeeded()
        assert "Destroying old test database for alias 'default'" in replaced.stderr
    finally:
        leftovers = database.leftovers()
        if isinstance(database, PostgreSQL):
            # Ours to drop, made above, should a run have left it.
            with database.connect() as connection:
                connection.autocommit = True
                connection.execute(f'DROP DATABASE IF EXISTS "test_{database.name}"')
    assert leftovers == []


@pytest.mark.parametrize("database", ["sqlite-file", "postgresql"], indirect=True)
def test_leftover_test_database_is_asked_about_on_a_terminal(sample, database, tmp_path):
    """Standard input a terminal, "yes" typed ahead: asked, as upstream asks, and replaced."""
    pty = pytest.importorskip("pty")
    leave_test_database(database)
    environment = {
        **sample.base_environment(),
        "SAMPLE_ROBUSTNESS": "",
        "SAMPLE_RESULTS_DIR": str(tmp_path),
        "DJANGO_OVERLAY_CACHE": str(tmp_path / "overlay-cache"),
    }
    terminal, answers = pty.openpty()
    try:
        os.write(terminal, b"yes\n")
        run = subprocess.run(
            [
                sample.python[0],
                str(MANAGE_PY),
                "test",
                ROBUSTNESS,
                "--parallel",
                "2",
                "--start-method",
                "spawn",
            ],
            cwd=tmp_path,
            env=environment,
            stdin=answers,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    finally:
        os.close(answers)
        os.close(terminal)
        leftovers = database.leftovers()
        if isinstance(database, PostgreSQL):
            with database.connect() as connection:
                connection.autocommit = True
                connection.execute(f'DROP DATABASE IF EXISTS "test_{database.name}"')

    output = f"--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    assert run.returncode == 0, output
    assert "Type 'yes' if you would like to try deleting the test database" in run.stdout, output
    assert "Destroying old test database for alias 'default'" in run.stderr, output
    assert leftovers == []


@pytest.mark.parametrize("database", ["sqlite-file", "postgresql"], indirect=True)
def test_database_gone_at_teardown_is_a_warning(sample, database):
    # One class a worker: nothing runs after the test that drops its database.
    run = sample.run(
        f"{ROBUSTNESS}.DropOwnDatabaseTests",
        f"{ROBUSTNESS}.PassingTestsA",
        "--parallel",
        "2",
        start_method="spawn",
        env={"SAMPLE_ROBUSTNESS": "drop-own-database"},
    )

    run.assert_succeeded()
    assert re.search(
        r"TestDatabaseGone: The test database '[^']*test_[^']*_[12][^']*' of alias "
        r"'default' was gone before teardown: did a test drop it\?",
        run.stderr,
    ), run.output
    assert "Traceback" not in run.stderr, run.output
    assert run.leftovers == []
    assert database.leftovers() == []
