"""
The flush after each TransactionTestCase test empties only the tables that
have rows, and leaves every database exactly as upstream's flush does.

The sample project's flush_app (models with foreign keys and a many-to-many,
real migrations, content types and permissions written again by post_migrate
after each flush) runs TransactionTestCase tests that write rows, reset
sequences, use serialized_rollback, available_apps (with a table of another
app referring to theirs) and two databases; on PostgreSQL, a row DELETE
trigger and a TRUNCATE trigger. Each test records, for each of its
databases, every table's rows and every sequence before and after its flush,
and the statements the flush ran (flush_app/tests.py). The run with the
overlay and the run with upstream Django must record the same databases
after every test; with the overlay, the flush may touch only tables that had
rows (and, on PostgreSQL, the tables it truncates as upstream does), which
fails on upstream's run (pytest --sample-without-overlay).
"""

import json
import re

import pytest

from db_fixtures import PID, django_settings, overlay, server_settings, use_databases  # noqa: F401

DATABASES = ["sqlite-memory", "postgresql", "mariadb"]
# The tables the overlay truncates on PostgreSQL at every flush, as upstream:
# book and tag have triggers, book_tags refers to them.
TRUNCATED_ON_POSTGRESQL = {"flush_app_book", "flush_app_tag", "flush_app_book_tags"}
EMPTYING = re.compile(r"^\s*(DELETE FROM|TRUNCATE)\s+(.*?);?\s*$", re.IGNORECASE | re.DOTALL)


def run_flush_app(project, tmp_path, label):
    record = tmp_path / f"{label}.jsonl"
    run = project.run(
        "flush_app",
        "--parallel",
        "1",
        env={"SAMPLE_FLUSH_APP": "1", "SAMPLE_FLUSH_RECORD": str(record)},
    )
    run.assert_succeeded()
    assert run.leftovers == []
    assert project.database.leftovers() == []
    return [json.loads(line) for line in record.read_text().splitlines()]


def tables_emptied(statements):
    """The tables a flush's DELETE and TRUNCATE statements name."""
    emptied = set()
    for statement in statements:
        if match := EMPTYING.match(statement):
            names = re.sub(r"\b(RESTART IDENTITY|CASCADE)\b", "", match[2])
            emptied.update(name.strip(' `"') for name in names.split(","))
    return emptied


@pytest.mark.parametrize("database", DATABASES, indirect=True)
def test_databases_after_each_flush_are_upstreams(sample, upstream_sample, tmp_path):
    overlay = run_flush_app(sample, tmp_path, "overlay")
    upstream = run_flush_app(upstream_sample, tmp_path, "upstream")

    assert [(line["test"], line["alias"]) for line in overlay] == [
        (line["test"], line["alias"]) for line in upstream
    ]
    assert len(overlay) == 8
    for ours, theirs in zip(overlay, upstream, strict=False):
        assert ours["after"] == theirs["after"], (ours["test"], ours["alias"])
    # The tests did write, and the flushes emptied what they wrote.
    books = [line for line in overlay if line["before"]["tables"]["flush_app_book"]]
    assert len(books) == 5
    assert all(line["after"]["tables"]["flush_app_book"] == [] for line in books)


@pytest.mark.parametrize("database", DATABASES, indirect=True)
def test_flush_empties_only_tables_with_rows(sample, tmp_path, database):
    for line in run_flush_app(sample, tmp_path, "run"):
        with_rows = {table for table, rows in line["before"]["tables"].items() if rows}
        if database.env["SAMPLE_DATABASE"] == "postgresql":
            with_rows |= TRUNCATED_ON_POSTGRESQL
        emptied = tables_emptied(line["statements"])
        assert emptied, line["test"]
        assert emptied <= with_rows, (line["test"], sorted(emptied - with_rows))


def test_mariadb_lists_the_tables_upstreams_listing_gives(use_databases, overlay):
    """The flush's SHOW FULL TABLES leaves out the views and sequences upstream leaves out."""
    import MySQLdb
    from django.db import connection

    settings = server_settings("mariadb")
    name = f"overlay_flush_tables_{PID}"
    server = MySQLdb.connect(
        host=settings["HOST"], port=int(settings["PORT"]), user=settings["USER"], autocommit=True
    )
    try:
        cursor = server.cursor()
        cursor.execute(f"CREATE DATABASE `{name}`")
        cursor.execute(f"USE `{name}`")
        for statement in [
            "CREATE TABLE book (id int PRIMARY KEY)",
            "CREATE TABLE author (id int PRIMARY KEY)",
            "CREATE VIEW book_view AS SELECT id FROM book",
            "CREATE SEQUENCE book_numbers",
        ]:
            cursor.execute(statement)
        use_databases({"default": {**settings, "NAME": name}})
        assert sorted(connection.ops.existing_table_names()) == ["author", "book"]
        assert sorted(connection.ops.existing_table_names()) == sorted(
            connection.introspection.table_names(include_views=False)
        )
    finally:
        server.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        server.close()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgresql_triggers_fire_as_upstreams(sample, tmp_path):
    """
    A DELETE would fire book's row trigger (audit rows) and not tag's
    TRUNCATE trigger: the overlay truncates both at every flush, as upstream.
    """
    lines = run_flush_app(sample, tmp_path, "run")
    default = [line for line in lines if line["alias"] == "default"]
    assert all(line["after"]["tables"]["flush_app_audit"] == [] for line in default)
    truncations = [len(line["after"]["tables"]["flush_app_truncations"]) for line in default]
    assert truncations == list(range(1, len(default) + 1))


# Oracle, statement by statement: no server runs here, so Oracle's own
# DatabaseOperations runs on a fake connection that records what it executes
# and answers the overlay's queries as a schema would.


class RecordingOracle:
    """A connection whose schema has the tables PARENT, CHILD (refers to PARENT) and OTHER."""

    vendor = "oracle"

    def __init__(self, tables_with_rows):
        self.tables_with_rows = tables_with_rows
        self.executed = []
        self.features = type("Features", (), {"bare_select_suffix": " FROM DUAL"})()

    def cursor(self):
        return RecordingCursor(self)


class RecordingCursor:
    def __init__(self, connection):
        self.connection = connection
        self.rows = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def execute(self, sql, params=()):
        self.connection.executed.append((sql, list(params or ())))
        if "FROM user_constraints referring" in sql:
            self.rows = [("CHILD", "CHILD_PARENT_FK", "PARENT")]
        elif "CONNECT BY" in sql:
            # Upstream's recursive query: the tables referring to params[0].
            self.rows = [("CHILD", "CHILD_PARENT_FK")] if params[0] == "parent" else []
        elif "WHERE EXISTS" in sql:
            with_rows = self.connection.tables_with_rows
            self.rows = [("rows", name) for name in params if name in with_rows]
        else:
            self.rows = []

    def fetchall(self):
        return self.rows


@pytest.fixture
def oracle_operations(overlay):
    pytest.importorskip("oracledb")
    # Django imports the operations module through the backend's base only.
    from django.db.backends.oracle import base  # noqa: F401
    from django.db.backends.oracle.operations import DatabaseOperations

    def make(tables_with_rows):
        return DatabaseOperations(RecordingOracle(tables_with_rows))

    return make


def test_oracle_truncates_only_tables_with_rows(oracle_operations):
    from django.core.management.color import no_style

    ops = oracle_operations({"parent"})
    statements = ops.sql_flush_with_rows(no_style(), ["child", "other", "parent"])

    probe, foreign_keys = ops.connection.executed
    assert probe == (
        "SELECT 'rows', %s FROM DUAL WHERE EXISTS (SELECT 1 FROM \"CHILD\") UNION ALL "
        "SELECT 'rows', %s FROM DUAL WHERE EXISTS (SELECT 1 FROM \"OTHER\") UNION ALL "
        "SELECT 'rows', %s FROM DUAL WHERE EXISTS (SELECT 1 FROM \"PARENT\")",
        ["child", "other", "parent"],
    )
    assert "user_constraints" in foreign_keys[0]
    # CHILD is empty, but its enabled foreign key would stop PARENT's TRUNCATE.
    assert statements == [
        'ALTER TABLE "CHILD" DISABLE CONSTRAINT "CHILD_PARENT_FK" KEEP INDEX;',
        'TRUNCATE TABLE "PARENT";',
        'ALTER TABLE "CHILD" ENABLE CONSTRAINT "CHILD_PARENT_FK";',
    ]


def test_oracle_with_no_rows_runs_nothing(oracle_operations):
    from django.core.management.color import no_style

    ops = oracle_operations(set())
    assert ops.sql_flush_with_rows(no_style(), ["child", "other", "parent"]) == []
    assert len(ops.connection.executed) == 1


def test_oracle_cascade_counts_in_the_referring_tables(oracle_operations):
    ops = oracle_operations(set())
    assert ops.tables_flushed(["parent"], allow_cascade=False) == ["parent"]
    assert ops.tables_flushed(["parent"], allow_cascade=True) == ["parent", "CHILD"]
