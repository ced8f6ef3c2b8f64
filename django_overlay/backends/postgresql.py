"""
Replacement for django.db.backends.postgresql.creation.DatabaseCreation's
_clone_test_db(), and what PostgreSQL's DatabaseFeatures and DatabaseCreation
answer to the runner's questions (backends/base.py).

A clone is still ``CREATE DATABASE ... TEMPLATE <test database>``, as
upstream's, with two differences:

- On PostgreSQL 15 and later the copy is made with STRATEGY WAL_LOG, which
  copies the template block by block, rather than FILE_COPY, which forces a
  checkpoint per clone. On this machine with Django's own suite's schema a
  clone took 0.85 s with WAL_LOG and 2 to 5 s with FILE_COPY (see
  docs/benchmarks.md). WAL_LOG is PostgreSQL's default from 15 on; naming it
  keeps a server configured otherwise from choosing for us.
- When the template is busy ("source database is being accessed by other
  users"), the sessions connected to the template, and only to it, are
  ended and the copy is tried once more. The template is the alias's test
  database, as guard.check_test_database() makes sure first: what else is
  connected to it is a leftover of this run, a shell or a crashed run.

The clones of one template are made concurrently, each on a connection of its
own (see runner.databases): PostgreSQL lets several copies of one template
run at once.
"""

import sys

from django.db.backends.postgresql.psycopg_any import errors

from .guard import NotATestName, check_test_database

TERMINATE_TEMPLATE_SESSIONS = (
    "SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
    "WHERE datname = %s AND pid <> pg_backend_pid()"
)


can_clone_databases_concurrently = True
can_copy_test_databases = True
# Every DROP DATABASE requests an immediate checkpoint and waits for it, and
# drops that wait together share one. Measured with 10 databases of 300
# tables on the 2-core machine (docs/benchmarks.md, "Dropping test
# databases"): 1.1 to 3.6 s all at once, 1.4 to 19.7 s four at a time, 3.7 to
# 31 s two at a time.
drops_test_databases_together = True
test_db_columns_sql = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = ANY (current_schemas(false)) ORDER BY table_name, ordinal_position"
)


def close_test_db_connections(self):
    """A template is copied only while no one is connected to it, the pool included."""
    self.connection.close()
    self.connection.close_pool()


def test_db_exists(self, database_name):
    with self._nodb_cursor() as cursor:
        return self._database_exists(cursor, database_name)


def copy_test_db(self, target, target_database_name):
    self.close_test_db_connections()
    copy_database(self, self.connection.settings_dict["NAME"], target_database_name)


def _clone_test_db(self, suffix, verbosity, keepdb=False):
    self.close_test_db_connections()
    source_database_name = self.connection.settings_dict["NAME"]
    target_database_name = self.get_test_db_clone_settings(suffix)["NAME"]
    with self._nodb_cursor() as cursor:
        parameters = _parameters(self, cursor, source_database_name, target_database_name)
        if keepdb and self._database_exists(cursor, target_database_name):
            return
        try:
            try:
                _create(self, cursor, parameters, source_database_name)
            except errors.DuplicateDatabase:
                if verbosity >= 1:
                    display = self._get_database_display_str(verbosity, target_database_name)
                    self.log(f"Destroying old test database for alias {display}...")
                check_test_database(self.connection, target_database_name)
                cursor.execute(f"DROP DATABASE {parameters['dbname']}")
                _create(self, cursor, parameters, source_database_name)
        except NotATestName:
            raise
        except Exception as error:
            self.log(f"Got an error cloning the test database: {error}")
            sys.exit(2)


def copy_database(creation, source_database_name, target_database_name, *, end_sessions=True):
    """
    Create target_database_name as a copy of source_database_name, a test
    database of creation's alias or a schema template, as a worker's clone
    is made; for runner.alias_copies and runner.schema_templates, which have
    checked the target's name. A template in use by a session is left alone
    (end_sessions=False): that session is someone else's.
    """
    with creation._nodb_cursor() as cursor:
        _create(
            creation,
            cursor,
            _parameters(creation, cursor, source_database_name, target_database_name),
            source_database_name,
            end_sessions=end_sessions,
        )


def _parameters(creation, cursor, source_database_name, target_database_name):
    return {
        "dbname": creation._quote_name(target_database_name),
        # The server's version from the cursor's connection: the alias's own
        # may name a database that does not exist yet.
        "suffix": creation._get_database_create_suffix(template=source_database_name)
        + _strategy(cursor.db),
    }


def _strategy(connection):
    return " STRATEGY WAL_LOG" if connection.pg_version >= 150000 else ""


def _create(self, cursor, parameters, source_database_name, *, end_sessions=True):
    statement = "CREATE DATABASE {dbname} {suffix}".format(**parameters)
    try:
        _execute(cursor, statement)
    except errors.ObjectInUse:
        if not end_sessions:
            raise
        check_test_database(self.connection, source_database_name)
        cursor.execute(TERMINATE_TEMPLATE_SESSIONS, [source_database_name])
        # CREATE DATABASE waits a few seconds for ended sessions to go.
        _execute(cursor, statement)


def _execute(cursor, statement):
    """Django wraps the driver's errors; the cause says which one it was."""
    try:
        cursor.execute(statement)
    except Exception as error:
        if isinstance(error.__cause__, (errors.DuplicateDatabase, errors.ObjectInUse)):
            raise error.__cause__ from error
        raise


def schema_template_store(self):
    # Imported here: a store reads the project's apps and migrations, which
    # only --reuse-schema needs.
    from .schema_templates.postgresql import PostgreSQLTemplates

    return PostgreSQLTemplates(self.connection)
