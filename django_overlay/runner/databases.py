"""
Replacements for django.test.utils.setup_databases and teardown_databases,
and for the names django.test.runner imports them under: the workers' test
databases are cloned, and all test databases destroyed, concurrently.

Upstream clones each alias's test database once per worker, one clone after
the other, and drops them the same way. Here upstream's setup_databases()
makes the aliases' own test databases, then the clones of every alias are
made together by at most as many threads as there are workers, each thread on
a connection of its own: the server does the copying, and it has cores and
disks to spare while one statement runs. Teardown drops every database the
same way.

The clones are made after setup_databases() has serialized the aliases'
contents rather than before it: serializing only reads, and nothing else
touches a test database in between, so the clones hold the same data.

Only backends whose cloning needs nothing but its own connection are cloned
concurrently (CONCURRENT_VENDORS); Oracle builds a worker's schema through
the alias's own connection, and a third-party backend may do anything, so
those are cloned one after the other, as upstream does.

Before anything is created, the names of the test databases and of their
clones go through guard.check_test_database(): a test database whose name is
a real database's NAME is refused, not dropped and recreated.
"""

from concurrent.futures import ThreadPoolExecutor

from django.test import utils as test_utils

from .. import patches
from ..backends import guard

UTILS = "django.test.utils"
CONCURRENT_VENDORS = frozenset({"postgresql", "mysql", "sqlite"})


def setup_databases(verbosity, interactive, *, time_keeper=None, keepdb=False, parallel=0,
                    aliases=None, **kwargs):
    """Upstream's, with the guard's checks first and the clones made concurrently."""
    check_test_names(aliases, parallel)
    old_config = patches.original(f"{UTILS}.setup_databases")(
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
    jobs = []
    for connection, old_name in primaries:
        suffixes = [str(index + 1) for index in range(parallel)] if parallel > 1 else []
        if connection.vendor not in CONCURRENT_VENDORS:
            for suffix in suffixes:
                connection.creation.destroy_test_db(
                    suffix=suffix, verbosity=verbosity, keepdb=keepdb
                )
            connection.creation.destroy_test_db(old_name, verbosity, keepdb)
            continue
        for suffix in suffixes:
            if not keepdb:
                check_clone_name(connection, suffix)
            jobs.append((_destroy_clone, connection, suffix))
        if not keepdb:
            check_name(connection, connection.settings_dict["NAME"])
        jobs.append((_destroy_primary, connection, old_name))
    run_concurrently(jobs, max(parallel, 1), verbosity=verbosity, keepdb=keepdb)


def check_test_names(aliases, parallel):
    """
    Record the real NAMEs, and refuse, before anything is created, a test
    database or a worker's clone that would be one of them.
    """
    connections = test_utils.connections
    guard.remember_real_names({alias: connections[alias].settings_dict for alias in connections})
    test_databases, _mirrors = test_utils.get_unique_databases_and_mirrors(aliases)
    for _name, database_aliases in test_databases.values():
        connection = connections[database_aliases[0]]
        if connection.vendor not in CONCURRENT_VENDORS:
            continue
        test_name = connection.creation._get_test_db_name()
        guard.remember_test_name(connection.alias, test_name)
        check_name(connection, test_name)
        # The clones' names, as they will be once the test database exists.
        test_connection = type(connection)(
            {**connection.settings_dict, "NAME": test_name}, alias=connection.alias
        )
        for index in range(parallel if parallel > 1 else 0):
            check_clone_name(test_connection, str(index + 1))


def check_name(connection, name):
    """
    guard.check_test_database(), but for in-memory SQLite databases, which
    have nothing on disk or on a server to lose.
    """
    if not _in_memory(connection, name):
        guard.check_test_database(connection, name)


def check_clone_name(connection, suffix):
    # An in-memory database's clones are not named after it (see sqlite3).
    if not _in_memory(connection, connection.settings_dict["NAME"]):
        check_name(connection, connection.creation.get_test_db_clone_settings(suffix)["NAME"])


def _in_memory(connection, name):
    return connection.vendor == "sqlite" and connection.creation.is_in_memory_db(name)


def clone_test_databases(sources, parallel, verbosity, keepdb, time_keeper):
    """Every worker's clone of every source, the concurrent ones together."""
    jobs = []
    for connection in sources:
        suffixes = [str(index + 1) for index in range(parallel)]
        if connection.vendor not in CONCURRENT_VENDORS:
            for suffix in suffixes:
                with time_keeper.timed(f"  Cloning '{connection.alias}'"):
                    connection.creation.clone_test_db(
                        suffix=suffix, verbosity=verbosity, keepdb=keepdb
                    )
            continue
        for suffix in suffixes:
            check_clone_name(connection, suffix)
        # PostgreSQL copies a template only while no one else is connected to
        # it: this thread's connections (and pool) are someone else.
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()
        jobs += [(_clone, connection, suffix) for suffix in suffixes]
    if jobs:
        names = ", ".join(sorted({f"'{connection.alias}'" for _job, connection, _s in jobs}))
        with time_keeper.timed(f"  Cloning {names}"):
            run_concurrently(jobs, parallel, verbosity=verbosity, keepdb=keepdb)


def run_concurrently(jobs, workers, **kwargs):
    """
    Run each (function, connection, argument) on a thread of at most workers,
    and raise the first error once every job has ended: none is abandoned
    half-done because another failed.
    """
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="django-overlay") as pool:
        futures = [
            pool.submit(function, connection, argument, **kwargs)
            for function, connection, argument in jobs
        ]
    for future in futures:
        future.result()


def own_connection(connection):
    """
    A connection with the same settings for this thread: Django's connections
    belong to the thread that made them.
    """
    return type(connection)(dict(connection.settings_dict), alias=connection.alias)


def _clone(connection, suffix, *, verbosity, keepdb):
    clone = own_connection(connection)
    try:
        clone.creation.clone_test_db(suffix=suffix, verbosity=verbosity, keepdb=keepdb)
    finally:
        clone.close()


def _destroy_clone(connection, suffix, *, verbosity, keepdb):
    clone = own_connection(connection)
    try:
        clone.creation.destroy_test_db(suffix=suffix, verbosity=verbosity, keepdb=keepdb)
    finally:
        clone.close()


def _destroy_primary(connection, old_name, *, verbosity, keepdb):
    """
    On the alias's own connection, which upstream's destroy_test_db() closes
    and gives back its real NAME: this thread may use it meanwhile.
    """
    connection.inc_thread_sharing()
    try:
        connection.creation.destroy_test_db(old_name, verbosity, keepdb)
    finally:
        connection.dec_thread_sharing()
