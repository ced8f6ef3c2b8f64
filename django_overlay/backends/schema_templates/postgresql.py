"""PostgreSQL's schema templates: databases copied by CREATE DATABASE ... TEMPLATE."""

import os

from django.db import DatabaseError

from .. import guard, postgresql
from . import ServerTemplates, is_template


class PostgreSQLTemplates(ServerTemplates):
    """
    A template is built under a name of its own, then renamed: the second
    rename loses. A spare copy of a template is taken by renaming it too:
    of two runs taking the same one, the second finds none.
    """

    spares = True

    def unsupported(self):
        return None

    def exists(self, name):
        with self.creation._nodb_cursor() as cursor:
            return self.creation._database_exists(cursor, name)

    def clone(self, template, test_name):
        postgresql.copy_database(self.creation, template, test_name, end_sessions=False)

    def make_spare(self, template, number):
        spare = self.spare(template, number)
        if spare is None:
            return
        guard.check_template(self.connection, spare)
        with self.creation._nodb_cursor() as cursor:
            if self.creation._database_exists(cursor, spare):
                return
        # CREATE DATABASE commits whole or not at all: no run takes half a copy.
        postgresql.copy_database(self.creation, template, spare, end_sessions=False)

    def take_spare(self, template, number, test_name):
        """Rename template's spare copy number to test_name; False where there was none."""
        spare = self.spare(template, number)
        if spare is None:
            return False
        guard.check_template(self.connection, spare)
        quote = self.connection.ops.quote_name
        with self.creation._nodb_cursor() as cursor:
            try:
                cursor.execute(f"ALTER DATABASE {quote(spare)} RENAME TO {quote(test_name)}")
            except DatabaseError:
                # Never made, or taken by another run meanwhile.
                return False
        return True

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
        """Drop the template name, and its spare copies."""
        guard.check_template(self.connection, name)
        with self.creation._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT datname FROM pg_catalog.pg_database WHERE starts_with(datname, %s)",
                [f"{name}_spare"],
            )
            spares = [spare for (spare,) in cursor.fetchall()]
            for each in [*spares, name]:
                guard.check_template(self.connection, each)
                try:
                    cursor.execute(
                        f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(each)}"
                    )
                except Exception as error:
                    # Another run clones it at the moment: dropped next time.
                    self.creation.log(f"Could not drop the schema template {each!r} ({error}).")
