"""
Time a run's setup, from the start of `manage.py test` to its first test,
with upstream Django, with the overlay migrating (as in a first run) and
with the overlay's --reuse-schema on a second run.

A project is generated in a temporary directory: django.contrib.auth and
contenttypes, and 10 apps of 15 models each (150 models, bench/flush.py's),
with foreign keys between them and real migrations made by makemigrations,
and one test, which writes the time it starts to a file. Each run is a
process of its own: upstream (the overlay not installed), the overlay
without --reuse-schema, which migrates as upstream does, then the overlay
with --reuse-schema, interleaved, after one run with --reuse-schema that
builds the template. Setup time is the first test's time less the time just
before the process was started, so both include Python's and Django's start.

Two lines per backend: the medians over the runs, and the ratios to upstream:

    postgresql runs=5 setup: upstream=...s reuse-schema=...s ratio=...
        migrating: overlay=...s ratio=...

Databases are named reuse_schema_<pid>; the test database and the template
are dropped at the end (--drop-schema-templates), the cache directory is
temporary.

    python bench/reuse_schema.py [--backends sqlite postgresql mariadb] [--runs 5]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flush import APPS, BACKENDS, database_settings, generate_project  # noqa: E402

SETTINGS = """
import json
import os

SECRET_KEY = "bench"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes",
                  *(f"app{{app}}" for app in range({apps}))]
DATABASES = {{"default": json.loads(os.environ["BENCH_DATABASE"])}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
"""

MANAGE = """
import os
import sys

if os.environ.get("BENCH_UPSTREAM") != "1":
    import django_overlay

    django_overlay.install()
from django.core.management import execute_from_command_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
execute_from_command_line(sys.argv)
"""

TESTS = """
import os
import time

from django.test import TestCase


class FirstTest(TestCase):
    def test_first(self):
        with open(os.environ["BENCH_MARK"], "w") as file:
            file.write(repr(time.time()))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="reuse-schema-bench-"))
    try:
        generate(root)
        for backend in options.backends:
            run_backend(root, backend, options.runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def generate(root):
    generate_project(root)
    (root / "settings.py").write_text(SETTINGS.format(apps=APPS))
    (root / "manage.py").write_text(MANAGE)
    (root / "app0" / "tests.py").write_text(TESTS)
    environment = {
        **os.environ,
        "BENCH_UPSTREAM": "1",
        "BENCH_DATABASE": json.dumps(database_settings("sqlite")),
    }
    subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "-v", "0"],
        cwd=root,
        env=environment,
        check=True,
    )


def run_backend(root, backend, runs):
    settings = database_settings(backend)
    settings["NAME"] = f"reuse_schema_{os.getpid()}"
    settings.get("TEST", {}).pop("NAME", None)
    cache = root / "cache"
    environment = {
        **os.environ,
        "BENCH_DATABASE": json.dumps(settings),
        "BENCH_MARK": str(root / "mark"),
        "DJANGO_OVERLAY_CACHE": str(cache),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    environment.pop("DJANGO_TEST_REUSE_SCHEMA", None)
    try:
        if setup_time(root, environment, "--reuse-schema") is None:
            return
        times = {"upstream": [], "overlay": [], "reuse-schema": []}
        for _run in range(runs):
            times["upstream"].append(setup_time(root, {**environment, "BENCH_UPSTREAM": "1"}))
            times["overlay"].append(setup_time(root, environment))
            times["reuse-schema"].append(setup_time(root, environment, "--reuse-schema"))
    finally:
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "test",
                "--noinput",
                "-v",
                "0",
                "--drop-schema-templates",
            ],
            cwd=root,
            env=environment,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(cache, ignore_errors=True)
    upstream, overlay, reuse = (
        statistics.median(times[kind]) for kind in ("upstream", "overlay", "reuse-schema")
    )
    print(
        f"{backend} runs={runs} setup: upstream={upstream:.2f}s reuse-schema={reuse:.2f}s "
        f"ratio={reuse / upstream:.3f}\n"
        f"    migrating: overlay={overlay:.2f}s ratio={overlay / upstream:.3f}",
        flush=True,
    )


def setup_time(root, environment, *arguments):
    """Seconds from just before manage.py test starts to its first test; None if it failed."""
    mark = root / "mark"
    mark.unlink(missing_ok=True)
    started = time.time()
    process = subprocess.run(
        [sys.executable, "manage.py", "test", "--noinput", "-v", "0", *arguments],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if process.returncode != 0 or not mark.exists():
        print(f"manage.py test {' '.join(arguments)} failed:\n{process.stderr}", flush=True)
        return None
    return float(mark.read_text()) - started


if __name__ == "__main__":
    main()
