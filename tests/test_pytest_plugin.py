"""
The pytest plugin, on the sample pytest project (tests/pytest_project) run
by pytest-xdist with two workers in a subprocess, on SQLite, PostgreSQL and
MariaDB: one migrate, each worker on its clone under pytest-django's name,
each worker in a cache namespace of its own, live_server tests on the test's
transaction, transactional tests' flushes emptying only the tables with rows,
and nothing left behind.

Without --django-overlay the same run fails its cache tests and the live
server tests that look inside the test's transaction, and migrates once per
worker, and its flushes empty every table (test_without_the_plugin_*), which
shows that these tests can fail.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db_fixtures import server_settings

# pytest-django and pytest-xdist are in the test-external extra, and the
# plugin's migrate lock is flock(): POSIX only so far.
pytestmark = pytest.mark.external

PROJECT = Path(__file__).resolve().parent / "pytest_project"
# A run takes a few seconds; one that takes this long is hanging.
RUN_TIMEOUT = 180
CACHE_TESTS = {
    "tests/test_caches.py::test_no_worker_sees_another_workers_entries",
    "tests/test_caches.py::test_a_workers_clear_leaves_the_others_entries",
}
# SQLite's default test database: one per process, under this name in each.
IN_MEMORY = "file:memorydb_default?mode=memory&cache=shared"
LIVE_SERVER_TRANSACTION_TESTS = {
    "tests/test_live_server.py::test_the_server_sees_the_tests_rows_in_its_transaction",
    "tests/test_live_server.py::test_the_server_sees_rows_inside_the_tests_atomic_block",
}


class Run:
    """One pytest run of the sample project, in directories of its own."""

    def __init__(self, root, database):
        self.root = root
        self.database = database
        self.records = root / "records"
        self.tmp = root / "tmp"
        self.sqlite = root / "sqlite"
        for directory in (self.records, self.tmp, self.sqlite):
            directory.mkdir()
        self.cache = root / "cache"
        self.name = f"pytest_plugin_{os.getpid()}_{database}"
        if database.startswith("sqlite"):
            self.name = str(self.sqlite / self.name)

    def __call__(self, *arguments, **variables):
        self.completed = subprocess.run(
            self.command(arguments),
            cwd=PROJECT,
            env=self.environment(variables),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        return self

    def interrupted(self, *arguments):
        """A run interrupted (Ctrl-C) in a test, once every worker has its database."""
        process = subprocess.Popen(
            self.command(arguments),
            cwd=PROJECT,
            env=self.environment({"PYTEST_SAMPLE_WAIT": "1"}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group, which Ctrl-C in a terminal reaches whole.
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while not list(self.records.glob("waiting-*")):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the run ended or hung before its test:\n{process.stdout.read()}")
                time.sleep(0.1)
            os.killpg(process.pid, signal.SIGINT)
            stdout, _ = process.communicate(timeout=RUN_TIMEOUT)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.completed = subprocess.CompletedProcess(process.args, process.returncode, stdout, "")
        return self

    def environment(self, variables):
        # The workers meet through these files: a run starts with none.
        for path in self.records.iterdir():
            path.unlink()
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTEST_", "DJANGO_SETTINGS_MODULE"))
        }
        environment.update(
            PYTHONDONTWRITEBYTECODE="1",
            TMPDIR=str(self.tmp),
            PYTEST_SAMPLE_DATABASE=self.database,
            PYTEST_SAMPLE_DATABASE_NAME=self.name,
            PYTEST_SAMPLE_CACHE=str(self.cache),
            PYTEST_SAMPLE_RECORDS=str(self.records),
            **variables,
        )
        return environment

    def command(self, arguments):
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-v"]
        return [*command, "--basetemp", str(self.root / "basetemp"), *arguments]

    @property
    def output(self):
        return self.completed.stdout + self.completed.stderr

    def failed_tests(self):
        return {
            line.split()[1]
            for line in self.completed.stdout.splitlines()
            if line.startswith("FAILED ")
        }

    def migrates(self):
        """The alias of each migrate."""
        return [line.split()[0] for line in self._lines("migrate")]

    def migrating_processes(self):
        """The process that ran each migrate: an xdist worker's id, or "controller"."""
        return [line.split()[1] for line in self._lines("migrate")]

    def template_clones(self):
        """The workers' databases the controller copied a schema template into."""
        return self._lines("template-clones")

    def test_databases_made(self):
        """The test databases made, migrated or copied from a schema template, by any process."""
        return self._lines("test-databases")

    def _lines(self, record):
        path = self.records / record
        return path.read_text().splitlines() if path.exists() else []

    def replacement_databases(self):
        """The database of each worker that replaced a crashed one, by worker."""
        return self._by_worker("replacement-")

    def worker_databases(self):
        return self._by_worker("database-")

    def database_identities(self):
        """What identifies each worker's database on a server, by worker (see the conftest)."""
        return self._by_worker("identity-")

    def overlay_loaders(self):
        """What loaded django_overlay.patches in each worker, by worker."""
        return self._by_worker("loader-")

    def _by_worker(self, prefix):
        """The records named prefix followed by a worker's id, by worker."""
        return {
            path.name.removeprefix(prefix): path.read_text()
            for path in self.records.glob(f"{prefix}*")
        }

    def rows_left(self):
        """
        What rows the live server tests' module found after its tests: one
        list each time a worker left the module.
        """
        return [
            json.loads(line)
            for path in self.records.glob("rows-left-*")
            for line in path.read_text().splitlines()
        ]

    def tables_flushed(self):
        """
        The sample project's tables that each test's flush named, by test
        (the run's PYTEST_SAMPLE_FLUSHES=1 records them).
        """
        flushed = {}
        for path in self.records.glob("flushes-*"):
            for line in path.read_text().splitlines():
                flush = json.loads(line)
                test = flush["test"].removesuffix(" (teardown)")
                tables = set(re.findall(r"rows_\w+", " ".join(flush["statements"])))
                flushed.setdefault(test, set()).update(tables)
        return flushed

    def tables_left(self):
        """The rows each table had after tests/test_flush.py, each time a worker left it."""
        return [
            json.loads(line)
            for path in self.records.glob("tables-left-*")
            for line in path.read_text().splitlines()
        ]

    def worker_database(self, worker_id):
        """The name of worker_id's test database."""
        if self.database == "sqlite-memory":
            return IN_MEMORY
        return f"{self.test_database()}_{worker_id}"

    def test_database(self):
        if self.database == "sqlite":
            return str(self.sqlite / f"test_{Path(self.name).name}")
        return f"test_{self.name}"

    def databases_left(self):
        if self.database.startswith("sqlite"):
            return sorted(path.name for path in self.sqlite.iterdir())
        pattern = f"%{self.name}%"
        if self.database == "postgresql":
            rows = self._on_server("SELECT datname FROM pg_database WHERE datname LIKE %s", pattern)
        else:
            rows = self._on_server("SHOW DATABASES LIKE %s", pattern)
        return sorted(row[0] for row in rows)

    def spare_copies(self):
        """{name: what identifies it} of the spare copies of the sample's schema templates."""
        pattern = f"%{self.name}%\\_spare%"
        if self.database == "postgresql":
            query = "SELECT datname, oid FROM pg_database WHERE datname LIKE %s"
        else:
            query = (
                "SELECT SUBSTRING_INDEX(name, '/', 1), table_id "
                "FROM information_schema.innodb_sys_tables "
                "WHERE name LIKE %s AND SUBSTRING_INDEX(name, '/', -1) = 'django_migrations'"
            )
        return {name: str(identity) for name, identity in self._on_server(query, pattern)}

    def drop_left(self):
        """
        Drop the databases of this sample's name that are left on its server:
        those of a test that failed before its own run dropped them.
        """
        if self.database.startswith("sqlite"):
            return
        for name in self.databases_left():
            if self.database == "postgresql":
                self._on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                self._on_server(f"DROP DATABASE IF EXISTS `{name}`")

    def _on_server(self, query, parameter=None):
        """Run query on the sample's server, outside any database; its rows, if any."""
        settings = server_settings(self.database)
        parameters = [] if parameter is None else [parameter]
        if self.database == "postgresql":
            import psycopg

            with psycopg.connect(
                host=settings["HOST"],
                port=settings["PORT"],
                user=settings["USER"],
                dbname="postgres",
                autocommit=True,
            ) as connection:
                cursor = connection.execute(query, parameters)
                return cursor.fetchall() if cursor.description else []
        import MySQLdb

        connection = MySQLdb.connect(
            host=settings["HOST"], port=int(settings["PORT"]), user=settings["USER"]
        )
        try:
            cursor = connection.cursor()
            cursor.execute(query, parameters or None)
            return cursor.fetchall()
        finally:
            connection.close()

    def files_left(self):
        left = [self.cache] if self.cache.exists() else []
        return sorted(str(path) for path in [*self.tmp.rglob("*"), *left, *self.cache.rglob("*")])


def project_files():
    return sorted(PROJECT.rglob("*"))


@pytest.fixture
def run(tmp_path):
    files_before = project_files()
    samples = []

    def sample(database):
        samples.append(Run(tmp_path, database))
        return samples[-1]

    yield sample
    # What a test asserts is left is checked by the test; this only keeps a
    # failed test's databases from outliving it on the shared servers.
    for each in samples:
        each.drop_left()
    assert project_files() == files_before


@pytest.mark.parametrize("database", ["sqlite", "sqlite-memory", "postgresql", "mariadb"])
def test_one_migrate_a_clone_per_worker_and_a_cache_namespace_per_worker(run, database):
    """
    In memory, SQLite's test database is one per process under one name: the
    controller writes the one it migrated to a file, which each worker loads.
    """
    sample = run(database)("-n", "2", "--django-overlay")
    assert sample.completed.returncode == 0, sample.output
    assert "16 passed, 7 skipped" in sample.output
    assert sample.migrates() == ["default"]
    # While xdist starts the workers.
    assert sample.migrating_processes() == ["controller"]
    assert sample.worker_databases() == {
        "gw0": sample.worker_database("gw0"),
        "gw1": sample.worker_database("gw1"),
    }
    assert sample.rows_left() and not any(sample.rows_left()), sample.rows_left()
    assert sample.databases_left() == []
    assert sample.files_left() == []


@pytest.mark.parametrize("database", ["sqlite", "sqlite-memory"])
def test_without_the_plugin_each_worker_migrates_and_the_workers_share_the_cache(run, database):
    """And pytest-django makes live_server tests transactional_db ones."""
    sample = run(database)("-n", "2")
    assert sample.completed.returncode == 1, sample.output
    failing = CACHE_TESTS | LIVE_SERVER_TRANSACTION_TESTS
    if database == "sqlite-memory":
        # Django's live server shares an in-memory database's connection with
        # its threads: they see what the test wrote in its atomic block.
        failing -= {
            "tests/test_live_server.py::test_the_server_sees_rows_inside_the_tests_atomic_block"
        }
    assert sample.failed_tests() == failing
    assert sample.migrates() == ["default", "default"]


FLUSH_TESTS = [
    "tests/test_flush.py",
    "tests/test_live_server.py::test_a_transactional_test_still_commits",
]
EVERY_TABLE = {"rows_row", "rows_unwritten"}


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"])
def test_a_transactional_test_flushes_only_the_tables_with_rows(run, database):
    """
    transactional_db, django_db_reset_sequences, and live_server where it
    still makes the test transactional: the overlay's flush, in the workers.
    """
    sample = run(database)("-n", "2", "--django-overlay", *FLUSH_TESTS, PYTEST_SAMPLE_FLUSHES="1")
    assert sample.completed.returncode == 0, sample.output
    assert "4 passed" in sample.output
    assert sample.tables_flushed() == {
        "tests/test_flush.py::test_a_transactional_db_test_writes_one_row": {"rows_row"},
        "tests/test_flush.py::test_a_reset_sequences_test_writes_one_row": {"rows_row"},
        "tests/test_flush.py::test_a_transactional_db_test_finds_no_rows_and_writes_none": set(),
        "tests/test_live_server.py::test_a_transactional_test_still_commits": {"rows_row"},
    }
    assert sample.tables_left() and all(
        left == dict.fromkeys(EVERY_TABLE, 0) for left in sample.tables_left()
    ), sample.tables_left()
    assert sample.databases_left() == []
    assert sample.files_left() == []


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"])
def test_without_the_plugin_a_transactional_test_flushes_every_table(run, database):
    sample = run(database)("-n", "2", *FLUSH_TESTS, PYTEST_SAMPLE_FLUSHES="1")
    assert sample.completed.returncode == 0, sample.output
    assert sample.tables_flushed() == {
        "tests/test_flush.py::test_a_transactional_db_test_writes_one_row": EVERY_TABLE,
        "tests/test_flush.py::test_a_reset_sequences_test_writes_one_row": EVERY_TABLE,
        "tests/test_flush.py::test_a_transactional_db_test_finds_no_rows_and_writes_none": (
            EVERY_TABLE
        ),
        "tests/test_live_server.py::test_a_transactional_test_still_commits": EVERY_TABLE,
    }
    assert sample.tables_left() and all(
        left == dict.fromkeys(EVERY_TABLE, 0) for left in sample.tables_left()
    ), sample.tables_left()
    assert sample.databases_left() == []


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"])
def test_live_server_in_headless_chromium_on_the_tests_transaction(run, database):
    """
    Chromium (tests/sample_project's Browser) reaches only 127.0.0.1, where
    the live server then listens.
    """
    sample = run(database)(
        "-n",
        "2",
        "--django-overlay",
        "--liveserver=127.0.0.1",
        "tests/test_live_server.py",
        PYTEST_SAMPLE_BROWSER="1",
        PYTHONPATH=str(PROJECT.parent / "sample_project"),
    )
    assert sample.completed.returncode == 0, sample.output
    assert "6 passed" in sample.output
    assert sample.rows_left() and not any(sample.rows_left()), sample.rows_left()
    assert sample.databases_left() == []
    assert sample.files_left() == []


def test_a_serial_run_migrates_its_own_test_database(run):
    sample = run("sqlite")("--django-overlay")
    assert sample.completed.returncode == 0, sample.output
    assert sample.migrates() == ["default"]
    assert sample.worker_databases() == {"master": sample.test_database()}
    assert sample.databases_left() == []


def test_isolate_cache_clears_every_cache_before_each_test(run):
    sample = run("sqlite")(
        "-n", "2", "--django-overlay", "--isolate-cache", PYTEST_SAMPLE_ISOLATE="1"
    )
    assert sample.completed.returncode == 0, sample.output
    assert "18 passed, 5 skipped" in sample.output
    assert sample.files_left() == []


def test_reuse_db_keeps_the_migrated_database_and_makes_fresh_clones(run):
    sample = run("sqlite")
    first = sample("-n", "2", "--django-overlay", "--reuse-db")
    assert first.completed.returncode == 0, first.output
    assert first.databases_left() == [Path(first.test_database()).name]
    second = sample("-n", "2", "--django-overlay", "--reuse-db")
    assert second.completed.returncode == 0, second.output
    assert second.worker_databases() == {
        "gw0": second.worker_database("gw0"),
        "gw1": second.worker_database("gw1"),
    }
    assert second.databases_left() == [Path(second.test_database()).name]
    recreated = sample("-n", "2", "--django-overlay", "--create-db")
    assert recreated.completed.returncode == 0, recreated.output
    assert recreated.databases_left() == []


@pytest.mark.parametrize("database", ["sqlite", "sqlite-memory"])
def test_reuse_schema_clones_the_kept_template_instead_of_migrating(run, database):
    sample = run(database)
    cache = {"DJANGO_OVERLAY_CACHE": str(sample.root / "overlay-cache")}
    first = sample("-n", "2", "--django-overlay", "--reuse-schema", **cache)
    assert first.completed.returncode == 0, first.output
    assert first.migrates() == ["default"]
    second = sample("-n", "2", "--django-overlay", "--reuse-schema", **cache)
    assert second.completed.returncode == 0, second.output
    assert second.migrates() == []
    assert second.worker_databases() == {
        "gw0": second.worker_database("gw0"),
        "gw1": second.worker_database("gw1"),
    }
    assert second.databases_left() == []
    assert list((sample.root / "overlay-cache").rglob("*.sqlite3"))
    dropped = sample("-n", "2", "--django-overlay", "--drop-schema-templates", **cache)
    assert dropped.completed.returncode == 0, dropped.output
    assert dropped.migrates() == ["default"]
    assert not list((sample.root / "overlay-cache").rglob("*.sqlite3"))


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"])
def test_reuse_schema_copies_the_kept_template_into_every_workers_database(run, database):
    """
    The controller copies the kept template into the workers' databases, and
    makes no test database; where such a copy fails, it copies the kept
    template into the test database, and clones that for the worker. A
    worker started in place of a crashed one makes the test database itself.
    On a server the workers' databases are the spare copies of the template
    that the run before made as it ended, renamed.
    """
    sample = run(database)
    reuse = ("-n", "2", "--django-overlay", "--reuse-schema")
    variables = {
        "DJANGO_OVERLAY_CACHE": str(sample.root / "overlay-cache"),
        "PYTEST_SAMPLE_TEMPLATE_CLONES": "record",
    }
    first = sample(*reuse, **variables)
    assert first.completed.returncode == 0, first.output
    assert first.migrates() == ["default"]
    assert first.template_clones() == []
    test_database = first.test_database()
    assert first.test_databases_made() == [test_database]
    workers = {"gw0": f"{test_database}_gw0", "gw1": f"{test_database}_gw1"}
    if database != "sqlite":
        # As it ends, the run copies the template for the next run's workers.
        spares = first.spare_copies()
        assert sorted(name.rpartition("_")[2] for name in spares) == ["spare0", "spare1"]
    second = sample(*reuse, **variables)
    assert second.completed.returncode == 0, second.output
    assert second.migrates() == []
    assert sorted(second.template_clones()) == sorted(workers.values())
    assert second.test_databases_made() == []
    assert second.worker_databases() == workers
    if database != "sqlite":
        # The workers' databases were those copies, renamed; new ones are kept.
        assert sorted(second.database_identities().values()) == sorted(spares.values())
        assert second.spare_copies().keys() == spares.keys()
        assert not set(second.spare_copies().values()) & set(spares.values())
    failed = sample(*reuse, **{**variables, "PYTEST_SAMPLE_TEMPLATE_CLONES": "fail"})
    assert failed.completed.returncode == 0, failed.output
    assert failed.migrates() == []
    assert failed.test_databases_made() == [test_database]
    assert failed.worker_databases() == workers
    # One worker: the one that replaces it runs the tests after the crash.
    crashed = sample(
        "-n", "1", "--django-overlay", "--reuse-schema", **variables, PYTEST_SAMPLE_CRASH="1"
    )
    assert crashed.completed.returncode == 1, crashed.output
    assert crashed.replacement_databases() == {"gw1": f"{test_database}_gw1"}
    assert crashed.migrates() == []
    assert crashed.test_databases_made() == [test_database]
    dropped = sample("-n", "2", "--django-overlay", "--drop-schema-templates", **variables)
    assert dropped.completed.returncode == 0, dropped.output
    assert dropped.databases_left() == []
    assert dropped.files_left() == []


@pytest.mark.parametrize("database", ["postgresql", "mariadb"])
def test_ctrl_c_while_copying_the_template_for_the_next_run(run, database):
    """
    Ctrl-C while a run copies the kept template for the next run's workers,
    after its summary: the run's result stands, without a traceback; the
    copies under way are finished and nothing else is left.
    """
    sample = run(database)
    variables = {"DJANGO_OVERLAY_CACHE": str(sample.root / "overlay-cache")}
    reuse = ("-n", "2", "--django-overlay", "--reuse-schema")
    interrupted = sample(*reuse, **variables, PYTEST_SAMPLE_TEMPLATE_CLONES="interrupt")
    assert interrupted.completed.returncode == 0, interrupted.output
    assert "interrupted while copying the schema template" in interrupted.output
    assert "Traceback" not in interrupted.output
    # The template and the copies made: those not started yet are not.
    (template, *spares) = interrupted.databases_left()
    assert "_schema_" in template
    assert set(spares) <= {f"{template}_spare0", f"{template}_spare1"}
    dropped = sample("-n", "2", "--django-overlay", "--drop-schema-templates", **variables)
    assert dropped.completed.returncode == 0, dropped.output
    assert dropped.databases_left() == []
    assert dropped.files_left() == []


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"])
def test_with_pytest_randomly_timeout_and_rerunfailures(run, database):
    """
    The sample project in random order (pytest-randomly, off by default in
    its pytest.ini), each test under pytest-timeout, and a test that fails
    once rerun by pytest-rerunfailures on a clean database.
    """
    sample = run(database)(
        "-n",
        "2",
        "--django-overlay",
        "-p",
        "randomly",
        "--timeout",
        "120",
        "--reruns",
        "1",
        PYTEST_SAMPLE_FLAKY="1",
    )
    assert sample.completed.returncode == 0, sample.output
    assert "Using --randomly-seed=" in sample.output
    assert "17 passed, 6 skipped, 1 rerun" in sample.output
    assert sample.migrates() == ["default"]
    assert sample.rows_left() and not any(sample.rows_left()), sample.rows_left()
    assert sample.databases_left() == []
    assert sample.files_left() == []


def test_pytest_leaves_the_overlays_modules_unrewritten(run):
    """
    pytest rewrites the asserts of every module of a distribution with a
    pytest11 entry point; the plugin takes the overlay's out, in every
    process, before it imports them.
    """
    sample = run("sqlite")("-n", "2", "--django-overlay")
    assert sample.completed.returncode == 0, sample.output
    assert sample.overlay_loaders() == {
        "gw0": "SourceFileLoader",
        "gw1": "SourceFileLoader",
    }


@pytest.mark.parametrize("database", ["sqlite", "sqlite-memory", "postgresql", "mariadb"])
def test_a_crashed_worker_is_replaced_with_a_fresh_clone_and_nothing_is_left(run, database):
    # One worker: the one that replaces it runs the tests after the crash.
    sample = run(database)("-n", "1", "--django-overlay", PYTEST_SAMPLE_CRASH="1")
    assert sample.completed.returncode == 1, sample.output
    assert sample.failed_tests() == {"tests/test_interruptions.py::test_the_worker_dies"}
    assert "replacing crashed worker" in sample.output
    assert sample.replacement_databases() == {"gw1": sample.worker_database("gw1")}
    assert sample.migrates() == ["default"]
    assert sample.databases_left() == []
    assert sample.files_left() == []


@pytest.mark.parametrize("database", ["sqlite", "sqlite-memory", "postgresql", "mariadb"])
def test_ctrl_c_leaves_nothing(run, database):
    sample = run(database).interrupted("-n", "2", "--django-overlay")
    assert sample.completed.returncode == 2, sample.output
    assert sample.databases_left() == [], sample.output
    assert sample.files_left() == []


def test_a_run_without_django_settings_imports_no_django(tmp_path):
    """
    The package is a pytest plugin in every pytest run where it is installed:
    in a project without Django settings, nothing of Django is imported, as
    pytest-django itself promises (its test_django_not_loaded_without_settings).
    """
    (tmp_path / "test_plain.py").write_text(
        "import sys\n\n\ndef test_django_is_not_imported():\n"
        "    assert 'django' not in sys.modules\n"
    )
    environment = {
        key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"
    }
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env={**environment, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 passed" in completed.stdout
