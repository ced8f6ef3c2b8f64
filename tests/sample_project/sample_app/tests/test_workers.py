"""
Tests that each worker of a parallel run has a database of its own, and that
the run writes no database files into the working directory.

tests/test_parallel_spawn.py runs them with two workers. Each test class is
one task for the pool, so the four classes keep both workers busy; every test
writes rows tagged with its pid and waits until the other worker has done the
same before it looks. If the workers shared a database, at least one of them
would find the other's rows, whichever order they ran in.
"""

import os
import time
from pathlib import Path

from django.test import SimpleTestCase, TransactionTestCase

from sample_app.models import TaggedRow

from .recording import record_this_process, wait_for_another_worker


class OwnDatabaseChecks:
    def test_rows_are_this_workers_only(self):
        pid = os.getpid()
        TaggedRow.objects.bulk_create(TaggedRow(pid=pid) for _ in range(3))
        record_this_process()
        wait_for_another_worker()
        # The other worker wrote its rows before recording itself; pausing
        # keeps this worker's rows in place while the other one looks.
        time.sleep(0.2)
        self.assertEqual(set(TaggedRow.objects.values_list("pid", flat=True)), {pid})

    def test_no_database_files_in_working_directory(self):
        # Upstream hands in-memory databases to spawned workers through
        # <alias>_<N>.sqlite3 files in the working directory.
        self.assertEqual(sorted(path.name for path in Path.cwd().glob("*.sqlite3")), [])


class OwnDatabaseTestsA(OwnDatabaseChecks, TransactionTestCase):
    pass


class OwnDatabaseTestsB(OwnDatabaseChecks, TransactionTestCase):
    pass


class OwnDatabaseTestsC(OwnDatabaseChecks, TransactionTestCase):
    pass


class OwnDatabaseTestsD(OwnDatabaseChecks, TransactionTestCase):
    pass


if "SAMPLE_WORKER_EXIT_CODE" in os.environ:

    class WorkerExitTests(SimpleTestCase):
        def test_worker_dies(self):
            os._exit(int(os.environ["SAMPLE_WORKER_EXIT_CODE"]))
