"""
Time to clone, and to drop, the test databases of parallel workers, with
upstream Django's code and with the overlay's, in the same run, on the schema
of Django's own test suite (every app of the installed release's suite, as
runtests.py installs them: about 1,800 tables per alias), for both of its
aliases, default and other.

For each backend that is up, a process of its own sets up Django's suite
(tests fetched by this repository's runtests.py), creates the two aliases'
test databases once by migrating, then, for each number of workers N and
each run, interleaving upstream and overlay:

- setup: the N clones of each alias, as setup_databases() makes them after
  the aliases' own test databases (upstream: one after the other; overlay:
  concurrently);
- teardown: dropping those 2N clones, as teardown_databases() does.

Upstream is the overlay uninstalled (django_overlay.uninstall()) in the same
process. Migrating the aliases is the same code either way and is reported
once. One line per backend and N, medians of the runs, with the ratio
overlay/upstream of setup plus teardown; then each phase alone:

    mariadb workers=4 upstream=41.2s overlay=2.9s ratio=0.07
    mariadb workers=4 setup upstream=... teardown upstream=...

SQLite's in-memory test database is cloned under spawn (one file per worker
upstream, one snapshot the overlay), and the ways to write the snapshot and
to load it into a worker are timed too.

Databases are named after DJANGO_OVERLAY_DB_NAME_PREFIX, by default
overlay_bench_<pid>, so that runs sharing a server do not clash; everything
made is dropped at the end.

    python bench/clone.py [--backends sqlite postgresql mariadb]
                          [--workers 2 4 8] [--runs 3]
"""

import argparse
import importlib.util
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql", "mariadb")
SETTINGS = {"sqlite": "test_sqlite", "postgresql": "postgresql", "mariadb": "mariadb"}
ALIASES = ("default", "other")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--workers", nargs="+", type=int, default=[2, 4, 8])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        return run_backend(options.child, options.workers, options.runs)
    environment = dict(os.environ)
    environment.setdefault("DJANGO_OVERLAY_DB_NAME_PREFIX", f"overlay_bench_{os.getpid()}")
    for backend in options.backends:
        # A process per backend: Django is set up once per process.
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                backend,
                "--runs",
                str(options.runs),
                "--workers",
                *map(str, options.workers),
            ],
            env=environment,
            check=False,
        )


def set_up_django_suite(backend):
    """Django's own suite's settings and every one of its apps, as its runtests.py does."""
    spec = importlib.util.spec_from_file_location("overlay_runtests", REPOSITORY / "runtests.py")
    overlay_runtests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(overlay_runtests)
    import django

    suite = overlay_runtests.find_suite(django.get_version())
    overlay_runtests.set_import_path(suite, SETTINGS[backend])
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS[backend]
    os.chdir(suite)
    import runtests as django_runtests  # Django's, from its tests/ directory

    django_runtests.setup_run_tests(0, None, None, None)


def server_is_up(backend):
    from django.db import connections

    try:
        # The databases NAME names need not exist: the server's own one.
        with connections["default"]._nodb_cursor():
            pass
    except Exception as error:
        print(f"{backend} skipped: {error}", flush=True)
        return False
    return True


def run_backend(backend, workers, runs):
    work_directory = tempfile.mkdtemp(prefix="overlay-bench-")
    # Django's runtests.py puts its files in TMPDIR; upstream's SQLite clones
    # under spawn go into the working directory.
    os.environ["TMPDIR"] = work_directory
    tempfile.tempdir = None
    try:
        import multiprocessing

        import django_overlay

        if backend == "sqlite":
            multiprocessing.set_start_method("spawn", force=True)
        django_overlay.install()
        set_up_django_suite(backend)
        os.chdir(work_directory)
        if backend != "sqlite" and not server_is_up(backend):
            return
        benchmark(backend, workers, runs)
    finally:
        shutil.rmtree(work_directory, ignore_errors=True)


def benchmark(backend, workers, runs):
    import django
    from django.db import connections
    from django.test.utils import NullTimeKeeper

    from django_overlay import patches
    from django_overlay.backends import sqlite3 as overlay_sqlite
    from django_overlay.runner import databases

    sources = [connections[alias] for alias in ALIASES]
    old_names = [connection.settings_dict["NAME"] for connection in sources]
    started = time.perf_counter()
    for connection in sources:
        options = {"serialize": False} if django.VERSION[:2] == (5, 2) else {}
        connection.creation.create_test_db(verbosity=0, autoclobber=True, **options)
    tables = table_count(sources[0])
    print(
        f"{backend} migrate aliases={len(sources)} tables_per_alias={tables} "
        f"time={time.perf_counter() - started:.1f}s (the same code with and without the overlay)",
        flush=True,
    )
    try:
        if backend == "sqlite":
            snapshot_methods(sources[0])

        def upstream_setup(n):
            patches.uninstall()
            for connection in sources:
                for index in range(n):
                    connection.creation.clone_test_db(suffix=str(index + 1), verbosity=0)

        def upstream_teardown(n):
            for connection in sources:
                for index in range(n):
                    connection.creation.destroy_test_db(suffix=str(index + 1), verbosity=0)

        def overlay_setup(n):
            patches.install()
            databases.clone_test_databases(sources, n, 0, False, NullTimeKeeper())

        def overlay_teardown(n):
            drops = [
                drop
                for connection in sources
                for drop in databases.clone_drops(connection, n, verbosity=0, keepdb=False)
            ]
            databases.drop_databases(drops, n)
            if backend == "sqlite":
                # The snapshot goes with the alias's test database, which the
                # bench keeps: discard it, so that every run writes its own.
                for connection in sources:
                    overlay_sqlite._discard_snapshot(connection.alias)

        modes = {
            "upstream": (upstream_setup, upstream_teardown),
            "overlay": (overlay_setup, overlay_teardown),
        }
        for n in workers:
            times = {(mode, phase): [] for mode in modes for phase in ("setup", "teardown")}
            for run in range(runs):
                order = list(modes) if run % 2 == 0 else list(reversed(modes))
                for mode in order:
                    setup, teardown = modes[mode]
                    for phase, function in (("setup", setup), ("teardown", teardown)):
                        started = time.perf_counter()
                        function(n)
                        times[(mode, phase)].append(time.perf_counter() - started)
            report(backend, n, runs, times)
    finally:
        patches.install()
        for connection, old_name in zip(sources, old_names, strict=True):
            connection.creation.destroy_test_db(old_name, verbosity=0)


def report(backend, n, runs, times):
    def median(mode, *phases):
        return statistics.median(
            sum(times[(mode, phase)][run] for phase in phases) for run in range(runs)
        )

    both = ("setup", "teardown")
    upstream, overlay = median("upstream", *both), median("overlay", *both)
    print(
        f"{backend} workers={n} upstream={upstream:.1f}s overlay={overlay:.1f}s "
        f"ratio={overlay / upstream:.2f}",
        flush=True,
    )
    for phase in both:
        upstream, overlay = median("upstream", phase), median("overlay", phase)
        print(
            f"  {backend} workers={n} {phase} upstream={upstream:.2f}s overlay={overlay:.2f}s "
            f"ratio={overlay / upstream:.2f} runs={runs}",
            flush=True,
        )


def table_count(connection):
    with connection.cursor() as cursor:
        return len(connection.introspection.table_names(cursor))


def snapshot_methods(connection, runs=5):
    """
    SQLite: write the in-memory test database to a snapshot file by backup()
    or VACUUM INTO, and load it into a worker's in-memory database by
    backup(), or by reading the file (a file copy) and deserialize().
    """
    connection.ensure_connection()
    source = connection.connection
    directory = tempfile.mkdtemp(prefix="overlay-bench-sqlite-")
    path = os.path.join(directory, "snapshot.sqlite3")

    def write_backup():
        target = sqlite3.connect(path)
        source.backup(target)
        target.close()

    def write_vacuum_into():
        source.execute("VACUUM INTO ?", [path])

    def load_backup():
        snapshot = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect("file:bench_load?mode=memory&cache=shared", uri=True)
        snapshot.backup(target)
        snapshot.close()
        target.close()

    def load_deserialize():
        target = sqlite3.connect("file:bench_load?mode=memory&cache=shared", uri=True)
        target.deserialize(Path(path).read_bytes())
        target.close()

    def timed(function, before=None):
        samples = []
        for _ in range(runs):
            if before:
                before()
            started = time.perf_counter()
            function()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    def remove():
        if os.path.exists(path):
            os.remove(path)

    try:
        write = {
            "backup": timed(write_backup, remove),
            "vacuum_into": timed(write_vacuum_into, remove),
        }
        write_backup()
        load = {"backup": timed(load_backup), "file_copy+deserialize": timed(load_deserialize)}
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    for phase, results in (("snapshot", write), ("load", load)):
        print(
            f"sqlite {phase} "
            + " ".join(f"{name}={seconds * 1000:.0f}ms" for name, seconds in results.items())
            + f" runs={runs}",
            flush=True,
        )


if __name__ == "__main__":
    main()
