"""
Per-test time of live-server tests on the overlay's LiveServerTestCase (a
TestCase: each test rolled back) against Django's (a TransactionTestCase:
each test ends by flushing every table), in the same runs.

The project (bench/live_server_project) has Django's contrib apps and 40
models of its own; each test inserts one row and makes one HTTP request to
the live server, which counts the rows. A test's time runs from its fixture
setup to its fixture teardown (the rollback, or the flush); the same figure
with the class's setup and teardown (starting and stopping the live server)
spread over its tests is printed too. Each run is one ``django-admin test``
of both classes on one database; runs alternate between the databases, and
medians over the runs are reported. The test databases are the test runner's
own, test_overlay_bench6_<pid>_<run>, made and dropped by it.

    python bench/live_server.py [--runs 5] [--tests 20] [--databases postgresql mariadb]

Target (issue "live-server tests at TestCase speed"): Django/overlay per-test
time >= 10.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent / "live_server_project"
KINDS = ("overlay", "django")


def run_once(database, tests, run):
    with tempfile.TemporaryDirectory() as directory:
        results = Path(directory) / "results.jsonl"
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")])
            ),
            "PYTHONDONTWRITEBYTECODE": "1",
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "BENCH_DATABASE": database,
            "BENCH_DATABASE_NAME": f"overlay_bench6_{os.getpid()}_{run}",
            "BENCH_TESTS": str(tests),
            "BENCH_RESULTS": str(results),
        }
        command = [sys.executable, "-m", "django", "test", "bench_app", "--noinput"]
        process = subprocess.run(
            command, cwd=directory, env=environment, capture_output=True, text=True
        )
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} on {database} failed:\n{process.stderr}")
        return [json.loads(line) for line in results.read_text().splitlines()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tests", type=int, default=20, help="tests in each class")
    parser.add_argument("--databases", nargs="+", default=["postgresql", "mariadb"])
    options = parser.parse_args()
    # (database, kind) -> one figure per run: mean seconds a test, and
    # seconds a test with the class's setup and teardown shared among them.
    per_test = {(database, kind): [] for database in options.databases for kind in KINDS}
    per_test_with_class = {key: [] for key in per_test}
    for run in range(options.runs):
        for database in options.databases:
            for record in run_once(database, options.tests, run):
                key = (database, record["kind"])
                per_test[key].append(statistics.mean(record["tests"]))
                per_test_with_class[key].append(record["class"] / options.tests)
    for database in options.databases:
        for label, figures in (("per test", per_test), ("with class", per_test_with_class)):
            overlay = statistics.median(figures[(database, "overlay")])
            django = statistics.median(figures[(database, "django")])
            print(
                f"{database} {label}: tests={options.tests} runs={options.runs} "
                f"django={django * 1000:.1f}ms overlay={overlay * 1000:.1f}ms "
                f"ratio={django / overlay:.1f}"
            )


if __name__ == "__main__":
    main()
