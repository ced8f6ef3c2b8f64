"""
An alias's test database copied from another alias's, instead of migrated,
when migrating it would give the same database.

Django's own suite has two aliases on one server, default and other, routed
alike: upstream migrates other from scratch (28 to 44 s on the servers of
docs/benchmarks.md) to get default's schema again. While upstream's setup_databases()
creates the test databases, in its order (dependencies first, mirrors left
alone), create_test_db() of an alias that would be migrated exactly as an
alias whose test database it just made copies that one, on backends that
answer can_copy_test_databases, with the backend's copy_test_db()
(each backend's own way of copying inside the server or the file, see
backends/base.py), checks the copy, and does
the rest of what upstream's create_test_db() does after migrate: serializing
when asked (Django 5.2 asks here; 6.0+ serializes every alias afterwards,
copies included), createcachetable, and Django's own suite's expected
failures.

Migrated exactly as the source: same ENGINE, HOST, PORT, USER and OPTIONS;
TEST settings equal but for NAME and DEPENDENCIES (CHARSET, COLLATION,
TEMPLATE, MIGRATE); not a mirror; both in memory or neither (is_test_db_in_memory);
and the routers decide alike. Routers are arbitrary code, and what migrate
asks them depends on each operation of each migration, with historical
models; asking exactly that would cost most of a migrate. So the copy is
made when no router defines allow_migrate (everything migrates everywhere),
or when, for both aliases, the routers give the same answers for every
installed model and DatabaseCache table (allow_migrate_model), every app
label without hints (RunPython and RunSQL without hints), and every hinted
operation of every migration. A router that answers otherwise for a
historical model than for today's model of the same name is not seen (the
docs/test-databases.md says so).

Not copied, migrated as upstream does, and said once at verbosity 1: an alias
whose test database exists already (--keepdb keeps it and migrate brings it
up to date, said at verbosity 2 only; without --keepdb upstream asks before
replacing it), an alias whose only possible source is a test database
--keepdb kept (it holds what earlier runs left in it; not said), routers that
differ, a copy that fails, and a copy whose tables, columns and applied
migrations differ from the source's (the copy is dropped first). The test
database's name goes through guard.check_test_database() before anything is
created, copied or not.

migrate's pre_migrate and post_migrate signals are not sent for a copied
alias: their handlers ran for the source, and what they wrote was copied.

With --reuse-schema, an alias that is not copied from another and whose test
database does not exist yet is made by runner.schema_templates: cloned from
the template an earlier run kept, or migrated and then kept as one.
"""

import inspect
import os
from contextlib import contextmanager

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import BaseDatabaseCache
from django.core.management import call_command
from django.db import router
from django.db.migrations.loader import MigrationLoader
from django.test import utils as test_utils

from ..backends import guard
from . import schema_templates

# TEST settings that do not change what migrate makes.
UNRELATED_TEST_SETTINGS = frozenset({"NAME", "DEPENDENCIES", "MIRROR"})


@contextmanager
def copying_identical_aliases():
    """
    While active, create_test_db() of every alias whose backend answers
    can_copy_test_databases copies the test database it made for an earlier
    alias, when it may.
    """
    # Connections whose test databases this setup made afresh: the sources.
    fresh = []
    wrapped = []
    # test_utils' name for them, which tests replace.
    connections = test_utils.connections
    for alias in connections:
        # Asked of the connection: a test may replace its creation by a mock.
        if connections[alias].features.can_copy_test_databases:
            creation = connections[alias].creation
            creation.create_test_db = _create_test_db(creation, fresh)
            wrapped.append(creation)
    try:
        yield
    finally:
        for creation in wrapped:
            del creation.create_test_db


def _create_test_db(creation, fresh):
    """
    creation's create_test_db(), copying when it may. It takes upstream's
    arguments, whatever the release: 5.2 passes serialize, which 6.0
    deprecates. A test database --keepdb keeps is kept, as upstream does,
    and is no source for others: it holds what earlier runs left in it.
    """
    upstream = type(creation).create_test_db
    signature = inspect.signature(upstream)

    def create_test_db(*args, **kwargs):
        arguments = signature.bind(creation, *args, **kwargs)
        arguments.apply_defaults()
        verbosity = arguments.arguments["verbosity"]
        connection = creation.connection
        test_name = creation._get_test_db_name()
        # Before anything is created or dropped, whichever way it is made.
        if not creation.is_test_db_in_memory(test_name):
            guard.check_test_database(connection, test_name)
        keepdb = arguments.arguments["keepdb"]
        source, reason = copy_source(connection, fresh)
        templates = schema_templates.active(connection)
        # Asked only where it matters: the server may be down, which upstream reports.
        exists = bool(source or keepdb or templates) and creation.test_db_exists(test_name)
        if source and exists:
            # Kept by --keepdb: as expected, and upstream says "Using existing".
            _say(
                creation, verbosity - 1 if keepdb else verbosity, "its test database exists already"
            )
        elif reason:
            _say(creation, verbosity, reason)
        copied = (
            source
            and not exists
            and copy_from_alias(
                source,
                connection,
                test_name,
                verbosity=verbosity,
                serialize=arguments.arguments.get("serialize"),
            )
        )
        if not copied and templates and not exists:
            test_name = schema_templates.create_test_db(
                connection,
                test_name,
                lambda: upstream(creation, *args, **kwargs),
                verbosity=verbosity,
                serialize=arguments.arguments.get("serialize"),
            )
        elif not copied:
            test_name = upstream(creation, *args, **kwargs)
        if not (keepdb and exists):
            fresh.append(connection)
        return test_name

    return create_test_db


def copy_source(connection, fresh):
    """
    The connection among fresh whose test database connection's may copy,
    and None; or None and why not, when one has the same settings but the
    routers may treat the two differently; or None, None.
    """
    key = _settings_key(connection)
    source = next((each for each in fresh if key and _settings_key(each) == key), None)
    if source is None:
        return None, None
    source_routing, routing_here = routings(source.alias, connection.alias)
    if source_routing != routing_here:
        return None, f"the routers may not treat it as '{source.alias}'"
    return source, None


def _settings_key(connection):
    """What, besides routers, decides what migrate makes; None if never copied."""
    settings_dict = connection.settings_dict
    test_settings = settings_dict["TEST"]
    if not connection.features.can_copy_test_databases or test_settings.get("MIRROR"):
        return None
    creation = connection.creation
    in_memory = creation.is_test_db_in_memory(creation._get_test_db_name())
    return (
        settings_dict["ENGINE"],
        settings_dict.get("HOST"),
        str(settings_dict.get("PORT")),
        settings_dict.get("USER"),
        repr(sorted(settings_dict.get("OPTIONS", {}).items())),
        repr(
            sorted(
                (key, value)
                for key, value in test_settings.items()
                if key not in UNRELATED_TEST_SETTINGS
            )
        ),
        in_memory,
    )


def routings(*aliases):
    """
    For each alias, everything the routers answer for it that migrate asks
    (module docstring); the models and migrations are loaded once for all.
    """
    if not any(hasattr(each, "allow_migrate") for each in router.routers):
        return [None] * len(aliases)
    models = [
        *apps.get_models(include_auto_created=True),
        *(
            BaseDatabaseCache(cache._table, {}).cache_model_class
            for cache in map(caches.__getitem__, settings.CACHES)
            if isinstance(cache, BaseDatabaseCache)
        ),
    ]
    labels = [app.label for app in apps.get_app_configs()]
    loader = MigrationLoader(None, ignore_no_migrations=True)
    hinted = [
        (migration.app_label, operation.hints)
        for migration in loader.graph.nodes.values()
        for operation in _operations(migration.operations)
        if getattr(operation, "hints", None)
    ]
    return [
        [router.allow_migrate_model(alias, model) for model in models]
        + [router.allow_migrate(alias, label) for label in labels]
        + [router.allow_migrate(alias, label, **hints) for label, hints in hinted]
        for alias in aliases
    ]


def _operations(operations):
    for operation in operations:
        yield operation
        yield from _operations(getattr(operation, "database_operations", ()))


def copy_from_alias(source, connection, test_name, *, verbosity, serialize):
    """
    Make connection's test database, test_name, which does not exist yet, a
    copy of source's, checked; False if it must be migrated instead, said at
    verbosity 1.
    """

    def copy():
        source.creation.copy_test_db(connection, test_name)
        return structural_difference(source, connection)

    def failed(problem):
        reason = problem if isinstance(problem, str) else f"copying failed ({problem})"
        _say(connection.creation, verbosity, reason)

    return copy_test_database(
        connection,
        test_name,
        copy,
        f"as a copy of '{source.alias}'",
        failed,
        verbosity=verbosity,
        serialize=serialize,
    )


def copy_test_database(connection, test_name, copy, source, failed, *, verbosity, serialize):
    """
    Make connection's test database, test_name, which does not exist yet, by
    copy(), on connection pointed at it, and finish it as upstream's
    create_test_db() does after migrate. copy() returns why its copy is not
    to be used, or None. Where the copy fails or is not to be used it is
    dropped, failed() is told the reason or the error, and the result is
    False: the test database is to be migrated instead. source says, after
    "Creating test database for alias ...", where the copy comes from.
    """
    creation = connection.creation
    if verbosity >= 1:
        display = creation._get_database_display_str(verbosity, test_name)
        creation.log(f"Creating test database for alias {display} {source}...")
    old_name = connection.settings_dict["NAME"]
    use_name(connection, test_name)
    try:
        problem = copy()
    except guard.NotATestName:
        raise
    except Exception as error:
        problem = error
    if problem:
        failed(problem)
        connection.close()
        if creation.test_db_exists(test_name):
            creation._destroy_test_db(test_name, verbosity)
        use_name(connection, old_name)
        return False
    finish_copy(connection, serialize)
    return True


def finish_copy(connection, serialize):
    """What upstream's create_test_db() does after migrate, for a test database made by copying."""
    creation = connection.creation
    if serialize:
        connection._test_serialized_contents = creation.serialize_db_to_string()
    call_command("createcachetable", database=connection.alias)
    connection.ensure_connection()
    if os.environ.get("RUNNING_DJANGOS_TEST_SUITE") == "true":
        creation.mark_expected_failures_and_skips()


def _say(creation, verbosity, reason):
    if verbosity >= 1:
        creation.log(
            f"Migrating the test database for alias "
            f"'{creation.connection.alias}' instead of copying it: {reason}."
        )


def use_name(connection, name):
    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = name
    connection.settings_dict["NAME"] = name


def structural_difference(source, copy):
    """What differs between the two databases' tables, columns and applied migrations."""
    described = [_structure(connection) for connection in (source, copy)]
    for part, (expected, found) in zip(
        ("tables", "columns", "applied migrations"), zip(*described, strict=True), strict=True
    ):
        if expected != found:
            return f"its {part} differ from '{source.alias}'s"
    return None


def _structure(connection):
    with connection.cursor() as cursor:
        tables = sorted(connection.introspection.table_names(cursor))
        cursor.execute(connection.creation.test_db_columns_sql)
        columns = [tuple(row) for row in cursor.fetchall()]
        applied = []
        if "django_migrations" in tables:
            cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
            applied = [tuple(row) for row in cursor.fetchall()]
    return tables, columns, applied
