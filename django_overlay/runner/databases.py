"""
Replacements for django.test.utils.setup_databases and teardown_databases,
and for the names django.test.runner imports them under: the workers' test
databases are cloned, and all test databases destroyed, concurrently.

Upstream clones each alias's test database once per worker, one clone after
the other, and drops them the same way. Here upstream's setup_databases()
makes the aliases' own test databases, then the clones of every alias are
made together by at most as many threads as there are workers, each thread on
a connection of its own: the server does the copying, and it has cores and
disks to spare while one statement runs. Teardown drops every database
concurrently too, all at once where the backend asks for it (see
drop_threads()).

The clones are made after setup_databases() has serialized the aliases'
contents rather than before it: serializing only reads, and nothing else
touches a test database in between, so the clones hold the same data.

Only backends that answer can_clone_databases_concurrently (backends/base.py)
are cloned concurrently: their cloning needs nothing but its own connection.
A backend that builds a worker's schema through the alias's own connection,
or a third-party backend that may do anything, is cloned one after the other,
as upstream does.

Before anything is created, the names of the test databases and of their
clones go through guard.check_test_database(): a test database whose name is
a real database's NAME is refused, not dropped and recreated.
"""

import warnings
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import partial

from django.test import utils as test_utils

from .. import patches
from ..backends import guard
from . import alias_copies, failed_setup


def setup_databases(
    verbosity, interactive, *, time_keeper=None, keepdb=False, parallel=0, aliases=None, **kwargs
):
    """
    Upstream's, with the guard's checks first, an alias's test database
    copied from another's where migrating it would give the same
    (alias_copies), and the clones made concurrently. A setup that cannot
    finish (a server down, Ctrl-C, a question nobody can answer) is one line
    and leaves nothing behind (failed_setup).
    """
    planned = check_test_names(aliases, parallel)
    failed_setup.check_servers(planned)
    if interactive and not keepdb:
        failed_setup.check_nothing_to_ask(planned)
    with failed_setup.unfinished(planned, parallel, verbosity, keepdb):
        with alias_copies.copying_identical_aliases():
            old_config = patches.original(setup_databases)(
                verbosity,
                interactive,
                time_keeper=time_keeper,
                keepdb=keepdb,
                parallel=0,
                aliases=aliases,
                **kwargs,
            )
        if parallel > 1:
            sources = [connection for connection, _name, first in old_config if first]
            clone_test_databases(
                sources, parallel, verbosity, keepdb, time_keeper or test_utils.NullTimeKeeper()
            )
    return old_config


def teardown_databases(old_config, verbosity, parallel=0, keepdb=False):
    """Destroy the clones and the aliases' test databases, concurrently where possible."""
    primaries = [(connection, old_name) for connection, old_name, destroy in old_config if destroy]
    drops = []
    for connection, old_name in primaries:
        if not connection.features.can_clone_databases_concurrently:
            for index in range(parallel if parallel > 1 else 0):
                connection.creation.destroy_test_db(
                    suffix=str(index + 1), verbosity=verbosity, keepdb=keepdb
                )
            connection.creation.destroy_test_db(old_name, verbosity, keepdb)
            continue
        drops += clone_drops(connection, parallel if parallel > 1 else 0, verbosity, keepdb)
        test_name = connection.settings_dict["NAME"]
        if not keepdb:
            check_name(connection, test_name)
        job = partial(_destroy_primary, connection, old_name, verbosity, keepdb)
        drops.append((connection, partial(warn_if_gone, connection, test_name, job)))
    drop_databases(drops, parallel)


def clone_drops(connection, clones, verbosity, keepdb):
    """
    (connection, job) for each of the clones of connection's test database
    (suffixes 1 to clones): dropping it (keeping it, with keepdb), its name
    checked first.
    """
    drops = []
    for index in range(clones):
        suffix = str(index + 1)
        if not keepdb:
            check_clone_name(connection, suffix)
        job = partial(
            on_own_connection,
            connection,
            "destroy_test_db",
            suffix=suffix,
            verbosity=verbosity,
            keepdb=keepdb,
        )
        name = connection.creation.get_test_db_clone_settings(suffix)["NAME"]
        drops.append((connection, partial(warn_if_gone, connection, name, job)))
    return drops


def warn_if_gone(connection, name, drop):
    """
    drop(), where a database that is gone already (a test dropped it) is a
    warning: the run's outcome is its tests', not a traceback after them.
    """
    try:
        drop()
    except Exception:
        creation = connection.creation
        if creation.is_test_db_in_memory(name) or creation.test_db_exists(name):
            raise
        warnings.warn(
            f"The test database {name!r} of alias '{connection.alias}' was gone "
            "before teardown: did a test drop it?",
            TestDatabaseGone,
            stacklevel=1,
        )


class TestDatabaseGone(RuntimeWarning):
    """A test database was not there to drop at the end of the run."""


def drop_databases(drops, parallel):
    """
    Run the (connection, job) drops, each backend's by as many threads as
    drop_threads() says, one backend after the other.
    """
    by_backend = {}
    for connection, job in drops:
        by_backend.setdefault(connection.vendor, (connection.features, []))[1].append(job)
    for features, jobs in by_backend.values():
        run_concurrently(jobs, drop_threads(features, len(jobs), parallel))


def drop_threads(features, drops, parallel):
    """
    How many of a backend's databases to drop at once: all of them where the
    backend answers drops_test_databases_together (where drops share a
    checkpoint), else as many as there are workers (the backends' flags say
    what was measured).
    """
    if features.drops_test_databases_together:
        return drops
    return max(parallel, 1)


def check_test_names(aliases, parallel):
    """
    Record the real NAMEs, and refuse, before anything is created, a test
    database or a worker's clone that would be one of them. Return the
    (connection, test database name) of each database checked.
    """
    connections = test_utils.connections
    guard.remember_real_names({alias: connections[alias].settings_dict for alias in connections})
    test_databases, _mirrors = test_utils.get_unique_databases_and_mirrors(aliases)
    planned = []
    for _name, database_aliases in test_databases.values():
        connection = connections[database_aliases[0]]
        features = connection.features
        # Those whose test databases the overlay itself makes, copies or drops.
        if not (features.can_clone_databases_concurrently or features.can_copy_test_databases):
            continue
        test_name = connection.creation._get_test_db_name()
        planned.append((connection, test_name))
        guard.remember_test_name(connection.alias, test_name)
        check_name(connection, test_name)
        # The clones' names, as they will be once the test database exists.
        test_connection = type(connection)(
            {**connection.settings_dict, "NAME": test_name}, alias=connection.alias
        )
        for index in range(parallel if parallel > 1 else 0):
            check_clone_name(test_connection, str(index + 1))
    return planned


def check_name(connection, name):
    """
    guard.check_test_database(), but for databases in memory, which have
    nothing on disk or on a server to lose.
    """
    if not connection.creation.is_test_db_in_memory(name):
        guard.check_test_database(connection, name)


def check_clone_name(connection, suffix):
    # An in-memory database's clones are not named after it.
    creation = connection.creation
    if not creation.is_test_db_in_memory(connection.settings_dict["NAME"]):
        check_name(connection, creation.get_test_db_clone_settings(suffix)["NAME"])


def clone_test_databases(sources, parallel, verbosity, keepdb, time_keeper):
    """Every worker's clone of every source, the concurrent ones together."""
    jobs = []
    aliases = []
    for connection in sources:
        suffixes = [str(index + 1) for index in range(parallel)]
        if not connection.features.can_clone_databases_concurrently:
            for suffix in suffixes:
                with time_keeper.timed(f"  Cloning '{connection.alias}'"):
                    connection.creation.clone_test_db(
                        suffix=suffix, verbosity=verbosity, keepdb=keepdb
                    )
            continue
        for suffix in suffixes:
            check_clone_name(connection, suffix)
        # Cloned by other threads: this thread's connections are someone else.
        connection.creation.close_test_db_connections()
        aliases.append(f"'{connection.alias}'")
        jobs += [
            partial(
                on_own_connection,
                connection,
                "clone_test_db",
                suffix=suffix,
                verbosity=verbosity,
                keepdb=keepdb,
            )
            for suffix in suffixes
        ]
    if jobs:
        with time_keeper.timed(f"  Cloning {', '.join(sorted(aliases))}"):
            run_concurrently(jobs, parallel)


@contextmanager
def one_worker_clones(aliases):
    """
    The clones the one worker of a serial run under --timeout runs on
    (discover.in_one_worker): setup_databases() made none, the run being
    serial, so they are made here, afresh, and dropped when the run ends. The
    worker needs its own copy, as any worker does: one that is stopped in the
    middle of a TransactionTestCase leaves rows behind, and its replacement
    clones the test database again.
    """
    test_databases, _mirrors = test_utils.get_unique_databases_and_mirrors(aliases)
    sources = [test_utils.connections[names[0]] for _name, names in test_databases.values()]
    clone_test_databases(
        sources, 1, verbosity=0, keepdb=False, time_keeper=test_utils.NullTimeKeeper()
    )
    try:
        yield
    finally:
        drops = []
        for connection in sources:
            if connection.features.can_clone_databases_concurrently:
                drops += clone_drops(connection, 1, verbosity=0, keepdb=False)
            else:
                # Cloned on the alias's own connection: dropped on it too.
                connection.creation.destroy_test_db(suffix="1", verbosity=0)
        drop_databases(drops, 1)


def run_concurrently(jobs, workers):
    """
    Call each job on a thread of at most workers, and raise the first error
    once every job has ended: none is abandoned half-done because another
    failed.
    """
    if not jobs:
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="django-overlay")
    try:
        futures = [pool.submit(job) for job in jobs]
        wait(futures)
    finally:
        # Interrupted (Ctrl-C), no job starts any more, and those under way
        # end before what they made can be dropped.
        pool.shutdown(cancel_futures=True)
    for future in futures:
        future.result()


def on_own_connection(connection, method, **kwargs):
    """
    connection.creation.<method>(**kwargs), on a connection with the same
    settings made for this thread: Django's connections belong to the thread
    that made them.
    """
    own = type(connection)(dict(connection.settings_dict), alias=connection.alias)
    try:
        getattr(own.creation, method)(**kwargs)
    finally:
        own.close()


def _destroy_primary(connection, old_name, verbosity, keepdb):
    """
    On the alias's own connection, which upstream's destroy_test_db() closes
    and gives back its real NAME: this thread may use it meanwhile.
    """
    connection.inc_thread_sharing()
    try:
        connection.creation.destroy_test_db(old_name, verbosity, keepdb)
    finally:
        connection.dec_thread_sharing()
