#!/usr/bin/env python
"""
Run Django's own test suite, for the installed Django, with django_overlay
active.

The overlay is judged by the tests Django ships with each release: they are
taken from that release's sdist, cached outside this repository, and run by
Django's own tests/runtests.py in this process, after the overlay has been
installed. With --no-overlay the same harness runs upstream Django, so the two
can be compared like for like.
"""

import argparse
import importlib
import multiprocessing
import os
import runpy
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import django

from django_overlay.paths import cache_root

SETTINGS_DIR = Path(__file__).resolve().parent / "tests" / "settings"
START_METHOD_VARIABLE = "DJANGO_TEST_START_METHOD"
# The suite's requirements file for each database engine a settings module uses.
DRIVER_REQUIREMENTS = {
    "django.db.backends.postgresql": "postgres.txt",
    "django.db.backends.mysql": "mysql.txt",
    "django.db.backends.oracle": "oracle.txt",
}


def parse_arguments(argv):
    """Split argv into this script's options and those for Django's runtests.py."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # A prefix of one of our options must still reach Django unchanged.
        allow_abbrev=False,
        epilog=(
            "Every other argument goes to Django's runtests.py unchanged: test\n"
            "labels, --parallel, --noinput, -k, --failfast and so on. The suite\n"
            "runs in its own directory: a label that is a path is relative to it.\n\n"
            "The suite is cached in $DJANGO_OVERLAY_CACHE/django-<version>/tests,\n"
            "by default ${XDG_CACHE_HOME:-~/.cache}/django-overlay/django-<version>/tests."
        ),
    )
    parser.add_argument(
        "--start-method",
        choices=multiprocessing.get_all_start_methods(),
        help=(
            f"how to start parallel workers (default: ${START_METHOD_VARIABLE}, "
            "else Python's default for the platform)"
        ),
    )
    parser.add_argument(
        "--no-overlay",
        action="store_true",
        help="run upstream Django: do not import or install django_overlay",
    )
    parser.add_argument(
        "--expected-failures",
        metavar="PATH",
        help=(
            "compare the run's failures and errors with the test ids listed in PATH "
            "(docs/django-suite.md) and exit 0 when they are the same, 1 otherwise"
        ),
    )
    parser.add_argument(
        "--settings",
        help=(
            "settings module for Django's suite: the name of a file in this "
            "repository's tests/settings/ without .py (postgresql, mariadb), or "
            "a module importable from Django's tests/ directory (default: "
            "$DJANGO_SETTINGS_MODULE, else Django's test_sqlite)"
        ),
    )
    # The overlay's options of DiscoverRunner that Django's runtests.py,
    # whose parser is strict, cannot take: they reach the runner as keywords.
    parser.add_argument("--shard", metavar="K/N", help="run the K-th of N parts of the suite")
    parser.add_argument("--junit-xml", metavar="PATH", help="also write JUnit XML to PATH")
    parser.add_argument(
        "--durations-file",
        metavar="PATH",
        help="class durations to order the run and balance --shard by",
    )
    parser.add_argument(
        "--durations-from-junit",
        action="append",
        metavar="PATH",
        help="also read class durations from JUnit XML files (a file or a directory)",
    )
    options, passthrough = parser.parse_known_args(argv)
    options.runner_options = {
        name: getattr(options, name)
        for name in ("shard", "junit_xml", "durations_file", "durations_from_junit")
        if getattr(options, name)
    }
    if options.no_overlay and options.runner_options:
        parser.error(
            "--shard, --junit-xml, --durations-file and --durations-from-junit "
            "are the overlay's: they cannot be used with --no-overlay"
        )
    if options.shard:
        from django_overlay.runner.sharding import parse

        try:
            parse(options.shard)
        except argparse.ArgumentTypeError as error:
            parser.error(f"argument --shard: {error}")
    # Relative to where the command was given, not to the suite's directory.
    for name in ("junit_xml", "durations_file"):
        if name in options.runner_options:
            options.runner_options[name] = os.path.abspath(options.runner_options[name])
    if "durations_from_junit" in options.runner_options:
        options.runner_options["durations_from_junit"] = [
            os.path.abspath(path) for path in options.durations_from_junit
        ]
    options.expected = None
    if options.expected_failures is not None:
        # Read now, not after a run of a quarter of an hour.
        try:
            options.expected = read_expected_failures(options.expected_failures)
        except (OSError, ValueError) as error:
            parser.error(f"argument --expected-failures: {error}")
    if options.start_method is None and os.environ.get(START_METHOD_VARIABLE):
        options.start_method = os.environ[START_METHOD_VARIABLE]
        if options.start_method not in multiprocessing.get_all_start_methods():
            parser.error(
                f"{START_METHOD_VARIABLE}={options.start_method!r}: choose from "
                + ", ".join(multiprocessing.get_all_start_methods())
            )
    if options.settings:
        passthrough += ["--settings", options.settings]
    else:
        # The same fallback as Django's runtests.py, to know which drivers it needs.
        options.settings = os.environ.get("DJANGO_SETTINGS_MODULE", "test_sqlite")
    return options, passthrough


def find_suite(version):
    """Django's tests/ directory for version, downloaded on first use."""
    release_dir = cache_root() / f"django-{version}"
    if not release_dir.exists():
        download_suite(version, release_dir)
    return release_dir / "tests"


def download_suite(version, release_dir):
    """
    Fetch the sdist and keep only its tests/ directory.

    Everything happens in a temporary sibling of release_dir, which is renamed
    into place only when complete: an interrupted download or extraction can
    never leave a half-made suite that a later run would trust.
    """
    release_dir.parent.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix=f".{release_dir.name}.", dir=release_dir.parent))
    try:
        print(f"Downloading the test suite of Django {version}...", flush=True)
        download = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"django=={version}",
                "--dest",
                str(work_dir),
            ]
        )
        if download.returncode:
            sys.exit(f"Could not download the sdist of Django {version}: see pip's error above.")
        (sdist,) = work_dir.glob("*.tar.gz")
        extracted = work_dir / "extracted"
        with tarfile.open(sdist) as archive:
            top = archive.getmembers()[0].name.split("/")[0]
            tests = [
                member for member in archive.getmembers() if member.name.startswith(f"{top}/tests/")
            ]
            archive.extractall(extracted, members=tests, filter="data")
        try:
            os.rename(extracted / top, release_dir)
        except OSError:
            # Another run put its whole copy there first: use that one.
            if not release_dir.is_dir():
                raise
    finally:
        shutil.rmtree(work_dir)


def install_requirements(suite, settings):
    """Install what the suite needs for these settings, where it can be installed."""
    engines = {database["ENGINE"] for database in settings.DATABASES.values()}
    names = ["py3.txt"] + [DRIVER_REQUIREMENTS[e] for e in engines if e in DRIVER_REQUIREMENTS]
    for name in names:
        install_requirements_file(suite / "requirements" / name)


def install_requirements_file(path):
    """
    pip install -r path, once per environment and Django release.

    A requirement that cannot be installed here (pylibmc without libmemcached's
    headers, say) must not stop the run: its tests skip themselves. So when the
    whole file fails, each line is tried on its own and the ones that failed
    are reported, then and on later runs, from the marker. The marker lives in
    the environment, not the shared cache, so a new venv installs afresh.
    """
    marker = Path(sys.prefix) / f"django-overlay-{django.get_version()}-{path.stem}.installed"
    if not marker.exists():
        print(f"Installing {path}...", flush=True)
        failed = []
        if not pip_install("-r", str(path)):
            failed = [line for line in requirement_lines(path) if not pip_install(line)]
        marker.write_text("".join(f"{line}\n" for line in failed))
    for line in marker.read_text().splitlines():
        print(f"Not installed, from {path.name}: {line} (delete {marker} to retry)")


def requirement_lines(path):
    lines = (line.partition("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pip_install(*arguments):
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    return subprocess.run([*command, *arguments]).returncode == 0


def apply_start_method(name, overlay):
    """
    Make name the start method of the whole run. Without the overlay it is set
    directly, so that an upstream run never imports django_overlay.
    """
    # The overlay's runner reads the variable again: make it agree.
    os.environ[START_METHOD_VARIABLE] = name
    if overlay:
        from django_overlay.start_method import apply_start_method

        apply_start_method(name)
    else:
        multiprocessing.set_start_method(name, force=True)


def set_import_path(suite, settings):
    """
    Put Django's tests/ first, as running its runtests.py directly would, then
    our settings folder if the settings are ours. Workers started by spawn or
    forkserver are given this sys.path by multiprocessing.
    """
    sys.path.insert(0, str(suite))
    if (SETTINGS_DIR / f"{settings}.py").is_file():
        sys.path.insert(1, str(SETTINGS_DIR))


# Tests of Django's suite that assert the very upstream behaviour the overlay
# replaces on purpose. Overlay runs leave them out and name them; --no-overlay
# runs keep them. Test id -> (Django lines it applies to, why).
REPLACED_BEHAVIOUR_TESTS = {
    "test_runner.tests.TestRunnerInitializerTests.test_no_initialize_suite_test_runner": (
        {(5, 2), (6, 0), (6, 1)},
        "asserts that multiprocessing.Pool starts the workers; the overlay's own pool does",
    ),
    "test_runner.test_parallel.ParallelTestSuiteTest.test_buffer_mode_reports_setupclass_failure": (
        {(6, 0), (6, 1)},
        "drives the suite through a mocked multiprocessing.Pool, which the overlay does not use",
    ),
    "test_runner.test_discover_runner.DiscoverRunnerParallelArgumentTests"
    ".test_get_max_test_processes_forkserver": (
        {(5, 2), (6, 0), (6, 1)},
        "asserts Django's count under forkserver (5.2: one process; from 6.0: "
        "multiprocessing.cpu_count(), mocked to 12); the overlay runs as many as the "
        "CPUs the process may use, as 6.0 does",
    ),
    **{
        test_id: (
            {(5, 2), (6, 0), (6, 1)},
            "asserts that --parallel auto is multiprocessing.cpu_count(), mocked to 12; the "
            "overlay counts the CPUs the process may use (affinity, cgroup quota)",
        )
        for test_id in (
            "test_runner.test_discover_runner.DiscoverRunnerParallelArgumentTests"
            ".test_get_max_test_processes",
            "test_runner.test_discover_runner.DiscoverRunnerParallelArgumentTests"
            ".test_get_max_test_processes_spawn",
            "test_runner.tests.ManageCommandParallelTests.test_parallel_default",
            "test_runner.tests.ManageCommandParallelTests.test_parallel_auto",
            # Its "parallel=1" is found in upstream's "parallel=12".
            "test_runner.tests.ManageCommandParallelTests.test_parallel_spawn",
        )
    },
    "backends.mysql.test_creation.DatabaseCreationTests.test_clone_test_db_options_ordering": (
        {(5, 2), (6, 0), (6, 1)},
        "asserts that _clone_db() runs mysqldump; the overlay copies inside the server",
    ),
    "backends.mysql.test_creation.DatabaseCreationTests"
    ".test_clone_test_db_subprocess_mysqldump_error": (
        {(6, 0), (6, 1)},
        "asserts that _clone_db() runs mysqldump; the overlay copies inside the server",
    ),
    "backends.mysql.test_creation.DatabaseCreationTests"
    ".test_clone_test_db_subprocess_mysql_error": (
        {(6, 0), (6, 1)},
        "asserts that _clone_db() runs mysqldump; the overlay copies inside the server",
    ),
    "backends.sqlite.test_creation.TestDbSignatureTests"
    ".test_get_test_db_clone_settings_not_supported": (
        {(5, 2)},
        "asserts Django 5.2 cannot clone SQLite for forkserver; the overlay can, as 6.0 does",
    ),
}


def leave_out_replaced_behaviour_tests():
    """
    Filter those tests out as Django loads each label. The parent process
    decides what every worker runs, so filtering here is enough.
    """
    import unittest

    from django.test.runner import DiscoverRunner
    from django.test.utils import iter_test_cases

    line = django.VERSION[:2]
    reasons = {
        test_id: why for test_id, (lines, why) in REPLACED_BEHAVIOUR_TESTS.items() if line in lines
    }
    load = DiscoverRunner.load_tests_for_label

    def load_tests_for_label(self, label, discover_kwargs):
        tests = load(self, label, discover_kwargs)
        if tests is None:
            return None
        kept = []
        for test in iter_test_cases(tests):
            if test.id() in reasons:
                print(f"Left out {test.id()}: {reasons[test.id()]}.")
            else:
                kept.append(test)
        return unittest.TestSuite(kept)

    DiscoverRunner.load_tests_for_label = load_tests_for_label


def pass_runner_options(runner_options):
    """
    Django's runtests.py makes its DiscoverRunner with keywords of its own;
    add the overlay's, which the overlay's DiscoverRunner.__init__ takes.
    Only the parent makes a runner, so workers need nothing of this.
    """
    from django.test.runner import DiscoverRunner

    init = DiscoverRunner.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **runner_options, **kwargs)

    DiscoverRunner.__init__ = __init__


def run_suite(suite, passthrough):
    """
    Run Django's runtests.py as __main__ in this process, so that it runs with
    the overlay installed here. Workers started by spawn or forkserver import
    it again from its __file__, as __mp_main__, which skips its main block.

    It runs from its own directory, as Django documents: the suite writes
    relative paths into the working directory (check_framework leaves a
    "cache" folder), and a test label that names a folder there is taken as
    that folder, so a stray "cache" would silently empty the cache label.
    """
    runtests = str(suite / "runtests.py")
    os.chdir(suite)
    sys.argv = [runtests, *passthrough]
    runpy.run_path(runtests, run_name="__main__")


# The list of expected failures sits between these lines of its file (a
# Markdown page), one test id a line, as unittest's TestCase.id() gives it.
EXPECTED_START = "<!-- expected failures: runtests.py --expected-failures -->"
EXPECTED_END = "<!-- end of expected failures -->"


def read_expected_failures(path):
    """
    The test ids listed in the file at path, between EXPECTED_START and
    EXPECTED_END; the lines of a Markdown code fence there are not ids.
    """
    text = Path(path).read_text()
    if EXPECTED_START not in text or EXPECTED_END not in text:
        raise ValueError(f"{path} has no list between {EXPECTED_START} and {EXPECTED_END}")
    listed = text.split(EXPECTED_START, 1)[1].split(EXPECTED_END, 1)[0]
    return {
        line.strip()
        for line in listed.splitlines()
        if line.strip() and not line.strip().startswith("```")
    }


def record_failures():
    """
    Keep the ids of each run's failures, errors and unexpected successes, as
    Django's runner counts them when the run ends (DiscoverRunner.suite_result),
    in the list returned: one set per run.
    """
    from django.test.runner import DiscoverRunner

    runs = []
    suite_result = DiscoverRunner.suite_result

    def record(self, suite, result, **kwargs):
        failed = [test for test, _ in [*result.errors, *result.failures]]
        runs.append({test.id() for test in [*failed, *result.unexpectedSuccesses]})
        return suite_result(self, suite, result, **kwargs)

    DiscoverRunner.suite_result = record
    return runs


def compare_failures(failed, expected, source):
    """
    The exit status and the report of a run whose failing tests were failed,
    against those listed in source: 0 when they are the same tests.
    """
    unexpected = sorted(failed - expected)
    missing = sorted(expected - failed)
    if not unexpected and not missing:
        return 0, f"The {len(failed)} failing test(s) are those listed in {source}."
    lines = [f"The failing tests differ from the {len(expected)} listed in {source}:"]
    lines += [f"  failed, not listed: {test_id}" for test_id in unexpected]
    lines += [f"  listed, did not fail: {test_id}" for test_id in missing]
    return 1, "\n".join(lines)


def run_suite_expecting(suite, passthrough, expected, source):
    """
    Run the suite, then exit 0 when exactly the expected tests failed, 1
    otherwise. A run that ended before counting its failures (a usage error,
    a database that could not be set up, Ctrl-C) keeps its own exit status.
    """
    runs = record_failures()
    try:
        run_suite(suite, passthrough)
    except SystemExit:
        if len(runs) != 1:
            raise
    if len(runs) != 1:
        return
    status, report = compare_failures(runs[0], expected, source)
    print(report, flush=True)
    sys.exit(status)


def main():
    options, passthrough = parse_arguments(sys.argv[1:])
    suite = find_suite(django.get_version())
    set_import_path(suite, options.settings)
    install_requirements(suite, importlib.import_module(options.settings))
    if options.start_method:
        apply_start_method(options.start_method, overlay=not options.no_overlay)
    if not options.no_overlay:
        import django_overlay

        django_overlay.install()
        leave_out_replaced_behaviour_tests()
        pass_runner_options(options.runner_options)
    if options.expected is None:
        run_suite(suite, passthrough)
    else:
        run_suite_expecting(suite, passthrough, options.expected, options.expected_failures)


if __name__ == "__main__":
    main()
