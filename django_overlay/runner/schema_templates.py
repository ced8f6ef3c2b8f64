"""
--reuse-schema: an alias's test database cloned from a template of the
schema an earlier run migrated, while nothing that decides what migrate makes
has changed.

After migrating an alias's test database, the run keeps a copy of it, named
after the fingerprint of everything that decided what migrate made
(runner/schema_fingerprint.py). A later run whose fingerprint is the same
clones that copy instead of migrating, with the machinery that makes the
workers' clones: CREATE DATABASE ... TEMPLATE on PostgreSQL, SQLite's
backup() from a file in the overlay's cache directory. Anything changed
migrates, and says in one line what changed; the new template is kept beside
the older ones, of which the newest KEPT_TEMPLATES per alias stay (SQLite's:
the newest used). --drop-schema-templates drops them all first.

Two runs may build the same template at once (on a server, templates are
named after the alias's NAME, not its TEST NAME, so CI jobs with test
databases of their own share them): each copies the test database
under a name of its own (the template's followed by its process id) and then
renames it; the second rename finds the template made and drops its copy.
A template's name says what it is (backends/guard.py), and every drop and
every build goes through guard.check_template() first.

A run without --reuse-schema neither reads nor makes templates: this module
is asked only while DiscoverRunner.setup_databases() runs with the option
(requested()), and then only by runner.alias_copies for a test database it is
about to create, not one --keepdb keeps.
"""

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import DatabaseError

from .. import switches
from ..backends import guard
from ..paths import project_key
from . import alias_copies, schema_fingerprint
from .atomic_files import replace, write_atomically

ENVIRONMENT_VARIABLE = "DJANGO_TEST_REUSE_SCHEMA"
# A MariaDB template's comment once whole, followed by when it was made.
COMPLETE = "django-overlay schema template made at"
# Per alias: the newest two let a run on another branch, and back, reuse both.
KEPT_TEMPLATES = 2


@dataclass(frozen=True)
class Request:
    reuse: bool
    drop_all: bool


_request = None


def requested_reuse(option=False):
    """Whether --reuse-schema or DJANGO_TEST_REUSE_SCHEMA asks for templates."""
    return switches.requested(option, ENVIRONMENT_VARIABLE)


@contextmanager
def requested(reuse, drop_all):
    """While active, test databases created for their aliases use templates as asked."""
    global _request
    previous = _request
    _request = Request(reuse, drop_all) if reuse or drop_all else None
    try:
        yield
    finally:
        _request = previous


def active(connection):
    return _request is not None and connection.vendor in STORES


def create_test_db(connection, test_name, migrate, *, verbosity, serialize):
    """
    Make connection's test database test_name, which does not exist yet:
    cloned from the template of today's fingerprint, else by migrate()
    (upstream's create_test_db()) and then kept as that template. Return the
    test database's name.
    """
    store = STORES[connection.vendor](connection)
    if _request.drop_all:
        for template in store.templates(building_too=True):
            store.drop(template)
        store.record_path.unlink(missing_ok=True)
    if not _request.reuse:
        return migrate()
    if not store.supported():
        _say(connection, verbosity, f"Migrating the test database for alias "
                                    f"'{connection.alias}': MySQL keeps no schema templates.")
        return migrate()
    parts = store.fingerprint()
    template = store.name(schema_fingerprint.digest(parts))
    if store.exists(template):
        if _clone(store, template, test_name, verbosity=verbosity, serialize=serialize):
            return test_name
        reason = "cloning its template failed"
    else:
        reason = _why_not_kept(store, parts)
    _say(connection, verbosity, f"Migrating the test database for alias '{connection.alias}', "
                                f"then keeping its schema as a template: {reason}.")
    test_name = migrate()
    try:
        store.save(test_name, template)
    except guard.NotATestName:
        raise
    except Exception as error:
        # The run has its test database; the next one will try again.
        _say(connection, verbosity, f"Could not keep the schema template {template!r} ({error}).")
        return test_name
    write_atomically(
        store.record_path, lambda file: file.write(json.dumps({"parts": parts}).encode())
    )
    for old in store.templates()[KEPT_TEMPLATES:]:
        store.drop(old)
    return test_name


def _why_not_kept(store, parts):
    try:
        earlier = json.loads(store.record_path.read_bytes())["parts"]
    except (OSError, ValueError, KeyError, TypeError):
        return "no template was kept yet"
    return schema_fingerprint.what_changed(earlier, parts) or "its template is gone"


def _clone(store, template, test_name, *, verbosity, serialize):
    """
    Make test_name a clone of template and finish it as upstream's
    create_test_db() does after migrate; False if that failed (said).
    """
    connection = store.connection
    creation = connection.creation
    if verbosity >= 1:
        display = creation._get_database_display_str(verbosity, test_name)
        creation.log(f"Creating test database for alias {display} from its schema "
                     f"template {template!r}...")
    old_name = connection.settings_dict["NAME"]
    alias_copies.use_name(connection, test_name)
    try:
        store.clone(template, test_name)
    except guard.NotATestName:
        raise
    except Exception as error:
        _say(connection, verbosity, f"Cloning the schema template {template!r} failed ({error}).")
        connection.close()
        if alias_copies.database_exists(connection, test_name):
            creation._destroy_test_db(test_name, verbosity)
        alias_copies.use_name(connection, old_name)
        return False
    store.used(template)
    alias_copies.finish_copy(connection, serialize)
    return True


def _say(connection, verbosity, line):
    if verbosity >= 1:
        connection.creation.log(line)


def _records_directory():
    return guard.template_directory() / project_key()


class PostgreSQLTemplates:
    """
    An alias's templates on its server, named after the test database its
    NAME gives by default: runs whose TEST NAMEs differ (CI jobs sharing a
    server) share them.
    """

    def __init__(self, connection):
        self.connection = connection
        self.creation = connection.creation
        self.prefix = guard.template_prefix(
            connection.settings_dict["NAME"], connection.ops.max_name_length()
        )
        self.record_path = _records_directory() / f"{connection.alias}.json"

    def name(self, digest):
        return f"{self.prefix}_schema_{digest}"

    def fingerprint(self):
        with self.creation._nodb_cursor() as cursor:
            return schema_fingerprint.fingerprint(self.connection, cursor.db)

    def supported(self):
        return True

    def exists(self, name):
        with self.creation._nodb_cursor() as cursor:
            return self.creation._database_exists(cursor, name)

    def clone(self, template, test_name):
        from ..backends import postgresql

        postgresql.copy_database(self.creation, template, test_name, end_sessions=False)

    def save(self, test_name, template):
        from ..backends import postgresql

        building = f"{template}_{os.getpid()}"
        guard.check_template(self.connection, building)
        guard.check_template(self.connection, template)
        # A template is copied only while no one is connected to it.
        self.connection.close()
        self.connection.close_pool()
        postgresql.copy_database(self.creation, test_name, building)
        quote = self.connection.ops.quote_name
        with self.creation._nodb_cursor() as cursor:
            try:
                postgresql._execute(
                    cursor, f"ALTER DATABASE {quote(building)} RENAME TO {quote(template)}"
                )
            except postgresql.errors.DuplicateDatabase:
                # Another run built it meanwhile.
                cursor.execute(f"DROP DATABASE {quote(building)}")

    def templates(self, building_too=False):
        """The alias's templates, newest first."""
        with self.creation._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT datname FROM pg_catalog.pg_database "
                "WHERE starts_with(datname, %s) ORDER BY oid DESC",
                [f"{self.prefix}_schema_"],
            )
            names = [name for (name,) in cursor.fetchall()]
        return [name for name in names if _is_template(name, self.prefix, building_too)]

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


class MariaDBTemplates:
    """
    An alias's templates on a MariaDB server, named as PostgreSQL's. MariaDB
    cannot rename a database: a template is built under its own name, with
    the comment "building <connection id>" on the database, which says
    COMPLETE and when once the copy is whole; a template whose builder's
    connection is gone is dropped by the next run that would build it.
    MySQL has no comments on databases, and no templates.
    """

    def __init__(self, connection):
        self.connection = connection
        self.creation = connection.creation
        self.prefix = guard.template_prefix(
            connection.settings_dict["NAME"], connection.ops.max_name_length()
        )
        self.record_path = _records_directory() / f"{connection.alias}.json"

    name = PostgreSQLTemplates.name
    fingerprint = PostgreSQLTemplates.fingerprint

    def supported(self):
        """MariaDB from 10.5, which keeps comments on databases."""
        with self.creation._nodb_cursor() as cursor:
            server = cursor.db
            return server.mysql_is_mariadb and server.mysql_version >= (10, 5)

    def exists(self, name):
        return (self._comment(name) or "").startswith(COMPLETE)

    def _comment(self, name):
        with self.creation._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT schema_comment FROM information_schema.schemata WHERE schema_name = %s",
                [name],
            )
            row = cursor.fetchone()
        return row and row[0]

    def clone(self, template, test_name):
        alias_copies.copy_mysql_database(self.connection, template, test_name)

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
        cursor.execute("SELECT 1 FROM information_schema.processlist WHERE id = %s",
                       [int(connection_id)])
        return cursor.fetchone() is not None

    def templates(self, building_too=False):
        """The alias's templates, newest first."""
        with self.creation._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT schema_name, schema_comment FROM information_schema.schemata "
                "WHERE schema_name LIKE %s",
                [self.prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
                 + "\\_schema\\_%"],
            )
            rows = cursor.fetchall()
        made = {
            name: float(comment.removeprefix(COMPLETE))
            if comment.startswith(COMPLETE) else 0.0
            for name, comment in rows
            if _is_template(name, self.prefix, True)
        }
        return [
            name for name in sorted(made, key=made.get, reverse=True)
            if building_too or made[name]
        ]

    def used(self, template):
        """Kept newest made, as PostgreSQL's."""

    def drop(self, name):
        guard.check_template(self.connection, name)
        with self.creation._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(name)}")


class SQLiteTemplates:
    """An alias's templates, files in the project's schema directory."""

    def __init__(self, connection):
        self.connection = connection
        self.directory = _records_directory()
        self.record_path = self.directory / f"{connection.alias}.json"

    def supported(self):
        return True

    def fingerprint(self):
        return schema_fingerprint.fingerprint(self.connection)

    def name(self, digest):
        return str(self.directory / f"{self.connection.alias}_schema_{digest}.sqlite3")

    def exists(self, name):
        return os.path.exists(name)

    def clone(self, template, test_name):
        self.connection.ensure_connection()
        source = sqlite3.connect(f"{Path(template).resolve().as_uri()}?mode=ro", uri=True)
        try:
            source.backup(self.connection.connection)
        finally:
            source.close()

    def save(self, test_name, template):
        root, extension = os.path.splitext(template)
        building = f"{root}_{os.getpid()}{extension}"
        guard.check_template(self.connection, building)
        guard.check_template(self.connection, template)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.connection.ensure_connection()
        target = sqlite3.connect(building)
        try:
            self.connection.connection.backup(target)
        finally:
            target.close()
        # The same schema either way: the last rename wins.
        replace(building, template)

    def templates(self, building_too=False):
        """The alias's templates, the newest used first."""
        paths = [
            path for path in self.directory.glob(f"{self.connection.alias}_schema_*.sqlite3")
            if _is_template(path.name.removesuffix(".sqlite3"), self.connection.alias,
                            building_too)
        ]
        return [str(path) for path in sorted(paths, key=_modified, reverse=True)]

    def used(self, template):
        os.utime(template)

    def drop(self, name):
        guard.check_template(self.connection, name)
        Path(name).unlink(missing_ok=True)


def _is_template(name, prefix, building_too):
    matched = guard.TEMPLATE.fullmatch(name)
    if not matched or matched["prefix"] != prefix:
        return False
    # Beyond the prefix, "_schema_" and 12 digits; a copy being built has its process id too.
    return building_too or len(name) == len(prefix) + len("_schema_") + 12


def _modified(path):
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0


STORES = {"postgresql": PostgreSQLTemplates, "mysql": MariaDBTemplates,
          "sqlite": SQLiteTemplates}
