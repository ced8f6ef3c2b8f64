"""PostgreSQL's schema templates: databases copied by CREATE DATABASE ... TEMPLATE."""

import os

from .. import guard, postgresql
from . import ServerTemplates, is_template


class PostgreSQLTemplates(ServerTemplates):
    """A template is built under a name of its own, then renamed: the second rename loses."""

    def unsupported(self):
        return None

    def exists(self, name):
        with self.creation._nodb_cursor() as cursor:
            return self.creation._database_exists(cursor, name)

    def clone(self, template, test_name):
        postgresql.copy_database(self.creation, template, test_name, end_sessions=False)

    def save(self, test_name, template):
        building = f"{template}_{os.getpid()}"
        guard.check_template(self.connection, building)
        guard.check_template(self.connection, template)
        # A database is copied only while no one is connected to it.
        self.creation.close_test_db_connections()
        postgresql.copy_database(self.creation, test_name, building)
        quote = self.connection.ops.quote_name
        with self.creation._nodb_cursor() as cursor:
            try:
                cursor.execute(f"ALTER DATABASE {quote(building)} RENAME TO {quote(template)}")
            except Exception:
                # Another run built it meanwhile: DuplicateDatabase, or, when
                # both rename at the same moment, a unique violation in the
                # catalog. The copy goes whatever failed.
                cursor.execute(f"DROP DATABASE {quote(building)}")
                if not self.creation._database_exists(cursor, template):
                    raise

    def templates(self, building_too=False):
        """The alias's templates, newest first."""
        with self.creation._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT datname FROM pg_catalog.pg_database "
                "WHERE starts_with(datname, %s) ORDER BY oid DESC",
                [f"{self.prefix}_schema_"],
            )
            names = [name for (name,) in cursor.fetchall()]
        return [name for name in names if is_template(name, self.prefix, building_too)]

    def used(self, template):
        """PostgreSQL keeps the newest made: a database has no time of last use."""

    def drop(self, name):
        guard.check_template(self.connection, name)
        with self.creation._nodb_cursor() as cursor:
            try:
                cursor.execute(f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(name)}")
            except Exception as error:
                # Another run clones it at the moment: dropped next time.
                self.creation.log(f"Could not drop the schema template {name!r} ({error}).")
