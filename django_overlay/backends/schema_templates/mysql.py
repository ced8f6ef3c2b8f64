"""
MariaDB's schema templates: databases copied in the server, as a worker's
clone is; their spare copies are taken by moving their tables.
"""

import time

from django.db import DatabaseError

from .. import guard, mysql
from . import ServerTemplates, is_template

# A template's comment once whole, followed by when it was made.
COMPLETE = "django-overlay schema template made at"


class MariaDBTemplates(ServerTemplates):
    """
    MariaDB cannot rename a database: a template is built under its own name,
    with the comment "building <connection id>" on the database, which says
    COMPLETE and when once the copy is whole; a template whose builder's
    connection is gone is dropped by the next run that would build it.
    MySQL has no comments on databases, and no templates. A spare copy is
    built as a template is, and taken by moving its tables into the test
    database (RENAME TABLE, all in one statement: of two runs taking the same
    copy, the second finds its tables gone).
    """

    spares = True

    def unsupported(self):
        """Why not, but on MariaDB from 10.5, which keeps comments on databases."""
        with self.creation._nodb_cursor() as cursor:
            server = cursor.db
            if not (server.mysql_is_mariadb and server.mysql_version >= (10, 5)):
                return "MySQL keeps no schema templates"
        return None

    def exists(self, name):
        return _whole(self._comment(name))

    def _comment(self, name):
        with self.creation._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT schema_comment FROM information_schema.schemata WHERE schema_name = %s",
                [name],
            )
            row = cursor.fetchone()
        return row and row[0]

    def clone(self, template, test_name):
        mysql.copy_database(self.creation, template, test_name)

    def make_spare(self, template, number):
        spare = self.spare(template, number)
        if spare is not None and not self.exists(spare):
            self.save(template, spare)

    def take_spare(self, template, number, test_name):
        """Move template's spare copy number into test_name; False where there was none."""
        spare = self.spare(template, number)
        if spare is None:
            return False
        guard.check_template(self.connection, spare)
        quote = self.connection.ops.quote_name
        with self.creation._nodb_cursor() as cursor:
            # Whether the copy is whole and can move, its tables and its
            # character set, in one round trip: a worker waits for this.
            cursor.execute(
                "SELECT s.schema_comment, s.default_character_set_name, "
                "s.default_collation_name, t.table_name, t.table_type, "
                "EXISTS (SELECT 1 FROM information_schema.triggers "
                "WHERE trigger_schema = %s) "
                "OR EXISTS (SELECT 1 FROM information_schema.routines "
                "WHERE routine_schema = %s) "
                "OR EXISTS (SELECT 1 FROM information_schema.events "
                "WHERE event_schema = %s) "
                "FROM information_schema.schemata s "
                "LEFT JOIN information_schema.tables t ON t.table_schema = s.schema_name "
                "WHERE s.schema_name = %s",
                # Constants, not s.schema_name: the server then reads only
                # this database's entries.
                [spare] * 4,
            )
            rows = cursor.fetchall()
            if not rows:
                return False
            comment, charset, collation, _table, _kind, programs = rows[0]
            tables = {table: kind for *_, table, kind, _programs in rows}
            # A copy still being made is not taken. A view, a stored program
            # or an event would stay behind, and a table with triggers cannot
            # move: such a template is copied. A copy without tables has one
            # row, with no table.
            if (
                not _whole(comment)
                or programs
                or any(kind != "BASE TABLE" for kind in tables.values())
            ):
                return False
            cursor.execute(
                f"CREATE DATABASE {quote(test_name)} CHARACTER SET {charset} COLLATE {collation}"
            )
            try:
                cursor.execute(
                    "RENAME TABLE "
                    + ", ".join(
                        f"{mysql.qualified(spare, table)} TO {mysql.qualified(test_name, table)}"
                        for table in tables
                    )
                )
            except DatabaseError:
                # Taken by another run meanwhile.
                cursor.execute(f"DROP DATABASE {quote(test_name)}")
                return False
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(spare)}")
        return True

    def save(self, test_name, template):
        guard.check_template(self.connection, template)
        quote = self.connection.ops.quote_name
        with self.creation._nodb_cursor() as cursor:
            if not self._start_building(cursor, template):
                return
            try:
                self.creation._clone_db(test_name, template)
                cursor.execute(
                    f"ALTER DATABASE {quote(template)} COMMENT %s",
                    [f"{COMPLETE} {time.time():.3f}"],
                )
            except BaseException:
                cursor.execute(f"DROP DATABASE IF EXISTS {quote(template)}")
                raise

    def _start_building(self, cursor, template):
        """Create template, marked as built on cursor's connection; False if another run is."""
        quote = self.connection.ops.quote_name
        for _attempt in range(2):
            cursor.execute("SELECT CONNECTION_ID()")
            (connection_id,) = cursor.fetchone()
            try:
                cursor.execute(
                    f"CREATE DATABASE {quote(template)} "
                    f"{self.creation.sql_table_creation_suffix()} COMMENT %s",
                    [f"building {connection_id}"],
                )
                return True
            except DatabaseError:
                comment = self._comment(template) or ""
                builder = comment.removeprefix("building ")
                if comment == builder or not builder.isdigit() or self._alive(cursor, builder):
                    return False
                cursor.execute(f"DROP DATABASE IF EXISTS {quote(template)}")
        return False

    def _alive(self, cursor, connection_id):
        cursor.execute(
            "SELECT 1 FROM information_schema.processlist WHERE id = %s", [int(connection_id)]
        )
        return cursor.fetchone() is not None

    def templates(self, building_too=False):
        """The alias's templates, newest first."""
        with self.creation._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT schema_name, schema_comment FROM information_schema.schemata "
                "WHERE schema_name LIKE %s",
                [_like_prefix(f"{self.prefix}_schema_")],
            )
            rows = cursor.fetchall()
        made = {
            name: float(comment.removeprefix(COMPLETE)) if comment.startswith(COMPLETE) else 0.0
            for name, comment in rows
            if is_template(name, self.prefix, True)
        }
        return [
            name
            for name in sorted(made, key=made.get, reverse=True)
            if building_too or (made[name] and is_template(name, self.prefix, False))
        ]

    def used(self, template):
        """Kept newest made, as PostgreSQL's."""

    def drop(self, name):
        """Drop the template name, and its spare copies."""
        guard.check_template(self.connection, name)
        with self.creation._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                [_like_prefix(f"{name}_spare")],
            )
            spares = [spare for (spare,) in cursor.fetchall()]
            for each in [*spares, name]:
                guard.check_template(self.connection, each)
                cursor.execute(f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(each)}")


def _like_prefix(prefix):
    """A LIKE pattern for the names that start with prefix."""
    return prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"


def _whole(comment):
    """Whether a database's comment (None where it has none) says its copy is complete."""
    return (comment or "").startswith(COMPLETE)
