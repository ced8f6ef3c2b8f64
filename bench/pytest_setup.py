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

Test databases are named pytest_setup_bench_<pid> (test_..._gw<N>) and
dropped by the sessions; SQLite's live in the temporary directory.

    python bench/pytest_setup.py [--backends sqlite postgresql mariadb]
                                 [--workers 2 4] [--runs 5]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import model_apps

BACKENDS = ("sqlite", "postgresql", "mariadb")
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--workers", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pytest-setup-bench-"))
    try:
        generate_project(root)
        for backend in options.backends:
            for workers in options.workers:
                benchmark(root, backend, workers, options.runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def generate_project(root):
    model_apps.write_apps(root, APPS, MODELS_PER_APP)
    (root / "bench_settings.py").write_text(SETTINGS % {"apps": APPS})
    (root / "tests").mkdir()
    (root / "tests" / "test_database.py").write_text(TEST_MODULE % {"tests": TESTS})
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
    }


def one_run(root, backend, workers, plugin):
    """The setup and session times of one pytest run, in seconds."""
    for mark in root.glob("first-*"):
        mark.unlink()
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", str(workers)]
    if plugin:
        command.append("--django-overlay")
    started = time.time()
    process = subprocess.run(
        command, cwd=root, env=environment(root, backend), capture_output=True, text=True
    )
    ended = time.time()
    if process.returncode != 0:
        raise SystemExit(
            f"{backend} -n {workers} plugin={plugin}:\n{process.stdout}{process.stderr}"
        )
    firsts = [float(mark.read_text()) for mark in root.glob("first-*")]
    if len(firsts) != workers:
        raise SystemExit(f"{backend} -n {workers}: {len(firsts)} of {workers} workers ran a test")
    return max(firsts) - started, ended - started


def benchmark(root, backend, workers, runs):
    times = {False: [], True: []}
    for run in range(runs):
        for plugin in (False, True) if run % 2 == 0 else (True, False):
            times[plugin].append(one_run(root, backend, workers, plugin))
    medians = {
        plugin: [statistics.median(measured[part] for measured in times[plugin]) for part in (0, 1)]
        for plugin in times
    }
    upstream, plugin = medians[False], medians[True]
    print(
        f"{backend} -n {workers} runs={runs} setup: upstream={upstream[0]:.2f}s "
        f"plugin={plugin[0]:.2f}s ratio={plugin[0] / upstream[0]:.2f}\n"
        f"    session: upstream={upstream[1]:.2f}s plugin={plugin[1]:.2f}s "
        f"ratio={plugin[1] / upstream[1]:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
