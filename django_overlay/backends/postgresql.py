"""
Replacement for django.db.backends.postgresql.creation.DatabaseCreation's
_clone_test_db().

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


def _clone_test_db(self, suffix, verbosity, keepdb=False):
    self.connection.close()
    self.connection.close_pool()
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
