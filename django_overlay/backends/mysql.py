"""
Replacement for django.db.backends.mysql.creation.DatabaseCreation's
_clone_db(): a worker's test database is copied inside the server. And what
MySQL's and MariaDB's DatabaseFeatures and DatabaseCreation answer to the
runner's questions (backends/base.py).

Upstream pipes mysqldump into the mysql client for every clone: each clone
turns the whole test database into SQL text and back, through two
subprocesses. Here the server does the work, over one connection: the clone
gets the source's character set and collation, each table is recreated from
SHOW CREATE TABLE (columns, indexes, foreign keys, AUTO_INCREMENT position)
with foreign key checks off, rows are copied by INSERT ... SELECT, and views,
triggers, routines and events are recreated from their SHOW CREATE
statements, with the sql_mode and character set each was created under.
Upstream's _clone_test_db() still creates (or keeps, with --keepdb) the
empty clone.

Each clone reads what the source holds for itself (a few tenths of a second
for Django's own suite's 1,800 tables, a tenth of the copy): the clones are
made concurrently (see runner.databases), and a source read once and reused
could have changed since.

Where the server refuses (a privilege this user lacks, such as setting
another DEFINER, or an object this copy does not handle, such as a SEQUENCE
or a system-versioned table), the clone is made again by upstream's
mysqldump, and that is said once per source.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import DatabaseError

from .. import patches
from .guard import check_test_database

# Table types SHOW CREATE TABLE and INSERT ... SELECT copy exactly.
COPIED_TABLE_TYPES = ("BASE TABLE", "VIEW")
# Rows of the copy keep their values: 0 stays 0 in an AUTO_INCREMENT column;
# an engine the server lacks fails rather than being replaced.
COPY_SQL_MODE = "NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"
# Connections creating a copy's tables at once: on the 2-core machine
# (docs/benchmarks.md), 4 made the 158 tables of bench/reuse_schema.py's
# project in about a third of the time of one.
TABLE_CONNECTIONS = 4
# Tables asked "has rows?" in one query.
EXISTS_BATCH = 200


class Unsupported(Exception):
    """The source holds something this copy does not reproduce."""


@dataclass
class Schema:
    """What a clone of one source database is made from."""

    charset: str
    collation: str
    tables: list = field(default_factory=list)
    """(name, CREATE TABLE statement)"""
    rows: list = field(default_factory=list)
    """(name, columns to copy), for tables that have rows."""
    views: list = field(default_factory=list)
    """(name, CREATE VIEW statement, character_set_client, collation_connection)"""
    programs: list = field(default_factory=list)
    """(CREATE statement, sql_mode, character_set_client, collation_connection):
    triggers, routines and events."""


can_clone_databases_concurrently = True
can_copy_test_databases = True
# Drops are made as many at a time as there are workers, the base's way.
# Measured by hand on the 2-core machine (docs/benchmarks.md, "Dropping test
# databases"): 8 databases dropped just after being made took 25.2 s one at a
# time, 2.0 to 3.2 s four at a time and 3.8 to 5.0 s all at once; 4 made 30 s
# earlier, 0.8 to 2.5 s at once against 1.2 to 8.3 s one at a time. SET
# SESSION foreign_key_checks = 0 first changed nothing, one DROP TABLE of all
# tables before DROP DATABASE little.
test_db_columns_sql = (
    "SELECT table_name, column_name, column_type FROM information_schema.columns "
    "WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position"
)


def copy_test_db(self, target, target_database_name):
    copy_database(target.creation, self.connection.settings_dict["NAME"], target_database_name)


def copy_database(creation, source_database_name, target_database_name):
    """
    Create target_database_name and copy source_database_name into it as a
    worker's clone is made; for copies of another alias's test database and
    of schema templates, whose names were checked.
    """
    with creation._nodb_cursor() as cursor:
        cursor.execute(
            f"CREATE DATABASE {creation.connection.ops.quote_name(target_database_name)} "
            f"{creation.sql_table_creation_suffix()}"
        )
    creation._clone_db(source_database_name, target_database_name)


_lock = threading.Lock()
# Sources already cloned with mysqldump: said once, and not tried again.
_fallen_back = set()


def _clone_db(self, source_database_name, target_database_name):
    if source_database_name not in _fallen_back:
        try:
            with self._nodb_cursor() as cursor:
                schema = _read_schema(cursor, source_database_name)
                _copy(self, cursor, schema, source_database_name, target_database_name)
            return
        except (DatabaseError, Unsupported) as error:
            _say_once(self, source_database_name, error)
    _dump(self, source_database_name, target_database_name)


def _say_once(self, source_database_name, error):
    with _lock:
        first = source_database_name not in _fallen_back
        _fallen_back.add(source_database_name)
    if first:
        self.log(
            f"Cloning {source_database_name!r} with mysqldump, as Django does: the "
            f"server refused the copy in the server ({error})."
        )


def _dump(self, source_database_name, target_database_name):
    """
    Upstream's mysqldump, into the clone made afresh (it may be half-filled)
    with the source's character set, which mysqldump's output assumes.
    """
    check_test_database(self.connection, target_database_name)
    quoted = self.connection.ops.quote_name(target_database_name)
    with self._nodb_cursor() as cursor:
        charset, collation = character_set(cursor, source_database_name)
        cursor.execute(f"DROP DATABASE {quoted}")
        cursor.execute(f"CREATE DATABASE {quoted} CHARACTER SET {charset} COLLATE {collation}")
    patches.original(_clone_db)(self, source_database_name, target_database_name)


def character_set(cursor, database):
    cursor.execute(
        "SELECT default_character_set_name, default_collation_name "
        "FROM information_schema.schemata WHERE schema_name = %s",
        [database],
    )
    return cursor.fetchone()


def _read_schema(cursor, source):
    schema = Schema(*character_set(cursor, source))
    cursor.execute(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = %s ORDER BY table_name",
        [source],
    )
    tables = cursor.fetchall()
    unsupported = [f"{name} ({kind})" for name, kind in tables if kind not in COPIED_TABLE_TYPES]
    if unsupported:
        raise Unsupported(f"tables of a type not copied: {', '.join(unsupported)}")
    base_tables = [name for name, kind in tables if kind == "BASE TABLE"]
    for name in base_tables:
        cursor.execute(f"SHOW CREATE TABLE {qualified(source, name)}")
        schema.tables.append((name, cursor.fetchone()[1]))
    columns = _copied_columns(cursor, source)
    schema.rows = [(name, columns[name]) for name in _tables_with_rows(cursor, source, base_tables)]
    for name in (name for name, kind in tables if kind == "VIEW"):
        cursor.execute(f"SHOW CREATE VIEW {qualified(source, name)}")
        _name, statement, charset, collation = cursor.fetchone()
        schema.views.append((name, statement, charset, collation))
    schema.programs = _programs(cursor, source)
    return schema


def _copied_columns(cursor, source):
    """Each table's columns but generated ones, which the server computes."""
    cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND COALESCE(generation_expression, '') = '' "
        "ORDER BY table_name, ordinal_position",
        [source],
    )
    columns = {}
    for table, column in cursor.fetchall():
        columns.setdefault(table, []).append(column)
    return columns


def _tables_with_rows(cursor, source, tables):
    """Most test tables are empty: copying only the others saves a statement each."""
    found = []
    for start in range(0, len(tables), EXISTS_BATCH):
        batch = tables[start : start + EXISTS_BATCH]
        cursor.execute(
            " UNION ALL ".join(
                f"SELECT %s FROM DUAL WHERE EXISTS (SELECT 1 FROM {qualified(source, name)})"
                for name in batch
            ),
            batch,
        )
        found += [name for (name,) in cursor.fetchall()]
    return found


def _programs(cursor, source):
    """Triggers (in their firing order), stored routines and events."""
    queries = (
        (
            "TRIGGER",
            "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = %s "
            "ORDER BY event_object_table, action_order",
        ),
        (
            None,
            "SELECT routine_type, routine_name FROM information_schema.routines "
            "WHERE routine_schema = %s ORDER BY routine_type, routine_name",
        ),
        (
            "EVENT",
            "SELECT event_name FROM information_schema.events WHERE event_schema = %s "
            "ORDER BY event_name",
        ),
    )
    programs = []
    for kind, query in queries:
        cursor.execute(query, [source])
        for row in cursor.fetchall():
            program_kind, name = (kind, row[0]) if kind else row
            if program_kind not in {"TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"}:
                raise Unsupported(f"{program_kind.lower()} {name} is not copied")
            cursor.execute(f"SHOW CREATE {program_kind} {qualified(source, name)}")
            described = dict(
                zip([column[0] for column in cursor.description], cursor.fetchone(), strict=True)
            )
            statement = next(
                value
                for key, value in described.items()
                if key in {"SQL Original Statement", f"Create {program_kind.title()}"}
            )
            if statement is None:
                # The server hides a routine's body from a user who may not see it.
                raise Unsupported(f"the body of {program_kind.lower()} {name} is not readable")
            programs.append(
                (
                    statement,
                    described["sql_mode"],
                    described["character_set_client"],
                    described["collation_connection"],
                    described.get("time_zone"),
                )
            )
    return programs


def _copy(self, cursor, schema, source, target):
    check_test_database(self.connection, target)
    quote = self.connection.ops.quote_name
    cursor.execute(
        f"ALTER DATABASE {quote(target)} CHARACTER SET %s COLLATE %s"
        % (schema.charset, schema.collation)
    )
    _create_tables(self, cursor, schema.tables, target)
    for name, columns in schema.rows:
        listed = ", ".join(map(quote, columns))
        cursor.execute(
            f"INSERT INTO {quote(name)} ({listed}) SELECT {listed} FROM {qualified(source, name)}"
        )
    _create_views(cursor, schema.views, source, target, quote)
    for statement, sql_mode, charset, collation, time_zone in schema.programs:
        _set_session(cursor, sql_mode, charset, collation, time_zone)
        cursor.execute(statement)


def _create_tables(self, cursor, tables, target):
    """
    Create tables in target, over TABLE_CONNECTIONS connections at once
    (cursor's, and more of its own): an InnoDB CREATE TABLE mostly waits for
    its files and the redo log's flush, and several of them wait together
    (docs/benchmarks.md). Foreign key checks are off, so any order will do.
    """
    shares = [tables[number::TABLE_CONNECTIONS] for number in range(TABLE_CONNECTIONS)]

    def create(share, cursor):
        cursor.execute(f"USE {self.connection.ops.quote_name(target)}")
        cursor.execute(
            "SET SESSION foreign_key_checks = 0, unique_checks = 0, sql_mode = %s",
            [COPY_SQL_MODE],
        )
        for _name, statement in share:
            cursor.execute(statement)

    def create_on_a_connection_of_its_own(share):
        with self._nodb_cursor() as cursor:
            create(share, cursor)

    with ThreadPoolExecutor(TABLE_CONNECTIONS - 1) as pool:
        others = [
            pool.submit(create_on_a_connection_of_its_own, share) for share in shares[1:] if share
        ]
        # cursor's session goes on with the rows, views and programs.
        create(shares[0], cursor)
    for other in others:
        other.result()


def _create_views(cursor, views, source, target, quote):
    """
    A view may select from another: create those whose dependencies exist,
    until none is left. MySQL 8 names the source in a view's definition
    (MariaDB leaves a view's own database out): point it at the clone.
    """
    pending = list(views)
    while pending:
        failed = []
        for name, statement, charset, collation in pending:
            _set_session(cursor, None, charset, collation, None)
            try:
                cursor.execute(statement.replace(f"{quote(source)}.", f"{quote(target)}."))
            except DatabaseError as error:
                failed.append((name, statement, charset, collation, error))
        if len(failed) == len(pending):
            raise failed[0][-1]
        pending = [view[:-1] for view in failed]


def _set_session(cursor, sql_mode, charset, collation, time_zone):
    assignments = {
        "sql_mode": sql_mode,
        "character_set_client": charset,
        "collation_connection": collation,
        "time_zone": time_zone,
    }
    values = {name: value for name, value in assignments.items() if value is not None}
    cursor.execute(
        "SET SESSION " + ", ".join(f"{name} = %s" for name in values), list(values.values())
    )


def qualified(database, name):
    return "`{}`.`{}`".format(database.replace("`", "``"), name.replace("`", "``"))


def schema_template_store(self):
    # Imported here: a store reads the project's apps and migrations, which
    # only --reuse-schema needs.
    from .schema_templates.mysql import MariaDBTemplates

    return MariaDBTemplates(self.connection)
