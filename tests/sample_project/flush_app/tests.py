"""
TransactionTestCase tests whose teardown is recorded, for
tests/test_fast_flush.py: each test's databases before and after its flush
(every table's rows, and every sequence or AUTO_INCREMENT position), and the
statements the flush ran, one JSON line per test and database in the file
SAMPLE_FLUSH_RECORD names.
"""

import json
import os
from contextlib import ExitStack

from django.db import connections
from django.test import TransactionTestCase

from flush_app.models import Author, Book, Tag
from flush_other.models import Fan


def snapshot(alias):
    connection = connections[alias]
    with connection.cursor() as cursor:
        tables = {}
        for table in sorted(connection.introspection.table_names(cursor)):
            # When each migration was applied differs from run to run.
            columns = "app, name" if table == "django_migrations" else "*"
            cursor.execute(f"SELECT {columns} FROM {connection.ops.quote_name(table)}")
            tables[table] = sorted(repr(row) for row in cursor.fetchall())
        if connection.vendor == "postgresql":
            cursor.execute("SELECT sequencename, last_value FROM pg_sequences")
        elif connection.vendor == "mysql":
            cursor.execute(
                "SELECT table_name, auto_increment FROM information_schema.tables "
                "WHERE table_schema = DATABASE()"
            )
        else:
            cursor.execute("SELECT name, seq FROM sqlite_sequence")
        sequences = dict(sorted(cursor.fetchall()))
    return {"tables": tables, "sequences": sequences}


class RecordedTeardown(TransactionTestCase):
    def _fixture_teardown(self):
        aliases = self._databases_names(include_mirrors=False)
        before = {alias: snapshot(alias) for alias in aliases}
        statements = {alias: [] for alias in aliases}
        with ExitStack() as stack:
            for alias in aliases:
                stack.enter_context(
                    connections[alias].execute_wrapper(self._recorder(statements[alias]))
                )
            super()._fixture_teardown()
        with open(os.environ["SAMPLE_FLUSH_RECORD"], "a") as record:
            for alias in aliases:
                line = {
                    "test": self.id(),
                    "alias": alias,
                    "before": before[alias],
                    "after": snapshot(alias),
                    "statements": statements[alias],
                }
                record.write(json.dumps(line) + "\n")

    @staticmethod
    def _recorder(statements):
        def record(execute, sql, params, many, context):
            statements.append(sql)
            return execute(sql, params, many, context)

        return record


def write_books():
    author = Author.objects.create(name="Ann")
    book = Book.objects.create(author=author, title="First")
    book.tags.add(Tag.objects.create(name="novel"))


class WritingTests(RecordedTeardown):
    def test_books(self):
        write_books()

    def test_fan(self):
        Fan.objects.create(name="Fan", author=Author.objects.create(name="Bob"))

    def test_nothing(self):
        pass


class ResetSequencesTests(RecordedTeardown):
    reset_sequences = True

    def test_sequences_reset(self):
        self.assertEqual(Author.objects.create(name="First").pk, 1)
        write_books()


class EarlySerializedRollbackTests(RecordedTeardown):
    """
    Named to run before the classes whose flush emits post_migrate (unittest
    loads a module's classes by name): serialized_rollback reloads the content
    types and permissions that migrate wrote, which conflict with those
    post_migrate writes again under new ids, after upstream's flush as after
    the overlay's.
    """

    serialized_rollback = True

    def test_seeded_row_is_back(self):
        self.assertEqual(list(Author.objects.values_list("name", flat=True)), ["Seeded"])
        write_books()


class AvailableAppsTests(RecordedTeardown):
    # Flushed with allow_cascade and no post_migrate; flush_other's table
    # refers to flush_app's: TRUNCATE ... CASCADE empties it, and SQLite's
    # emulation of it too.
    available_apps = ["flush_app"]

    def test_outside_table_with_rows(self):
        write_books()
        with connections["default"].cursor() as cursor:
            cursor.execute("INSERT INTO flush_other_fan (name) VALUES ('no author')")


class MultipleDatabasesTests(RecordedTeardown):
    databases = {"default", "other"}

    def test_both(self):
        write_books()
        Author.objects.using("other").create(name="Other")
