"""
What django.db.backends.base's DatabaseFeatures and DatabaseCreation answer
when the runner (runner/databases.py, runner/alias_copies.py,
runner/failed_setup.py, runner/worker.py) asks how to make, copy and drop a
backend's test databases. They are new names: uninstall() removes them again.

As in Django, the base owns the sequence and a backend opts in by answering:
a backend that answers nothing (Oracle, a third-party backend) is cloned,
destroyed and migrated one database after the other, as upstream does. The
flag and the hook of patches/0005 (can_clone_databases_concurrently,
close_test_db_connections()) are written as that patch has them.
"""

# Features.

can_clone_databases_concurrently = False
"""
Whether the test databases of parallel workers can be cloned and destroyed at
the same time, each in a thread on a connection of its own; the test
database names are checked by backends/guard.py before any is made. The
other hooks of this module are asked only where this is True.
"""

can_copy_test_databases = False
"""
Whether an alias's test database can be made a copy of another alias's on
the same server (runner/alias_copies.py), by DatabaseCreation.copy_test_db(),
checked with DatabaseCreation.test_db_columns_sql.
"""

drops_test_databases_together = False
"""
Whether teardown drops all of the backend's test databases at once, rather
than as many at a time as there are workers: where each drop waits for
something that drops waiting together share.
"""

test_databases_are_files = False
"""
Whether a test database is a file named by its path, rather than a database
on a server: there is no server to check for before setup, and names are
compared as files (backends/guard.py), never put into SQL.
"""


# Creation.


def close_test_db_connections(self):
    """
    Close this thread's connections to the test database, before other
    threads clone it.
    """
    self.connection.close()


def test_db_exists(self, database_name):
    """
    Whether database_name exists on the server, asked through the SQL
    standard's information_schema.
    """
    with self._nodb_cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [database_name]
        )
        return cursor.fetchone() is not None


def is_test_db_in_memory(self, database_name):
    """
    Whether database_name lives in memory, nowhere on a disk or a server: it
    has nothing to lose, and its clones are not named after it.
    """
    return False


def copy_test_db(self, target, target_database_name):
    """
    Make target_database_name, the test database of the connection target
    (already pointed at it), a copy of this connection's test database.
    Asked only where can_copy_test_databases is True.
    """
    raise NotImplementedError(
        "database backends with can_copy_test_databases = True must implement "
        "DatabaseCreation.copy_test_db()"
    )


test_db_columns_sql = None
"""
SQL selecting (table, column, type) of every column of every table of the
connection's database, ordered by table and then by the columns' order: the
copy of a test database is compared with its source by it.
"""


def schema_template_store(self):
    """
    Where --reuse-schema keeps this alias's schema templates (a store of
    backends/schema_templates/), or None where the backend keeps none.
    """
    return None


def worker_handover(self):
    """
    What a worker started afresh (spawn, forkserver) needs from the parent
    process to reach its copy of this alias's test database, picklable; None
    where it needs nothing but the settings.
    """
    return None


def take_worker_handover(self, handover):
    """In a worker started afresh: what worker_handover() gave in the parent."""
