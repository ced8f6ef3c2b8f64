"""
Fixtures for running the sample project's ``manage.py test`` as a subprocess
and for checking what a run leaves behind.

Every run gets a working directory, a TMPDIR and a results directory of its
own, all empty, so that a file the run leaves anywhere it may write shows up.
``--sample-without-overlay`` runs every sample project with upstream Django,
to see which tests fail without the overlay.
"""

import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SAMPLE_PROJECT = Path(__file__).resolve().parent / "sample_project"
MANAGE_PY = SAMPLE_PROJECT / "manage.py"
# A run takes a few seconds; one that takes this long is hanging.
RUN_TIMEOUT = 120
# Variables that would change what a sample run does, however the outer
# environment set them.
INHERITED_VARIABLES_TO_DROP = (
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_TEST_PROCESSES",
    "DJANGO_TEST_START_METHOD",
)

# Windows has no sessions or process groups to signal: the run goes in a
# console process group of its own (for Ctrl-Break), and its process tree is
# killed by taskkill.
WINDOWS = sys.platform == "win32"
OWN_GROUP = (
    {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    if WINDOWS
    else {"start_new_session": True}
)

# pytest must not import the sample project's Django tests.
collect_ignore = ["sample_project", "pytest_project"]
# Parameters of a test (its database, server, backend or cache) that need a
# service outside Python and SQLite.
EXTERNAL_SERVICES = frozenset(
    {"postgresql", "mariadb", "redis", "django-redis", "pymemcache", "pylibmc"}
)


def pytest_collection_modifyitems(items):
    """
    Mark `external` the tests that need a database server, Redis or
    memcached, as their parameters say (modules that need more mark
    themselves), and skip those of a start method this platform lacks.
    """
    available = multiprocessing.get_all_start_methods()
    for item in items:
        parameters = item.callspec.params if hasattr(item, "callspec") else {}
        values = {value for value in parameters.values() if isinstance(value, str)}
        if values & EXTERNAL_SERVICES:
            item.add_marker(pytest.mark.external)
        start_method = parameters.get("start_method")
        if start_method and start_method not in available:
            item.add_marker(
                pytest.mark.skip(reason=f"no {start_method} start method on this platform")
            )


def pytest_addoption(parser):
    parser.addoption(
        "--sample-without-overlay",
        action="store_true",
        help="run the sample project with upstream Django (SAMPLE_WITHOUT_OVERLAY=1)",
    )


@dataclass(repr=False)
class SampleRun:
    returncode: int
    stdout: str
    stderr: str
    workers: dict
    """pid -> start method, for each process that ran a sample test."""
    leftovers: list
    """Files the run left in its working directory or its TMPDIR."""
    memory: dict = field(default_factory=dict)
    """name -> pids, one per run of the sample test that remembers its runs by that name."""

    def __repr__(self):
        # Short, for pytest's assertion messages; the output goes in `output`.
        return f"<sample run: exit {self.returncode}, workers {sorted(self.workers)}>"

    @property
    def output(self):
        return f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def assert_succeeded(self):
        if self.returncode != 0:
            pytest.fail(f"manage.py test exited {self.returncode}\n{self.output}", pytrace=False)

    def assert_ran_on_two_workers(self, start_method):
        """Passed, on two worker processes started by start_method, leaving nothing."""
        self.assert_succeeded()
        assert len(self.workers) == 2, f"tests ran in {sorted(self.workers)}\n{self.output}"
        assert set(self.workers.values()) == {start_method}
        assert self.leftovers == []


class SampleProject:
    """Runs ``manage.py test`` of the sample project on one database."""

    def __init__(self, root, database, with_overlay, python=(sys.executable,)):
        self.root = root
        self.database = database
        self.with_overlay = with_overlay
        # The command that runs manage.py: this Python, or another one, such
        # as tests/windows/python (Windows' CPython under Wine).
        self.python = list(python)

    def run(
        self,
        *arguments,
        start_method=None,
        env=None,
        timeout=RUN_TIMEOUT,
        interrupt=None,
        tmpdir_name=None,
        noinput=True,
    ):
        """
        Run ``manage.py test *arguments`` and return a SampleRun. start_method
        goes to --start-method, or, without the overlay (which upstream lacks),
        to manage.py's own SAMPLE_START_METHOD. interrupt is an Interrupt to
        send once a sample test has recorded that it is running. tmpdir_name
        makes the run's TMPDIR a directory of that name in its own (a long
        one, say). noinput=False leaves out --noinput, which runs pass so
        that a test database left by an earlier run is replaced without a
        question (standard input is not a terminal).
        """
        arguments = [*arguments, *(["--noinput"] if noinput else [])]
        environment = self.base_environment()
        if start_method and self.with_overlay:
            arguments += ["--start-method", start_method]
        elif start_method:
            environment["SAMPLE_START_METHOD"] = start_method
        environment.update(env or {})
        directories = {
            name: Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))
            for name in ("cwd", "tmp", "results")
        }
        tmpdir = directories["tmp"]
        if tmpdir_name:
            tmpdir = tmpdir / tmpdir_name
            tmpdir.mkdir()
        environment["TMPDIR"] = str(tmpdir)
        environment["SAMPLE_RESULTS_DIR"] = str(directories["results"])
        # Durations recorded by one run would reorder the next one's classes,
        # which the sample tests that pair classes across workers rely on.
        environment["DJANGO_OVERLAY_CACHE"] = str(directories["results"] / "overlay-cache")
        try:
            process = run_bounded(
                [*self.python, str(MANAGE_PY), "test", *arguments],
                cwd=directories["cwd"],
                env=environment,
                timeout=timeout,
                interrupt=interrupt and interrupt.when(directories["results"]),
            )
            return SampleRun(
                returncode=process.returncode,
                stdout=process.stdout,
                stderr=process.stderr,
                workers=recorded_workers(directories["results"]),
                memory=remembered_runs(directories["results"]),
                leftovers=files_under(directories["cwd"], tmpdir),
            )
        finally:
            for directory in directories.values():
                shutil.rmtree(directory, ignore_errors=True)

    def base_environment(self):
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in INHERITED_VARIABLES_TO_DROP and not name.startswith("SAMPLE_")
        }
        # Keep __pycache__ out of the sample project's source tree.
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        environment.update(self.database.env)
        if not self.with_overlay:
            environment["SAMPLE_WITHOUT_OVERLAY"] = "1"
        return environment


@dataclass
class Interrupt:
    """
    A signal for a run, sent when a sample test leaves the file `marker` in
    the results directory: to the whole process group as a terminal's Ctrl-C
    is, or to the main process only, as a job scheduler's SIGTERM often is.
    """

    signal: int
    marker: str
    to_group: bool
    marker_path: Path | None = None

    def when(self, results):
        return Interrupt(self.signal, self.marker, self.to_group, results / self.marker)

    def send(self, process):
        if not self.to_group:
            process.send_signal(self.signal)
        elif WINDOWS:
            # The one console event Windows delivers to a process group.
            os.kill(process.pid, signal.CTRL_BREAK_EVENT)
        else:
            os.killpg(process.pid, self.signal)


def kill_process_tree(process):
    if WINDOWS:
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, check=False
        )
        return
    # Each worker leads a session and process group of its own, with what its
    # tests started.
    for pid in descendants(process.pid):
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)
    os.killpg(process.pid, signal.SIGKILL)


def descendants(pid):
    """The pids of a process's descendants, as ps lists them (Linux and macOS)."""
    table = subprocess.run(
        ["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, check=True
    ).stdout
    children = {}
    for line in table.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, parents = [], [pid]
    while parents:
        below = children.get(parents.pop(), [])
        found += below
        parents += below
    return found


def run_bounded(command, cwd, env, timeout, interrupt=None):
    """
    subprocess.run() with a timeout that also ends the run's worker
    processes: the command runs in a session (process group, on Windows) of
    its own, and all of it is killed if it outlives the timeout.
    """
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **OWN_GROUP,
    ) as process:
        if interrupt:
            wait_for_file(interrupt.marker_path, process, timeout)
            interrupt.send(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_process_tree(process)
            stdout, stderr = process.communicate()
            pytest.fail(
                f"{' '.join(map(str, command))} did not finish within {timeout} s\n"
                f"--- stdout\n{stdout}\n--- stderr\n{stderr}"
            )
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def wait_for_file(path, process, timeout):
    give_up = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None or time.monotonic() > give_up:
            return
        time.sleep(0.05)


def recorded_workers(results):
    """What the sample tests recorded: pid -> start method (see sample_app.tests.recording)."""
    return {
        int(path.name.removeprefix("worker-")): path.read_text()
        for path in results.glob("worker-*")
    }


def remembered_runs(results):
    """What sample tests that remember their runs left (sample_app/tests/test_robustness.py's run_number)."""
    return {
        path.name.removeprefix("runs-"): [int(pid) for pid in path.read_text().split()]
        for path in results.glob("runs-*")
    }


def files_under(*directories):
    return sorted(str(path) for directory in directories for path in directory.rglob("*"))


# Databases. Each knows the settings environment for the sample project and
# what of its own a run may have left behind.


class SQLiteInMemory:
    def __init__(self, kind):
        # sqlite-memory, or uncloneable: the same through a backend that
        # cannot clone.
        self.env = {"SAMPLE_DATABASE": kind}

    def leftovers(self):
        # Files in the run's working directory and TMPDIR are SampleRun's.
        return []


class SQLiteFile:
    def __init__(self, directory):
        self.directory = directory
        self.directory.mkdir()
        self.env = {
            "SAMPLE_DATABASE": "sqlite-file",
            "SAMPLE_DATABASE_NAME": str(directory / "sample.sqlite3"),
        }

    def leftovers(self):
        return files_under(self.directory)


class DatabaseServer:
    """A local server that CI guarantees: if it is down, tests fail, not skip."""

    kind = title = variable_prefix = default_port = default_user = ""

    def __init__(self):
        # The same variables as tests/settings/ and the sample project read.
        prefix = self.variable_prefix
        self.host = os.environ.get(f"{prefix}_HOST", "127.0.0.1")
        self.port = os.environ.get(f"{prefix}_PORT", self.default_port)
        self.user = os.environ.get(f"{prefix}_USER", self.default_user)
        # Unique per pytest process, so that concurrent runs do not clash.
        self.name = f"overlay_sample_{os.getpid()}"
        self.env = {"SAMPLE_DATABASE": self.kind, "SAMPLE_DATABASE_NAME": self.name}
        if problem := self.unreachable():
            pytest.fail(
                f"{self.title} at {self.host}:{self.port} (user {self.user}) is not "
                f"reachable: {problem}\nCI provides it; start it here, or point "
                f"{prefix}_HOST, _PORT and _USER at one.",
                pytrace=False,
            )

    def unreachable(self):
        """Why the server cannot be used, or None if it can."""
        try:
            self.connect().close()
        except ImportError:
            raise
        except Exception as error:
            return str(error)
        return None

    def leftovers(self):
        """The sample project's test databases still on the server."""
        test_database = f"test_{self.name}"
        return [
            name
            for name in self.database_names()
            if name == test_database or name.startswith(f"{test_database}_")
        ]


class PostgreSQL(DatabaseServer):
    kind = "postgresql"
    title = "PostgreSQL"
    variable_prefix = "DJANGO_OVERLAY_PG"
    default_port, default_user = "5432", "postgres"

    def connect(self):
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", connect_timeout=5
        )

    def database_names(self):
        with self.connect() as connection:
            rows = connection.execute("SELECT datname FROM pg_database").fetchall()
        return [name for (name,) in rows]


class MariaDB(DatabaseServer):
    kind = "mariadb"
    title = "MariaDB"
    variable_prefix = "DJANGO_OVERLAY_MARIADB"
    default_port, default_user = "3306", "root"

    def connect(self):
        import MySQLdb

        return MySQLdb.connect(
            host=self.host, port=int(self.port), user=self.user, connect_timeout=5
        )

    def database_names(self):
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute("SHOW DATABASES")
            return [name for (name,) in cursor.fetchall()]
        finally:
            connection.close()


@pytest.fixture
def database(request, tmp_path):
    """
    The database a sample run uses, chosen by indirect parametrization:
    sqlite-memory (the default), uncloneable, sqlite-file, postgresql or
    mariadb.
    """
    kind = getattr(request, "param", "sqlite-memory")
    if kind in {"sqlite-memory", "uncloneable"}:
        return SQLiteInMemory(kind)
    if kind == "sqlite-file":
        return SQLiteFile(tmp_path / "database")
    if kind == "postgresql":
        return PostgreSQL()
    if kind == "mariadb":
        return MariaDB()
    raise ValueError(f"unknown database {kind!r}")


@pytest.fixture
def sample(request, tmp_path, database):
    """The sample project on the `database` fixture's database."""
    with_overlay = not request.config.getoption("--sample-without-overlay")
    return SampleProject(tmp_path, database, with_overlay)


@pytest.fixture
def upstream_sample(tmp_path, database):
    """The sample project with upstream Django, whatever the command line says."""
    return SampleProject(tmp_path, database, with_overlay=False)
