"""
The flush that ends a transactional test. With PYTEST_SAMPLE_FLUSHES=1 the
conftest records every flush's statements: the driver checks that with the
plugin they empty only rows_row, the one table these tests write, and that
without it they empty every table. The module's fixture records, after its
tests, how many rows each table has: none, whatever the flushes emptied.
"""

import json
import os
from pathlib import Path

import pytest

from rows.models import Row, Unwritten


@pytest.fixture(scope="module", autouse=True)
def tables_left(django_db_setup, django_db_blocker, worker_id):
    yield
    with django_db_blocker.unblock():
        left = {model._meta.db_table: model.objects.count() for model in (Row, Unwritten)}
    records = Path(os.environ["PYTEST_SAMPLE_RECORDS"])
    with open(records / f"tables-left-{worker_id}", "a") as file:
        file.write(f"{json.dumps(left)}\n")


def test_a_transactional_db_test_writes_one_row(transactional_db, worker_id):
    Row.objects.create(worker=worker_id)


def test_a_reset_sequences_test_writes_one_row(django_db_reset_sequences, worker_id):
    Row.objects.create(worker=worker_id)


def test_a_transactional_db_test_finds_no_rows_and_writes_none(transactional_db):
    assert not Row.objects.exists()
