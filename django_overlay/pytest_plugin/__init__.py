"""
The overlay for pytest-django, with pytest-xdist: one migrate per session and
a clone per worker instead of a migrate per worker, and a cache namespace per
worker. See docs/pytest.md.

Installed with the package (a pytest11 entry point) and inert unless
pytest-django is active and the run asks for it, with --django-overlay or the
ini option ``django_overlay = true``. Enabled, it installs the overlay before
pytest-django sets Django up; under xdist the controller makes a private
session directory and starts the caches' run, each worker joins the run
(given in xdist's workerinput) in a namespace of its own and gets its
databases from xdist_databases, and the controller drops the databases and
removes the namespace once the workers are gone.
Without xdist, pytest-django makes its test databases as without the plugin,
through the overlay's setup_databases(), and the run gets a cache namespace.
--isolate-cache clears every cache before each test, with or without xdist.
A live_server test that does not ask for transactions keeps the test's
transaction, shared with the server's threads (live_server).

Nothing of Django is imported until a run enables the plugin: pytest loads
it in every run where the package is installed, and pytest-django itself
leaves Django alone in a run without settings.
"""

import dataclasses
import shutil
import sys
import tempfile
from contextlib import ExitStack
from types import SimpleNamespace

import pytest

SESSION_DIRECTORY = "django_overlay_session"
# The workers' cache run (caches.Run, as a dict: workerinput crosses execnet).
CACHE_RUN = "django_overlay_cache_run"
_session_directory_key = pytest.StashKey[str]()
_cache_run_key = pytest.StashKey[dict]()
_migrating_key = pytest.StashKey[object]()
_session_stack_key = pytest.StashKey[ExitStack]()
_spares_key = pytest.StashKey[int]()


def pytest_addoption(parser):
    group = parser.getgroup("django_overlay")
    group.addoption(
        "--django-overlay",
        action="store_true",
        default=None,
        help="use django_overlay's test databases and caches (needs pytest-django)",
    )
    group.addoption(
        "--isolate-cache",
        action="store_true",
        default=False,
        # caches.ENVIRONMENT_VARIABLE, which this module may not import yet.
        help="with --django-overlay: clear every cache before each test "
        "(or DJANGO_TEST_ISOLATE_CACHE=1)",
    )
    group.addoption(
        "--reuse-schema",
        action="store_true",
        default=False,
        # schema_templates.ENVIRONMENT_VARIABLE, which this module may not import yet.
        help="with --django-overlay: make the test databases from a template of the "
        "schema an earlier run migrated, while nothing that decides it has changed "
        "(or DJANGO_TEST_REUSE_SCHEMA=1)",
    )
    group.addoption(
        "--drop-schema-templates",
        action="store_true",
        default=False,
        help="with --django-overlay: drop the schema templates --reuse-schema kept first",
    )
    parser.addini(
        "django_overlay",
        type="bool",
        default=False,
        help="use django_overlay's test databases and caches (needs pytest-django)",
    )


def _enabled(config, option):
    return config.pluginmanager.hasplugin("django") and bool(
        option or config.getini("django_overlay")
    )


def enabled(config):
    return _enabled(config, config.getoption("django_overlay"))


def _django_configured(config):
    # Without settings pytest-django leaves Django alone, and so does the plugin.
    from pytest_django.lazy_django import django_settings_is_configured

    return enabled(config) and django_settings_is_configured()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # Before pytest-django's own, which calls django.setup().
    if _enabled(early_config, getattr(early_config.known_args_namespace, "django_overlay", None)):
        _not_rewritten(early_config.pluginmanager)
        from .. import patches

        patches.install()


def _not_rewritten(pluginmanager):
    """
    Take the overlay's modules, which are not tests, out of pytest's
    assertion rewriting before they are imported. pytest rewrites every
    module of a distribution with a pytest11 entry point, and where it cannot
    write bytecode (PYTHONDONTWRITEBYTECODE=1, as in many CI images, or a
    read-only site-packages) every pytest process parses, rewrites and
    compiles each of them again: 0.3 s of a reused `-n 2` setup on two
    cores (docs/benchmarks.md). No public API unmarks a package; the hook's
    record of marked names is private, so where it is not there nothing
    changes.
    """
    hook = getattr(pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    cache = getattr(hook, "_marked_for_rewrite_cache", None)
    if isinstance(marked, set) and isinstance(cache, dict):
        marked.discard(__name__.partition(".")[0])
        cache.clear()


def _worker_id(config):
    workerinput = getattr(config, "workerinput", None)
    return workerinput and workerinput["workerid"]


def _is_controller(config):
    return config.pluginmanager.hasplugin("dsession")


def pytest_configure(config):
    # Registered now, after pytest-django, whose fixtures of the same names
    # they override.
    if not enabled(config):
        return
    from .. import paths
    from . import live_server

    # Before anything keeps a schema template under the project's name.
    paths.named_by(str(config.rootpath))

    config.pluginmanager.register(
        live_server.LiveServerInTransaction(), "django_overlay.live_server"
    )
    if _worker_id(config):
        config.pluginmanager.register(WorkerDatabases(), "django_overlay.worker_databases")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    # Before xdist's, which starts the workers: they join the caches' run,
    # and start while the controller migrates.
    config = session.config
    if not _django_configured(config):
        return
    from .. import caches
    from ..runner import schema_templates

    # Whichever process makes a test database, the schema templates serve it.
    config.stash[_session_stack_key] = stack = ExitStack()
    stack.enter_context(
        schema_templates.requested(
            schema_templates.requested_reuse(config.getoption("reuse_schema")),
            config.getoption("drop_schema_templates"),
        )
    )
    if worker_id := _worker_id(config):
        run = config.workerinput.get(CACHE_RUN)
        caches.isolate_worker(worker_id, aliases=(), run=run and caches.Run(**run))
        return
    # A serial run gets a namespace too, as under manage.py test. Before the
    # controller migrates: making a test database instantiates every cache
    # (createcachetable), and a FileBasedCache makes its directory, which the
    # run must find missing to remove it at the end.
    caches.start_run(caches.requested_isolation(config.getoption("isolate_cache")))
    config.stash[_cache_run_key] = dataclasses.asdict(caches.current_run())
    if _is_controller(config):
        config.stash[_session_directory_key] = session_directory = tempfile.mkdtemp(
            prefix="django-overlay-pytest-"
        )
        _start_migrating(config, session_directory)


def _start_migrating(config, session_directory):
    """
    Migrate the default alias's template and clone it for the workers in the
    controller while xdist starts the workers (xdist_databases), unless no
    test may need it.
    """
    if config.option.collectonly or config.getvalue("nomigrations"):
        return
    from pytest_django.plugin import blocking_manager_key

    from . import xdist_databases

    config.stash[_migrating_key] = xdist_databases.start_migrating(
        session_directory,
        # An int once xdist has read -n (auto included); None with --tx only.
        config.getoption("numprocesses") or 0,
        verbosity=config.option.verbose,
        keepdb=config.getvalue("reuse_db") and not config.getvalue("create_db"),
        unblocked=config.stash[blocking_manager_key].unblock,
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    if session_directory := node.config.stash.get(_session_directory_key, None):
        node.workerinput[SESSION_DIRECTORY] = session_directory
        node.workerinput[CACHE_RUN] = node.config.stash[_cache_run_key]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    # After xdist's, which stops the workers.
    config = session.config
    if not _django_configured(config):
        return
    from .. import caches

    session_directory = config.stash.get(_session_directory_key, None)
    if session_directory is None:
        config.stash[_session_stack_key].close()
        if _worker_id(config):
            caches.end_worker()
        else:
            caches.end_run()
        return
    from pytest_django.plugin import blocking_manager_key

    from . import xdist_databases

    workers = config.getoption("numprocesses") or 0
    try:
        if migrating := config.stash.get(_migrating_key, None):
            # After Ctrl-C too: nothing is dropped while the thread still makes it.
            migrating.join()
        with config.stash[blocking_manager_key].unblock():
            xdist_databases.tear_down(
                session_directory, verbosity=config.option.verbose, workers=workers or 1
            )
    finally:
        caches.end_run()
        shutil.rmtree(session_directory, ignore_errors=True)
        # Not after Ctrl-C, the user waiting for the run to end, nor with
        # --reuse-db, whose workers keep their databases.
        if exitstatus != pytest.ExitCode.INTERRUPTED and not (
            config.getvalue("reuse_db") and not config.getvalue("create_db")
        ):
            # The schema templates' request lasts until they are made.
            config.stash[_spares_key] = workers
        else:
            config.stash[_session_stack_key].close()


def pytest_unconfigure(config):
    # After pytest's summary: the spare copies are the next run's.
    if (spares := config.stash.get(_spares_key, None)) is None:
        return
    from pytest_django.plugin import blocking_manager_key

    from . import xdist_databases

    try:
        with config.stash[blocking_manager_key].unblock():
            xdist_databases.make_spares(spares)
    except KeyboardInterrupt:
        # The run's summary and exit status stand; the copies under way were
        # finished, and the next run copies the template for the others.
        sys.stderr.write(
            "django-overlay: interrupted while copying the schema template for the next "
            "run's workers; the next run copies it where a copy is missing.\n"
        )
    finally:
        config.stash[_session_stack_key].close()


@pytest.fixture(autouse=True)
def _django_overlay_isolate_cache(request):
    """
    With --isolate-cache, every test starts with every cache it can reach
    empty: a DatabaseCache once the test's database is set up, only for a
    test that may query it. Django's TestCases clear in _setup_and_call, as
    under manage.py test.
    """
    if not enabled(request.config):
        return
    from .. import caches

    if not caches.clears_between_tests():
        return
    from pytest_django.django_compat import is_django_unittest
    from pytest_django.fixtures import _get_databases_for_test

    if is_django_unittest(request):
        return
    databases = ()
    if request.node.get_closest_marker("django_db") or "_django_db_helper" in (
        request.fixturenames
    ):
        request.getfixturevalue("_django_db_helper")
        databases, _serialized = _get_databases_for_test(request.node)
    caches.clear_caches(SimpleNamespace(databases=set(databases)))


class WorkerDatabases:
    """In an xdist worker: pytest-django's django_db_setup, the overlay's way."""

    @pytest.fixture(scope="session")
    @classmethod
    def django_db_setup(
        cls,
        request,
        django_test_environment,
        django_db_blocker,
        django_db_use_migrations,
        django_db_keepdb,
        django_db_createdb,
        django_db_modify_db_settings,
    ):
        from django.db import connections
        from django.test.utils import setup_databases, teardown_databases
        from pytest_django.fixtures import _disable_migrations, _get_databases_for_setup

        from . import xdist_databases

        if not django_db_use_migrations:
            _disable_migrations()
        # As pytest-django: --reuse-db keeps the templates unless --create-db.
        keepdb = django_db_keepdb and not django_db_createdb
        verbosity = request.config.option.verbose
        aliases, serialized_aliases = _get_databases_for_setup(request.session.items)
        with django_db_blocker.unblock():
            cloned = xdist_databases.set_up(
                request.config.workerinput[SESSION_DIRECTORY],
                request.config.workerinput["workerid"],
                verbosity=verbosity,
                keepdb=keepdb,
                aliases=aliases,
                serialized_aliases=serialized_aliases,
            )
            old_config = (
                None
                if cloned
                else setup_databases(
                    verbosity=verbosity,
                    interactive=False,
                    keepdb=keepdb,
                    aliases=aliases,
                    serialized_aliases=serialized_aliases,
                )
            )
        yield
        with django_db_blocker.unblock():
            if old_config is not None and not django_db_keepdb:
                teardown_databases(old_config, verbosity=verbosity)
            # The controller drops the clones: none of them is in use then.
            for connection in connections.all():
                connection.close()
