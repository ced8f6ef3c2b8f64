"""
The workers share one file-based cache directory. Every worker writes to the
cache, meets the others, one of them clears the cache, and each records what
it then sees of its own entries and of the others': the cache tests read
every worker's record, so they fail without per-worker namespaces whichever
worker xdist gives them to. Each worker also records its database's name
(and on a server what identifies it, see IDENTITIES).
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection

# Which database it is, whatever its name: a database renamed keeps its oid, a
# table moved to another database its InnoDB id.
IDENTITIES = {
    "postgresql": "SELECT oid FROM pg_database WHERE datname = current_database()",
    "mysql": "SELECT table_id FROM information_schema.innodb_sys_tables "
    "WHERE name = CONCAT(DATABASE(), '/django_migrations')",
}
# Long enough for the slowest worker to start and set its databases up.
MEETING_TIMEOUT = 60
CLEARING_WORKER = {"gw0", "master"}


def workers():
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    return [f"gw{index}" for index in range(int(count))] if count else ["master"]


def records():
    return Path(os.environ["PYTEST_SAMPLE_RECORDS"])


def wait_for(pattern, what):
    deadline = time.monotonic() + MEETING_TIMEOUT
    while len(list(records().glob(pattern))) < len(workers()):
        if time.monotonic() > deadline:
            pytest.fail(f"the other workers did not {what}")
        time.sleep(0.05)


def meet(point, worker_id):
    (records() / f"{point}-{worker_id}").touch()
    wait_for(f"{point}-*", f"reach {point!r}")


def pytest_configure(config):
    """
    PYTEST_SAMPLE_TEMPLATE_CLONES: "record" writes the name of each test
    database made with --reuse-schema (migrated, or copied from a schema
    template) to test-databases, in any process, and in the controller the
    name of each worker's database it copies a schema template into to
    template-clones; "fail" makes each such copy fail, as when another run
    drops the template meanwhile. "interrupt" sends the controller SIGINT,
    as Ctrl-C does, as it starts copying the template for the next run's
    workers once the run has ended.
    """
    mode = os.environ.get("PYTEST_SAMPLE_TEMPLATE_CLONES")
    if not mode:
        return
    from django_overlay.runner import schema_templates

    create_test_db = schema_templates.create_test_db

    def made(connection, test_name, *args, **kwargs):
        with open(records() / "test-databases", "a") as file:
            file.write(f"{test_name}\n")
        return create_test_db(connection, test_name, *args, **kwargs)

    schema_templates.create_test_db = made
    if hasattr(config, "workerinput"):
        return
    make_spare = schema_templates.make_spare

    def interrupted(connection, template, number):
        if mode == "interrupt":
            os.kill(os.getpid(), signal.SIGINT)
            # Until the signal reaches the main thread, which waits for this.
            time.sleep(0.5)
        return make_spare(connection, template, number)

    schema_templates.make_spare = interrupted
    clone_template = schema_templates.clone_template

    def observed(connection, template, **kwargs):
        if mode == "fail":
            raise RuntimeError("the template is gone")
        with open(records() / "template-clones", "a") as file:
            file.write(f"{connection.settings_dict['NAME']}\n")
        return clone_template(connection, template, **kwargs)

    schema_templates.clone_template = observed


@pytest.fixture(scope="session", autouse=True)
def shared_cache(worker_id, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        (records() / f"database-{worker_id}").write_text(connection.settings_dict["NAME"])
        if patches := sys.modules.get("django_overlay.patches"):
            # pytest's assertion rewriting loads what it rewrites itself.
            (records() / f"loader-{worker_id}").write_text(type(patches.__loader__).__name__)
        if identity := IDENTITIES.get(connection.vendor):
            with connection.cursor() as cursor:
                cursor.execute(identity)
                (records() / f"identity-{worker_id}").write_text(str(cursor.fetchone()[0]))
    cache.set(f"entry-{worker_id}", worker_id)
    meet("written", worker_id)
    if worker_id in CLEARING_WORKER:
        cache.clear()
    meet("cleared", worker_id)
    survived = worker_id in CLEARING_WORKER or cache.get(f"entry-{worker_id}") == worker_id
    cache.set(f"mark-{worker_id}", worker_id)
    meet("marked", worker_id)
    seen = [other for other in workers() if other != worker_id and cache.get(f"mark-{other}")]
    observation = {"survived": survived, "seen": seen}
    (records() / f"observed-{worker_id}").write_text(json.dumps(observation))


@pytest.fixture(scope="session", autouse=True)
def recorded_flushes(worker_id):
    """
    One JSON line per flush, in flushes-<worker>: the test whose teardown
    flushed and the statements. The overlay's flush and pytest-django's
    (Django's flush command) both hand their statements to
    execute_sql_flush(), so the record compares them.
    """
    if os.environ.get("PYTEST_SAMPLE_FLUSHES") != "1":
        yield
        return
    operations = type(connection.ops)
    execute_sql_flush = operations.execute_sql_flush

    def recording(ops, sql_list):
        flush = {"test": os.environ.get("PYTEST_CURRENT_TEST"), "statements": list(sql_list)}
        with open(records() / f"flushes-{worker_id}", "a") as file:
            file.write(f"{json.dumps(flush)}\n")
        return execute_sql_flush(ops, sql_list)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(operations, "execute_sql_flush", recording)
        yield


@pytest.fixture
def observations():
    """What every worker saw, by worker."""
    wait_for("observed-*", "record what they saw")
    return {
        path.name.removeprefix("observed-"): json.loads(path.read_text())
        for path in records().glob("observed-*")
    }
