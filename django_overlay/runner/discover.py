"""
Replacements for methods of django.test.runner.DiscoverRunner: the options of
a run (--start-method, --isolate-cache, --reuse-schema,
--drop-schema-templates, --shard, --junit-xml; for parallel runs --timeout,
--max-worker-restarts, --max-crashes-per-class, --durations-file,
--progress), one process for backends that cannot clone, taking the run's
shard of the suite, handing the options to the parallel suite, and the
schema template options to the setup of the test databases.
"""

import argparse
import multiprocessing
import os
import sys
import unittest
from dataclasses import replace
from functools import partial

from django.core.management import CommandError
from django.db import connections

from .. import caches, patches
from ..start_method import apply_start_method, argument_type, requested_start_method
from . import durations, junit, processes, schema_templates, sharding
from .session import CRASHES_PER_CLASS, RunOptions

TIMEOUT_VARIABLE = "DJANGO_TEST_TIMEOUT"


class RefuseOption(argparse.Action):
    """An option this Python does not have, refused as argparse would."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"unrecognized arguments: {option_string}")


def positive_seconds(value):
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is None or not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds


def crash_count(value):
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return count


def restart_count(value):
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0")
    return count


@classmethod
def add_arguments(cls, parser):
    patches.original(add_arguments).__func__(cls, parser)
    parser.add_argument(
        "--start-method",
        type=argument_type,
        help=(
            "How to start the worker processes of a parallel run: "
            f"{', '.join(multiprocessing.get_all_start_methods())}. Defaults to "
            "$DJANGO_TEST_START_METHOD, else Python's default for the platform."
        ),
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help=(
            "In a parallel run, stop a worker whose test (or class setup) runs "
            "longer, report the stacks of its threads, and replace it. Defaults "
            f"to ${TIMEOUT_VARIABLE}; no limit without either."
        ),
    )
    parser.add_argument(
        "--max-worker-restarts",
        type=restart_count,
        metavar="N",
        help="End a parallel run after its workers were lost N times (default: 4 per worker).",
    )
    parser.add_argument(
        "--max-crashes-per-class",
        type=crash_count,
        metavar="N",
        help=(
            "In a parallel run, once a TestCase class has lost N workers, report "
            "its tests that did not run instead of running them on another "
            f"worker (default: {CRASHES_PER_CLASS})."
        ),
    )
    parser.add_argument(
        "--durations-file",
        metavar="PATH",
        help=(
            "JSON file of TestCase class durations, read to start the longest "
            "classes first and to balance --shard, and updated after each "
            "parallel run that is not a shard (default: one per project in the "
            "overlay's cache directory)."
        ),
    )
    if sys.version_info < (3, 12):
        # Django offers --durations from Python 3.12. Before that, argparse
        # would take "--durations 10" for an abbreviation of --durations-file
        # and write the durations to a file named "10".
        parser.add_argument(
            "--durations", nargs="?", action=RefuseOption, help=argparse.SUPPRESS
        )
    parser.add_argument(
        "--durations-from-junit",
        action="append",
        metavar="PATH",
        help=(
            "Also read class durations from a JUnit XML file, or from every "
            "*.xml file under a directory (a CI's archived --junit-xml "
            "results); they take precedence over the durations file. Repeatable."
        ),
    )
    parser.add_argument(
        "--shard",
        type=sharding.parse,
        metavar="K/N",
        help=(
            "Run only the K-th of N parts of the suite, whole TestCase classes "
            "balanced by their recorded durations (else test counts). The N "
            "runs of a split must see the same tests and durations."
        ),
    )
    parser.add_argument(
        "--junit-xml",
        metavar="PATH",
        help="Also write the results as JUnit XML to PATH.",
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="Show a progress display during a parallel run.",
    )
    parser.add_argument(
        "--isolate-cache",
        action="store_true",
        help=(
            "Clear every cache before each test (also "
            f"${caches.ENVIRONMENT_VARIABLE}=1). Caches are isolated per "
            "worker either way."
        ),
    )
    parser.add_argument(
        "--reuse-schema",
        action="store_true",
        help=(
            "Clone each test database from a template of the schema an earlier "
            "run migrated, while the migrations, models, settings, routers and "
            "Django version it was made from are unchanged; else migrate and "
            f"keep a new template (also ${schema_templates.ENVIRONMENT_VARIABLE}=1)."
        ),
    )
    parser.add_argument(
        "--drop-schema-templates",
        action="store_true",
        help="Drop the schema templates of the run's test databases before setting them up.",
    )


def init(
    self,
    *args,
    start_method=None,
    timeout=None,
    max_worker_restarts=None,
    max_crashes_per_class=None,
    durations_file=None,
    progress=False,
    isolate_cache=False,
    reuse_schema=False,
    drop_schema_templates=False,
    durations_from_junit=None,
    shard=None,
    junit_xml=None,
    **kwargs,
):
    """
    Apply the requested start method before anything asks for it: the
    management command and the SQLite backend decide how to create worker
    databases from multiprocessing's default.
    """
    if isinstance(shard, str):
        # call_command() and runtests.py pass the option's text.
        try:
            shard = sharding.parse(shard)
        except argparse.ArgumentTypeError as error:
            raise CommandError(f"--shard: {error}") from None
    try:
        chosen = requested_start_method(start_method)
    except ValueError as error:
        raise CommandError(str(error)) from None
    if timeout is None and os.environ.get(TIMEOUT_VARIABLE):
        try:
            timeout = positive_seconds(os.environ[TIMEOUT_VARIABLE])
        except argparse.ArgumentTypeError as error:
            raise CommandError(f"${TIMEOUT_VARIABLE}: {error}") from None
    self.isolate_cache = caches.requested_isolation(isolate_cache)
    self.reuse_schema = schema_templates.requested_reuse(reuse_schema)
    self.drop_schema_templates = drop_schema_templates
    if chosen:
        apply_start_method(chosen)
    patches.original(init)(self, *args, **kwargs)
    if junit_xml and (self.debug_sql or self.pdb):
        raise CommandError(
            "--junit-xml cannot be combined with --debug-sql or --pdb, which "
            "report through result classes of their own."
        )
    self.shard = shard
    self.junit_xml = junit_xml
    self.parallel_run_options = RunOptions(
        timeout=timeout,
        max_worker_restarts=max_worker_restarts,
        max_crashes_per_class=max_crashes_per_class or CRASHES_PER_CLASS,
        durations_file=durations_file,
        durations_from_junit=tuple(durations_from_junit or ()),
        progress=progress,
        # The N runs of a split read the same durations: one that recorded
        # its own times before the next started would move classes between
        # shards.
        record_durations=shard is None,
    )
    if processes.last_choice is not None:
        count, why = processes.last_choice
        processes.last_choice = None
        if self.verbosity >= 2:
            self.log(f"--parallel auto: {count} process{'es' if count > 1 else ''}, from {why}.")
    if self.parallel > 1:
        fall_back_to_one_process(self)


def setup_databases(self, **kwargs):
    """Upstream's, with the schema templates the run asks for."""
    with schema_templates.requested(
        getattr(self, "reuse_schema", False), getattr(self, "drop_schema_templates", False)
    ):
        return patches.original(setup_databases)(self, **kwargs)


def build_suite(self, *args, **kwargs):
    """
    Keep the run's shard of the suite, and hand the run's options to the
    parallel suite, if the run is parallel.

    Upstream makes the suite of the selected tests with self.test_suite(tests)
    and only then splits it between workers: taking the shard there leaves
    the rest of build_suite() as it is, serial or parallel.
    """
    shard = getattr(self, "shard", None)
    if shard is not None:
        self.test_suite = partial(take_shard, self, type(self).test_suite)
    try:
        suite = patches.original(build_suite)(self, *args, **kwargs)
    finally:
        if shard is not None:
            del self.test_suite
    options = getattr(self, "parallel_run_options", None)
    if options is not None and hasattr(suite, "options"):
        suite.options = replace(
            options,
            # As build_suite() orders them: tests that failed to load first.
            reorder_by=(unittest.loader._FailedTest, *self.reorder_by),
            keep_order=self.shuffle is not False or self.reverse,
        )
    return suite


def take_shard(runner, make_suite, tests):
    options = runner.parallel_run_options
    known = durations.load(
        options.durations_file or durations.default_path(), options.durations_from_junit
    )
    # As build_suite() orders the kinds of tests, and as many processes as
    # it will ask for.
    selected = sharding.select(
        tests,
        runner.shard,
        known,
        processes=max(runner.parallel, 1),
        reorder_by=(unittest.loader._FailedTest, *runner.reorder_by),
    )
    runner.log(f"Shard {runner.shard}: {len(selected)} of the {len(tests)} test(s).")
    return make_suite(selected)


def get_resultclass(self):
    """With --junit-xml, results also go to a JUnit XML file."""
    resultclass = patches.original(get_resultclass)(self)
    if getattr(self, "junit_xml", None) is None:
        return resultclass
    return partial(junit.JUnitXMLResult, path=self.junit_xml)


def fall_back_to_one_process(runner):
    """
    Upstream fails in the middle of database setup when a backend cannot
    clone; say so before anything starts and run in one process instead.
    """
    unable = [
        alias for alias in connections if not connections[alias].features.can_clone_databases
    ]
    if unable:
        runner.log(
            "Running tests in one process: the database backend of "
            f"{', '.join(repr(alias) for alias in unable)} cannot clone test "
            "databases for parallel workers."
        )
        runner.parallel = 1
