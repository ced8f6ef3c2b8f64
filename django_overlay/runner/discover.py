"""
Replacements for methods of django.test.runner.DiscoverRunner: the options of
a run (--start-method, --isolate-cache, --reuse-schema,
--drop-schema-templates, --shard, --junit-xml, --failed, --timeout,
--reruns, --reruns-delay, --progress; for parallel runs --max-worker-restarts, --max-crashes-per-class,
--durations-file, --discovery-order), one process for backends that cannot
clone, taking the run's shard of the suite or its failed tests, recording its
failed tests, a serial run under --timeout or --reruns in one worker process, handing the
options to the parallel suite and the schema template options to the setup of
the test databases, and ending the command with one line when database setup
cannot finish.
"""

import argparse
import multiprocessing
import os
import sys
import traceback
import unittest
from dataclasses import replace
from functools import partial

from django.core.management import CommandError
from django.db import connections
from django.test.runner import partition_suite_by_case

from .. import caches, patches
from ..start_method import apply_start_method, argument_type, requested_start_method
from . import durations, failed_setup, failed_tests, junit, processes, schema_templates, sharding
from .session import CRASHES_PER_CLASS, RunOptions

TIMEOUT_VARIABLE = "DJANGO_TEST_TIMEOUT"
RERUNS_VARIABLE = "DJANGO_TEST_RERUNS"
RERUNS_DELAY_VARIABLE = "DJANGO_TEST_RERUNS_DELAY"


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


def delay_seconds(value):
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is None or not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds >= 0")
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
            "Stop a test (or class setup) that runs longer, report the stacks "
            "of its threads, and go on with a fresh worker process (a serial "
            f"run runs in one). Defaults to ${TIMEOUT_VARIABLE}; no limit "
            "without either."
        ),
    )
    parser.add_argument(
        "--reruns",
        type=restart_count,
        metavar="N",
        help=(
            "Run a test that fails, errors, or loses its worker again, up to N "
            "times, alone in a fresh worker process; only its last run counts, "
            "and one that passes on a rerun is reported as flaky (a serial run "
            f"runs in one worker process). Defaults to ${RERUNS_VARIABLE}, else 0."
        ),
    )
    parser.add_argument(
        "--reruns-delay",
        type=delay_seconds,
        metavar="SECONDS",
        help=(
            "With --reruns, wait this long after a test failed before it runs "
            f"again (default: ${RERUNS_DELAY_VARIABLE}, else 0)."
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
        parser.add_argument("--durations", nargs="?", action=RefuseOption, help=argparse.SUPPRESS)
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
        "--failed",
        action="store_true",
        help=(
            "Run only the tests that failed or errored in the previous run "
            "(recorded beside the durations file); all of them if it recorded none."
        ),
    )
    parser.add_argument(
        "--junit-xml",
        metavar="PATH",
        help="Also write the results as JUnit XML to PATH.",
    )
    parser.add_argument(
        "--discovery-order",
        action="store_true",
        help=(
            "In a parallel run, hand out the TestCase classes in the order "
            "Django discovered them rather than the longest first."
        ),
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help=(
            "Show the run's progress: a display below the output on a "
            "terminal, a line now and then elsewhere."
        ),
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
    reruns=None,
    reruns_delay=None,
    max_worker_restarts=None,
    max_crashes_per_class=None,
    durations_file=None,
    progress=False,
    discovery_order=False,
    isolate_cache=False,
    reuse_schema=False,
    drop_schema_templates=False,
    durations_from_junit=None,
    shard=None,
    junit_xml=None,
    failed=False,
    **kwargs,
):
    """
    Apply the requested start method before anything asks for it: the
    management command and the file-based backends decide how to create
    worker databases from multiprocessing's default.
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
        timeout = from_environment(TIMEOUT_VARIABLE, positive_seconds)
    reruns, reruns_delay = requested_reruns(reruns, reruns_delay)
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
    if failed and shard is not None:
        raise CommandError(
            "--failed cannot be combined with --shard: the shards of a split "
            "must see the same tests, and each machine records its own failures."
        )
    self.shard = shard
    self.junit_xml = junit_xml
    self.discovery_order = discovery_order
    self.failed_only = failed
    self.failed_tests_record = None
    self.parallel_run_options = RunOptions(
        timeout=timeout,
        max_worker_restarts=max_worker_restarts,
        max_crashes_per_class=max_crashes_per_class or CRASHES_PER_CLASS,
        durations_file=durations_file,
        durations_from_junit=tuple(durations_from_junit or ()),
        progress=progress,
        reruns=reruns,
        reruns_delay=reruns_delay,
        # The N runs of a split read the same durations: one that recorded
        # its own times before the next started would move classes between
        # shards. A --failed run times classes of which it runs a few tests.
        record_durations=shard is None and not failed,
    )
    if processes.last_choice is not None:
        count, why = processes.last_choice
        processes.last_choice = None
        if self.verbosity >= 2:
            self.log(f"--parallel auto: {count} process{'es' if count > 1 else ''}, from {why}.")
    if self.parallel > 1:
        fall_back_to_one_process(self)


def from_environment(variable, parse):
    try:
        return parse(os.environ[variable])
    except argparse.ArgumentTypeError as error:
        raise CommandError(f"${variable}: {error}") from None


def requested_reruns(reruns, reruns_delay):
    """
    --reruns and --reruns-delay, or their variables; a delay given on the
    command line without reruns is a mistake worth saying.
    """
    if reruns_delay is not None and not (reruns or os.environ.get(RERUNS_VARIABLE)):
        raise CommandError("--reruns-delay applies only with --reruns N (N >= 1).")
    if reruns is None and os.environ.get(RERUNS_VARIABLE):
        reruns = from_environment(RERUNS_VARIABLE, restart_count)
    if reruns_delay is None and os.environ.get(RERUNS_DELAY_VARIABLE):
        reruns_delay = from_environment(RERUNS_DELAY_VARIABLE, delay_seconds)
    return reruns or 0, reruns_delay or 0


def build_suite(self, *args, **kwargs):
    """
    Keep the run's shard of the suite, or with --failed the tests that failed
    in the previous run, and hand the run's options to the parallel suite, if
    the run is parallel. A run that is not a shard records its failed tests.

    Upstream makes the suite of the selected tests with self.test_suite(tests)
    and only then splits it between workers: taking the shard there leaves
    the rest of build_suite() as it is, serial or parallel.
    """
    shard = getattr(self, "shard", None)
    take = None
    if shard is not None:
        take = take_shard
    elif getattr(self, "failed_only", False):
        take = take_failed
    if take is not None:
        self.test_suite = partial(take, self, type(self).test_suite)
    try:
        suite = patches.original(build_suite)(self, *args, **kwargs)
    finally:
        if take is not None:
            del self.test_suite
    options = getattr(self, "parallel_run_options", None)
    if options is not None and shard is None:
        self.failed_tests_record = failed_tests.FailedTestsRecord(
            failed_tests.path_beside(durations_path(options)), suite
        )
    one_worker_asked = options is not None and (options.timeout or options.reruns)
    if one_worker_asked and not hasattr(suite, "options"):
        suite = in_one_worker(self, suite)
    if options is not None and options.progress and not hasattr(suite, "options"):
        if self.pdb:
            # The display holds back what is written to the terminal until a
            # test ends; pdb's prompt cannot wait.
            self.log("--progress does not apply with --pdb.")
        else:
            from .progress import ProgressSuite

            suite = ProgressSuite([suite])
    if options is not None and hasattr(suite, "options"):
        keep_order = self.discovery_order or self.shuffle is not False or self.reverse
        suite.options = replace(
            options,
            # As build_suite() orders them: tests that failed to load first.
            reorder_by=(unittest.loader._FailedTest, *self.reorder_by),
            keep_order=keep_order,
            test_labels=tuple(kwargs.get("test_labels", args[0] if args else None) or ()),
        )
        if keep_order:
            why = "--discovery-order" if self.discovery_order else "--shuffle or --reverse"
            self.log(f"Classes are handed to the workers in the suite's order ({why}).")
        else:
            self.log(
                "Classes are handed to the workers longest first, by their recorded "
                "durations (--discovery-order keeps the suite's order)."
            )
    return suite


def durations_path(options):
    return options.durations_file or durations.default_path()


def in_one_worker(runner, suite):
    """
    --timeout or --reruns in a serial run: its tests run in one worker
    process, as a parallel run's do, so that a test that hangs is stopped
    with its stacks reported, and the run goes on in a fresh worker, and a
    test that failed runs again in a fresh one (reruns).

    Inside the runner's own process nothing can stop a test stuck in C code:
    an exception raised from a signal handler or from another thread waits
    until the test returns to Python, which a blocking call may never do (or
    retry after the signal), and the process left behind would have to go
    on running the other tests. A process that is ended has no such state.
    """
    options = runner.parallel_run_options
    asked = " and ".join(
        name
        for name, value in (("--timeout", options.timeout), ("--reruns", options.reruns))
        if value
    )
    if runner.pdb:
        runner.log(f"{asked} does not apply with --pdb: the tests run in this process.")
        return suite
    unable = [alias for alias in connections if not connections[alias].features.can_clone_databases]
    subsuites = partition_suite_by_case(suite)
    if unable or not subsuites:
        if unable:
            runner.log(
                f"{asked} does not apply: a serial run with it runs in a "
                "worker process on a clone of the test databases, and the "
                f"database backend of {', '.join(map(repr, unable))} cannot clone."
            )
        return suite
    one_worker = runner.parallel_test_suite(
        subsuites, 1, runner.failfast, runner.debug_mode, runner.buffer
    )
    one_worker.one_worker = True
    return one_worker


def take_shard(runner, make_suite, tests):
    options = runner.parallel_run_options
    known = durations.load(durations_path(options), options.durations_from_junit)
    # As build_suite() orders the kinds of tests, and as many processes as
    # it will ask for.
    selected, digest = sharding.select(
        tests,
        runner.shard,
        known,
        processes=max(runner.parallel, 1),
        reorder_by=(unittest.loader._FailedTest, *runner.reorder_by),
    )
    runner.log(f"Shard {runner.shard}: {len(selected)} of the {len(tests)} test(s), plan {digest}.")
    # For the JUnit report, where shard_check finds them.
    runner.shard_properties = {
        sharding.SHARD_PROPERTY: str(runner.shard),
        sharding.PLAN_PROPERTY: digest,
        sharding.SUITE_SIZE_PROPERTY: len(tests),
    }
    return make_suite(selected)


def take_failed(runner, make_suite, tests):
    path = failed_tests.path_beside(durations_path(runner.parallel_run_options))
    return make_suite(failed_tests.select(runner, path, tests))


def setup_databases(self, **kwargs):
    """
    Upstream's, with the schema templates the run asks for (--reuse-schema).
    A setup that could not finish (failed_setup) ends the test command with
    its one line and exit status 1, as upstream's "Tests cancelled." does;
    the traceback only at verbosity 2. Other callers of setup_databases()
    (the pytest plugin) get the exception.
    """
    try:
        with schema_templates.requested(
            getattr(self, "reuse_schema", False), getattr(self, "drop_schema_templates", False)
        ):
            return patches.original(setup_databases)(self, **kwargs)
    except (failed_setup.SetupFailed, failed_setup.SetupInterrupted) as error:
        if self.verbosity >= 2:
            traceback.print_exception(error)
        sys.stderr.write(f"{error}\n")
        raise SystemExit(1) from None


def get_resultclass(self):
    """
    With --junit-xml, results also go to a JUnit XML file; the run's failed
    tests go to their record (failed_tests).
    """
    resultclass = patches.original(get_resultclass)(self)
    junit_xml = getattr(self, "junit_xml", None)
    if junit_xml is not None:
        resultclass = junit.JUnitXMLResult
    record = getattr(self, "failed_tests_record", None)
    if record is not None:
        # None is the test runner's own result class.
        resultclass = record.result_class(resultclass or self.test_runner.resultclass)
    if junit_xml is not None:
        return partial(
            resultclass, path=junit_xml, properties=getattr(self, "shard_properties", None)
        )
    return resultclass


def fall_back_to_one_process(runner):
    """
    Upstream fails in the middle of database setup when a backend cannot
    clone; say so before anything starts and run in one process instead.
    """
    unable = [alias for alias in connections if not connections[alias].features.can_clone_databases]
    if unable:
        runner.log(
            "Running tests in one process: the database backend of "
            f"{', '.join(repr(alias) for alias in unable)} cannot clone test "
            "databases for parallel workers."
        )
        runner.parallel = 1
