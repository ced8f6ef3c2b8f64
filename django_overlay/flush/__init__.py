"""
Replacement for django.core.management.commands.flush.Command.handle():
the flush that ends every TransactionTestCase test empties only the tables
that have rows.

TransactionTestCase._fixture_teardown() calls ``flush`` for each database of
the test, non-interactively and without resetting sequences, and upstream then
empties every table of the flush set: one TRUNCATE of all of them on
PostgreSQL, a DELETE per table on MySQL, MariaDB and SQLite, a TRUNCATE per
table on Oracle, however few rows the test wrote. Here the backend first finds,
in one query, which of those tables have rows, and empties only them; what it
leaves is what upstream leaves (same rows, same sequence and AUTO_INCREMENT
positions, same triggers fired). _fixture_teardown() itself is upstream's, so
reset_sequences, serialized_rollback, available_apps (allow_cascade and no
post_migrate), inhibit_post_migrate and every database of the test behave
as they do upstream, and so does the post_migrate emission after the flush.

Only that call is changed: ``manage.py flush``, which resets sequences, and an
interactive flush run upstream's command.

The base asks, the backends answer, through names the registry adds to
DatabaseOperations (django_overlay.flush.base, and one module per backend):
existing_table_names() lists the database's tables (not its views),
tables_flushed() says which tables upstream's flush empties (a cascade adds
the tables that refer to them), sql_flush_with_rows() the statements that
empty those of them that have rows, as the backend's own flush would.

Finding the tables with rows by asking the database, rather than by tracking
what the test wrote, is exact whoever wrote them: the live server's threads,
raw SQL, triggers, database cascades, other processes. One query for 150
tables costs a few milliseconds (see docs/benchmarks.md).
"""

from importlib import import_module

from django.apps import apps
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections

from .. import patches


def handle(self, **options):
    if options["interactive"] or options.get("reset_sequences", True):
        return patches.original(handle)(self, **options)
    alias = options["database"]
    connection = connections[alias]
    _import_management_modules()
    # As django_table_names(only_existing=True, include_views=False), with the
    # database's tables listed the backend's cheapest way.
    introspection = connection.introspection
    existing = set(connection.ops.existing_table_names())
    tables = [
        table
        for table in introspection.django_table_names(include_views=False)
        if introspection.identifier_converter(table) in existing
    ]
    flushed = connection.ops.tables_flushed(
        tables, allow_cascade=options.get("allow_cascade", False)
    )
    statements = connection.ops.sql_flush_with_rows(no_style(), flushed)
    try:
        connection.ops.execute_sql_flush(statements)
    except Exception as error:
        raise CommandError(
            f"Database {connection.settings_dict['NAME']} couldn't be flushed: {error}\n"
            f"The statements were:\n" + "\n".join(statements)
        ) from error
    # Upstream emits post_migrate whenever it had a table to flush, whether or
    # not anything was in it: handlers (content types, permissions) write rows
    # again that later tests may rely on.
    if tables and not options.get("inhibit_post_migrate", False):
        emit_post_migrate_signal(options["verbosity"], False, alias)


def _import_management_modules():
    """As upstream's flush: each app's management module registers its post_migrate handlers."""
    for app_config in apps.get_app_configs():
        try:
            import_module(".management", app_config.name)
        except ImportError:
            pass
