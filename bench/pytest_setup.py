"""
Time a pytest-django + pytest-xdist session's start with the overlay's pytest
plugin (--django-overlay) and with pytest-django alone, side by side.

A project is generated in a temporary directory: django.contrib.auth and
contenttypes, and 8 apps of 10 models each (80 models) with foreign keys
between them and real migrations made by makemigrations, and a test module
of database tests. Each run is `pytest -n N` in a subprocess; every worker's
first database test writes the time it started. The setup time of a run is
from starting pytest to the last worker's first database test: pytest-django
alone migrates a test database per worker, the plugin migrates once and
clones it per worker. The whole session's wall time is reported too.

Runs interleave the two modes (upstream first in even runs, the plugin first
in odd ones); one line per backend and worker count gives medians and the
ratio plugin / upstream:

    postgresql -n 2 runs=5 setup: upstream=...s plugin=...s ratio=...
        session: upstream=...s plugin=...s ratio=...

The first database test's time is taken inside the test, after pytest-django
has set up the worker's database; pytest's start is taken just before the
subprocess starts, so both sides pay Python's start-up and collection. The
overlay is byte-compiled first, as pip compiles an installed package (and
Django): the runs themselves write no bytecode.

--reuse-schema times the plugin's second run with --reuse-schema: an untimed
run keeps the schema's template first, and an untimed run with
--drop-schema-templates drops it at the end; pytest-django alone migrates as
in every run. --phases prints, per mode and process (the controller, gw0,
...), when each step was reached, medians in seconds from pytest's start:
the process started, the project's conftest was imported, configure,
sessionstart, collection finished, the first test's setup, django_db_setup
started and ended, with the plugin the migrate's start and end (in the
process that migrated) and the cloning's start, and the first test's call.
It also prints the floor: when pytest-django's last worker reached its
first test's setup, before any database work, as a share of pytest-django's
setup; the plugin's workers start no sooner, so its ratio cannot go below it.

Test databases are named pytest_setup_bench_<pid> (test_..._gw<N>) and
dropped by the sessions; SQLite's, and SQLite's schema templates, live in the
temporary directory. sqlite-memory is SQLite with its default test database,
in memory: one per process.

    python bench/pytest_setup.py [--backends sqlite sqlite-memory postgresql mariadb]
                                 [--workers 2 4] [--runs 5] [--reuse-schema]
                                 [--phases]
"""

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import model_apps

BACKENDS = ("sqlite", "sqlite-memory", "postgresql", "mariadb")
APPS = 8
MODELS_PER_APP = 10
# Enough for every worker to get database tests under xdist's load scheduling.
TESTS = 40

SETTINGS = """\
import os

BACKEND = os.environ["BENCH_BACKEND"]
NAME = f"pytest_setup_bench_{os.environ['BENCH_ID']}"
if BACKEND == "sqlite":
    DATABASE = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(os.environ["BENCH_ROOT"], NAME),
        # A file without an extension: pytest-django names its clones
        # <name>_gw<N>, as the backend's cloning does.
        "TEST": {"NAME": os.path.join(os.environ["BENCH_ROOT"], "test_" + NAME)},
    }
elif BACKEND == "sqlite-memory":
    # SQLite's default: the test database in memory.
    DATABASE = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(os.environ["BENCH_ROOT"], NAME),
    }
elif BACKEND == "postgresql":
    DATABASE = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("DJANGO_OVERLAY_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJANGO_OVERLAY_PG_PORT", "5432"),
        "USER": os.environ.get("DJANGO_OVERLAY_PG_USER", "postgres"),
        "NAME": NAME,
    }
else:
    DATABASE = {
        "ENGINE": "django.db.backends.mysql",
        "HOST": os.environ.get("DJANGO_OVERLAY_MARIADB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJANGO_OVERLAY_MARIADB_PORT", "3306"),
        "USER": os.environ.get("DJANGO_OVERLAY_MARIADB_USER", "root"),
        "NAME": NAME,
        "TEST": {"CHARSET": "utf8mb4"},
    }
DATABASES = {"default": DATABASE}
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    *(f"app{app}" for app in range(%(apps)d)),
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
SECRET_KEY = "bench"
"""

TEST_MODULE = """\
import os
import time
from pathlib import Path

import pytest

from app0.models import Model0


@pytest.mark.django_db
@pytest.mark.parametrize("number", range(%(tests)d))
def test_database(number, worker_id):
    mark = Path(os.environ["BENCH_ROOT"], "first-" + worker_id)
    if not mark.exists():
        mark.write_text(str(time.time()))
    Model0.objects.create(name=str(number))
    assert Model0.objects.count() == 1
"""


# With --phases: when each process reached each step, in phases-<worker>.json.
CONFTEST = """\
import json
import os
import time
from pathlib import Path

import pytest

_marks = {}
_PHASES = os.environ.get("BENCH_PHASES")


def _process_start():
    # Field 22 of /proc/self/stat: clock ticks from boot to the process's start.
    with open("/proc/self/stat") as stat:
        ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
    age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    return time.time() - age


def mark(name):
    _marks.setdefault(name, time.time())


if _PHASES:
    _marks["process"] = _process_start()
    mark("conftest")


def _write(config):
    worker = getattr(config, "workerinput", {}).get("workerid", "controller")
    Path(os.environ["BENCH_ROOT"], f"phases-{worker}.json").write_text(json.dumps(_marks))


def pytest_configure(config):
    if not _PHASES:
        return
    mark("configure")
    if config.getoption("django_overlay", None):
        from django_overlay.pytest_plugin import xdist_databases

        databases = xdist_databases.databases
        original_record = xdist_databases._record

        class Databases:
            # The module's setup_databases() wrapped, under another name:
            # the overlay finds its original by the function's identity.
            def __getattr__(self, name):
                return getattr(databases, name)

            def setup_databases(self, *args, **kwargs):
                mark("migrate_start")
                try:
                    return databases.setup_databases(*args, **kwargs)
                finally:
                    mark("migrate_end")

        def record(path, content):
            if path.name.startswith("clones-"):
                mark("clone_start")
            return original_record(path, content)

        xdist_databases.databases = Databases()
        xdist_databases._record = record


def pytest_sessionstart(session):
    if _PHASES:
        mark("sessionstart")


def pytest_collection_finish(session):
    if _PHASES:
        mark("collected")


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    if _PHASES and fixturedef.argname == "django_db_setup":
        mark("db_setup_start")
        try:
            return (yield)
        finally:
            mark("db_setup_end")
    return (yield)


def pytest_runtest_setup(item):
    if _PHASES:
        mark("first_test_setup")


def pytest_runtest_call(item):
    if _PHASES:
        mark("first_test_call")


def pytest_sessionfinish(session):
    if _PHASES:
        mark("sessionfinish")
        _write(session.config)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--workers", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--phases",
        action="store_true",
        help="also print when each process reached each step, medians from pytest's start",
    )
    parser.add_argument(
        "--reuse-schema",
        action="store_true",
        help="time the plugin's second run with --reuse-schema (an untimed run keeps the "
        "template first) against pytest-django alone",
    )
    options = parser.parse_args()
    # Django's modules were byte-compiled when pip installed them; so must
    # the overlay's be, or every process of every plugin run compiles them.
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "django_overlay", quiet=1)
    root = Path(tempfile.mkdtemp(prefix="pytest-setup-bench-"))
    try:
        generate_project(root)
        for backend in options.backends:
            for workers in options.workers:
                benchmark(
                    root, backend, workers, options.runs, options.phases, options.reuse_schema
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def generate_project(root):
    model_apps.write_apps(root, APPS, MODELS_PER_APP)
    (root / "bench_settings.py").write_text(SETTINGS % {"apps": APPS})
    (root / "tests").mkdir()
    (root / "tests" / "test_database.py").write_text(TEST_MODULE % {"tests": TESTS})
    (root / "conftest.py").write_text(CONFTEST)
    (root / "pytest.ini").write_text(
        "[pytest]\nDJANGO_SETTINGS_MODULE = bench_settings\npythonpath = .\ntestpaths = tests\n"
    )
    subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "--verbosity", "0"],
        cwd=root,
        env=environment(root, "sqlite"),
        check=True,
    )


def environment(root, backend):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "PYTHONPATH": str(root),
        "PYTHONDONTWRITEBYTECODE": "1",
        "BENCH_ROOT": str(root),
        "BENCH_BACKEND": backend,
        "BENCH_ID": str(os.getpid()),
        # SQLite's schema templates, and the fingerprints of the templates kept.
        "DJANGO_OVERLAY_CACHE": str(root / "overlay-cache"),
    }


def one_run(root, backend, workers, plugin, phases, *arguments):
    """
    The setup and session times of one pytest run, in seconds, and with
    phases, {process: {step: seconds from pytest's start}}. arguments are
    the plugin's.
    """
    for mark in [*root.glob("first-*"), *root.glob("phases-*")]:
        mark.unlink()
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", str(workers)]
    if plugin:
        command += ["--django-overlay", *arguments]
    variables = {**environment(root, backend), **({"BENCH_PHASES": "1"} if phases else {})}
    started = time.time()
    process = subprocess.run(command, cwd=root, env=variables, capture_output=True, text=True)
    ended = time.time()
    if process.returncode != 0:
        raise SystemExit(
            f"{backend} -n {workers} plugin={plugin}:\n{process.stdout[-3000:]}{process.stderr}"
        )
    firsts = [float(mark.read_text()) for mark in root.glob("first-*")]
    if len(firsts) != workers:
        raise SystemExit(f"{backend} -n {workers}: {len(firsts)} of {workers} workers ran a test")
    steps = {
        path.stem.removeprefix("phases-"): {
            step: moment - started for step, moment in json.loads(path.read_text()).items()
        }
        for path in root.glob("phases-*")
    }
    return max(firsts) - started, ended - started, steps


def benchmark(root, backend, workers, runs, phases, reuse_schema):
    arguments = ["--reuse-schema"] if reuse_schema else []
    if reuse_schema:
        one_run(root, backend, workers, True, False, *arguments)
    times = {False: [], True: []}
    try:
        for run in range(runs):
            for plugin in (False, True) if run % 2 == 0 else (True, False):
                times[plugin].append(one_run(root, backend, workers, plugin, phases, *arguments))
    finally:
        if reuse_schema:
            one_run(root, backend, workers, True, False, "--drop-schema-templates")
    medians = {
        plugin: [statistics.median(measured[part] for measured in times[plugin]) for part in (0, 1)]
        for plugin in times
    }
    upstream, plugin = medians[False], medians[True]
    print(
        f"{backend} -n {workers}{' --reuse-schema' if reuse_schema else ''} runs={runs} "
        f"setup: upstream={upstream[0]:.2f}s "
        f"plugin={plugin[0]:.2f}s ratio={plugin[0] / upstream[0]:.2f}\n"
        f"    session: upstream={upstream[1]:.2f}s plugin={plugin[1]:.2f}s "
        f"ratio={plugin[1] / upstream[1]:.2f}",
        flush=True,
    )
    if phases:
        print_floor(times[False], upstream[0])
        for plugin in times:
            print_phases("plugin" if plugin else "upstream", [run[2] for run in times[plugin]])


def print_floor(upstream_runs, upstream_setup):
    """
    When pytest-django's last worker reached its first test's setup, before
    any database work: no plugin's workers get their database sooner than
    their own start-up lets them, so no ratio goes below this one.
    """
    reached = statistics.median(
        max(steps[process]["first_test_setup"] for process in steps if process != "controller")
        for _setup, _session, steps in upstream_runs
    )
    print(
        f"    floor: pytest-django's workers reach their first test's setup at "
        f"{reached:.2f}s, {reached / upstream_setup:.2f} of its setup",
        flush=True,
    )


def print_phases(mode, runs):
    """Per process, each step's median time from pytest's start, in order."""
    for process in sorted({process for steps in runs for process in steps}):
        medians = {
            step: statistics.median(
                steps[process][step] for steps in runs if step in steps.get(process, {})
            )
            for step in {step for steps in runs for step in steps.get(process, {})}
        }
        line = " ".join(
            f"{step}={moment:.2f}" for step, moment in sorted(medians.items(), key=lambda i: i[1])
        )
        print(f"    {mode} {process}: {line}", flush=True)


if __name__ == "__main__":
    main()
