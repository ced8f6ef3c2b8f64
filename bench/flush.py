"""
Time the flush that ends each TransactionTestCase test, with upstream
Django's flush and with the overlay's, in the same run.

A project is generated in a temporary directory: django.contrib.auth and
contenttypes, and 10 apps of 15 models each (150 models), each model with a
nullable foreign key to the one before it and another to a model of an
earlier app, and real migrations made by makemigrations. Its test database is
migrated once per backend; then, for each run, interleaving upstream and
overlay, 20 TransactionTestCase tests each write 1 to 3 rows (a row, and rows
referring to it) and end with upstream's _fixture_teardown(): the flush, then
post_migrate, which writes the content types and permissions again. Upstream
is the overlay uninstalled (django_overlay.uninstall()) in the same process.

One line per backend: medians over the runs of each run's median teardown,
and the ratio overlay/upstream; the same for the flush alone, that is the
teardown without post_migrate, which is the same code either way and, with
auth's permissions for 150 models, costs more than the overlay's flush; and
what the overlay's finding the tables to empty costs alone, on the fresh
connection a test ends with (the part that tracking the tables a test writes,
instead of asking, could save):

    postgresql tables=157 tests=20 runs=5 teardown: upstream=...ms overlay=...ms
        ratio=... flush: upstream=...ms overlay=...ms ratio=... probe=...ms

and, on MariaDB and SQLite, whose flush asks for rows and triggers in one
query, a line of the parts of what it asks, each alone on the emptied
tables, medians of 21: the listing of the tables, the query for rows
alone, the trigger lookup alone (where the backend's flush deletes rows), and
a round trip (SELECT 1). Their sum is a floor that no flush which asks the
database goes below:

    mariadb parts: listing=...ms rows=...ms triggers=...ms round-trip=...ms

Databases are named fast_flush_<pid> (test database fast_flush_test_<pid>)
and dropped at the end.

With --without-contrib the project has no auth or contenttypes: no
post_migrate handler writes rows after each flush, so the teardown is the
flush alone, and the flush empties only what the test wrote.

    python bench/flush.py [--backends sqlite postgresql mariadb] [--runs 5]
                          [--without-contrib]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unittest
import warnings
from pathlib import Path

import model_apps

BACKENDS = ("sqlite", "postgresql", "mariadb")
APPS = 10
MODELS_PER_APP = 15
TESTS = 20


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--without-contrib", action="store_true", help="no django.contrib.auth or contenttypes"
    )
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        return run_backend(options.child, options.runs, not options.without_contrib)
    for backend in options.backends:
        # A process per backend: Django is configured once per process.
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                backend,
                "--runs",
                str(options.runs),
                *(["--without-contrib"] if options.without_contrib else []),
            ],
            check=False,
        )


def generate_project(root):
    model_apps.write_apps(root, APPS, MODELS_PER_APP)


def database_settings(backend):
    name = f"fast_flush_{os.getpid()}"
    if backend == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    if backend == "postgresql":
        engine, prefix, port, user, test = (
            "django.db.backends.postgresql",
            "DJANGO_OVERLAY_PG",
            "5432",
            "postgres",
            {},
        )
    else:
        engine, prefix, port, user, test = (
            "django.db.backends.mysql",
            "DJANGO_OVERLAY_MARIADB",
            "3306",
            "root",
            {"CHARSET": "utf8mb4"},
        )
    return {
        "ENGINE": engine,
        "HOST": os.environ.get(f"{prefix}_HOST", "127.0.0.1"),
        "PORT": os.environ.get(f"{prefix}_PORT", port),
        "USER": os.environ.get(f"{prefix}_USER", user),
        "NAME": name,
        "TEST": {"NAME": f"fast_flush_test_{os.getpid()}", **test},
    }


def run_backend(backend, runs, with_contrib):
    root = Path(tempfile.mkdtemp(prefix="fast-flush-bench-"))
    try:
        generate_project(root)
        sys.path.insert(0, str(root))
        import django
        from django.conf import settings

        settings.configure(
            INSTALLED_APPS=[
                *(["django.contrib.auth", "django.contrib.contenttypes"] if with_contrib else []),
                *(f"app{app}" for app in range(APPS)),
            ],
            DATABASES={"default": database_settings(backend)},
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            USE_TZ=True,
        )
        django.setup()
        from django.core.management import call_command

        with warnings.catch_warnings():
            # makemigrations checks the history of a database that need not exist.
            warnings.simplefilter("ignore", RuntimeWarning)
            call_command("makemigrations", verbosity=0)
        benchmark(backend, runs, with_contrib)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def make_test_class(teardown_times, post_migrate_times):
    from django.apps import apps
    from django.test import TransactionTestCase

    models = [
        apps.get_model(f"app{number // MODELS_PER_APP}", f"Model{number}")
        for number in range(APPS * MODELS_PER_APP)
    ]

    class FlushBench(TransactionTestCase):
        def _fixture_teardown(self):
            post_migrate_times.append(0.0)
            started = time.perf_counter()
            super()._fixture_teardown()
            teardown_times.append(time.perf_counter() - started)

    def make_test(number):
        def test(self):
            # 1 to 3 rows: one, then rows of the next models referring to it.
            first = (number * 37) % (APPS * MODELS_PER_APP - 2)
            previous = models[first].objects.create(name=f"test {number}")
            for offset in range(1, 1 + number % 3):
                model = models[first + offset]
                fields = {"previous": previous} if (first + offset) % MODELS_PER_APP else {}
                previous = model.objects.create(name=f"test {number}", **fields)

        return test

    for number in range(TESTS):
        setattr(FlushBench, f"test_{number:02}", make_test(number))
    return FlushBench


def server_is_up(backend):
    from django.db import connection

    if backend == "sqlite":
        return True
    try:
        with connection._nodb_cursor():
            pass
    except Exception as error:
        print(f"{backend} skipped: {error}", flush=True)
        return False
    return True


def timing_post_migrate(post_migrate_times):
    """Wrap the post_migrate emission of upstream's flush and of the overlay's, to time it."""
    from django.core.management.commands import flush as upstream_flush

    from django_overlay import flush as overlay_flush

    emit = upstream_flush.emit_post_migrate_signal

    def timed_emit(*args, **kwargs):
        started = time.perf_counter()
        emit(*args, **kwargs)
        post_migrate_times[-1] += time.perf_counter() - started

    upstream_flush.emit_post_migrate_signal = overlay_flush.emit_post_migrate_signal = timed_emit


def benchmark(backend, runs, with_contrib):
    from django.core.management.color import no_style
    from django.db import connection
    from django.test.utils import setup_test_environment

    from django_overlay import patches

    if not server_is_up(backend):
        return
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        tables = connection.introspection.django_table_names(
            only_existing=True, include_views=False
        )
        teardowns = {"upstream": [], "overlay": []}
        flushes = {"upstream": [], "overlay": []}
        probes = []
        post_migrate_times = []
        timing_post_migrate(post_migrate_times)
        for run in range(runs):
            order = ["upstream", "overlay"] if run % 2 == 0 else ["overlay", "upstream"]
            for mode in order:
                if mode == "overlay":
                    patches.install()
                else:
                    patches.uninstall()
                teardown_times = []
                post_migrate_times.clear()
                suite = unittest.defaultTestLoader.loadTestsFromTestCase(
                    make_test_class(teardown_times, post_migrate_times)
                )
                result = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(suite)
                if not result.wasSuccessful():
                    raise SystemExit(f"{backend} {mode}: {result.errors + result.failures}")
                teardowns[mode].append(statistics.median(teardown_times))
                flushes[mode].append(
                    statistics.median(
                        total - post_migrate
                        for total, post_migrate in zip(
                            teardown_times, post_migrate_times, strict=False
                        )
                    )
                )
            patches.install()
            # On a connection as fresh as the one a test ends with.
            connection.close()
            connection.ensure_connection()
            started = time.perf_counter()
            connection.ops.sql_flush_with_rows(no_style(), tables)
            probes.append(time.perf_counter() - started)

        def compared(times):
            upstream = statistics.median(times["upstream"])
            overlay = statistics.median(times["overlay"])
            return (
                f"upstream={upstream * 1000:.1f}ms overlay={overlay * 1000:.1f}ms "
                f"ratio={overlay / upstream:.3f}"
            )

        project = "" if with_contrib else " without-contrib"
        print(
            f"{backend}{project} tables={len(tables)} tests={TESTS} runs={runs} "
            f"teardown: {compared(teardowns)} flush: {compared(flushes)} "
            f"probe={statistics.median(probes) * 1000:.1f}ms",
            flush=True,
        )
        if backend != "postgresql":
            timed = ", ".join(
                f"{part}={ms:.2f}ms" for part, ms in parts(connection, tables).items()
            )
            print(f"{backend} parts: {timed}", flush=True)
    finally:
        patches.uninstall()
        connection.creation.destroy_test_db(old_name, verbosity=0)


def parts(connection, tables, repeats=21):
    """{part: median ms} of what the overlay's flush asks, each part alone."""
    from django_overlay.flush.base import probe

    ops = connection.ops

    def query(sql):
        with connection.cursor() as cursor:
            cursor.execute(sql)
            cursor.fetchall()

    asked = {
        "listing": ops.existing_table_names,
        "rows": lambda: probe(ops, tables),
        "triggers": ops.delete_triggers_sql and (lambda: query(ops.delete_triggers_sql)),
        "round-trip": lambda: query(f"SELECT 1{connection.features.bare_select_suffix}"),
    }
    timings = {}
    for part, ask in asked.items():
        if not ask:
            continue
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            ask()
            times.append(time.perf_counter() - started)
        timings[part] = statistics.median(times) * 1000
    return timings


if __name__ == "__main__":
    main()
