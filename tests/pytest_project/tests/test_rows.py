import pytest
from django.db import connection

from rows.models import Row

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("count", [1, 2, 3])
def test_rows_written_by_a_test_are_rolled_back(worker_id, count):
    Row.objects.bulk_create(Row(worker=worker_id) for _ in range(count))
    assert Row.objects.count() == count


def test_the_database_is_this_workers(worker_id):
    name = connection.settings_dict["NAME"]
    # In memory, each process's own under one name.
    in_memory = connection.vendor == "sqlite" and connection.creation.is_in_memory_db(name)
    if worker_id != "master" and not in_memory:
        assert name.endswith(f"_{worker_id}")


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_sees_an_empty_table(worker_id):
    assert not Row.objects.exists()
    Row.objects.create(worker=worker_id)
