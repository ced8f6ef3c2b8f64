"""
Replacements for django.db.backends.sqlite3.creation.DatabaseCreation, and
what SQLite's DatabaseFeatures and DatabaseCreation answer to the runner's
questions (backends/base.py).

Under spawn and forkserver a worker cannot inherit the parent's in-memory test
database, so it must be handed over through a file. Upstream writes one
``<alias>_<worker>.sqlite3`` per worker into the current directory and leaves
them there if the run is interrupted. The overlay writes one snapshot per
alias into a private temporary directory (mode 0700), which every worker
copies into its own in-memory database, and removes it at teardown or, failing
that, when the process exits.

File-based test databases keep upstream's behaviour: one copy per worker
beside the test database, removed at teardown.
"""

import atexit
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
import threading

from django.db import NotSupportedError

from .. import patches
from ..start_method import starts_fresh

# Set in the parent when the first snapshot is written, and in each worker
# from what the parent hands over. It keeps its value after teardown removes
# the directory, so that a late call for a clone's NAME creates nothing.
_snapshot_directory = None
# The workers' clones are made concurrently (runner.databases); an alias's
# snapshot is written by the first of them.
_snapshot_lock = threading.Lock()


# In memory too: the test database is a shared-cache one, which a thread's
# connection of its own opens by name, and writing its snapshot is locked.
can_clone_databases_concurrently = True
can_copy_test_databases = True
test_databases_are_files = True
test_db_columns_sql = (
    "SELECT m.name, c.name, c.type FROM sqlite_master AS m "
    "JOIN pragma_table_info(m.name) AS c WHERE m.type = 'table' ORDER BY m.name, c.cid"
)


def test_db_exists(self, database_name):
    return not self.is_in_memory_db(database_name) and os.path.exists(database_name)


def is_test_db_in_memory(self, database_name):
    return self.is_in_memory_db(database_name)


def copy_test_db(self, target, target_database_name):
    # An in-memory database lives while a connection holds it: target's own.
    self.connection.ensure_connection()
    target.ensure_connection()
    self.connection.connection.backup(target.connection)


def snapshot_directory():
    """The run's private directory for snapshots, made when first needed."""
    global _snapshot_directory
    if _snapshot_directory is None or not os.path.isdir(_snapshot_directory):
        _snapshot_directory = tempfile.mkdtemp(prefix="django-overlay-sqlite-")
        atexit.register(_remove_directory, _snapshot_directory, os.getpid())
    return _snapshot_directory


def worker_handover(self):
    """What a worker needs to find the snapshots, or None if none were written."""
    return _snapshot_directory


def take_worker_handover(self, handover):
    """In a worker: read snapshots from the directory the parent wrote them to."""
    global _snapshot_directory
    _snapshot_directory = handover


def _remove_directory(path, owner_pid):
    # Forked children inherit atexit handlers; only the creator cleans up.
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)


def _snapshot_path(alias):
    directory = _snapshot_directory or snapshot_directory()
    return os.path.join(directory, f"{alias}.sqlite3")


def _hands_over_through_snapshot(creation, database_name):
    return creation.is_in_memory_db(database_name) and starts_fresh()


def get_test_db_clone_settings(self, suffix):
    """
    For an in-memory database under spawn or forkserver, NAME is the alias's
    snapshot, the file each worker loads its own in-memory copy from.
    """
    settings_dict = self.connection.settings_dict
    source_name = settings_dict["NAME"] or ":memory:"
    if not self.is_in_memory_db(source_name):
        root, extension = os.path.splitext(source_name)
        return {**settings_dict, "NAME": f"{root}_{suffix}{extension}"}
    start_method = multiprocessing.get_start_method()
    if start_method == "fork":
        return settings_dict
    if start_method in {"forkserver", "spawn"}:
        return {**settings_dict, "NAME": _snapshot_path(self.connection.alias)}
    raise NotSupportedError(f"Cloning with start method {start_method!r} is not supported.")


def _clone_test_db(self, suffix, verbosity, keepdb=False):
    """Write the alias's snapshot once, however many workers will load it."""
    if not _hands_over_through_snapshot(self, self.connection.settings_dict["NAME"]):
        return patches.original(_clone_test_db)(self, suffix, verbosity, keepdb)
    with _snapshot_lock:
        snapshot_directory()
        path = self.get_test_db_clone_settings(suffix)["NAME"]
        if os.path.exists(path):
            return
        self.connection.ensure_connection()
        snapshot = sqlite3.connect(path)
        try:
            self.connection.connection.backup(snapshot)
        finally:
            snapshot.close()


def _destroy_test_db(self, test_database_name, verbosity):
    """
    A snapshot is shared by the alias's workers: it goes with the alias's own
    test database, which Django destroys after all of the clones.
    """
    if self.is_in_memory_db(test_database_name):
        if _snapshot_directory is not None:
            _discard_snapshot(self.connection.alias)
    elif not _is_snapshot(test_database_name):
        patches.original(_destroy_test_db)(self, test_database_name, verbosity)


def _is_snapshot(path):
    return _snapshot_directory is not None and os.path.dirname(path) == _snapshot_directory


def _discard_snapshot(alias):
    try:
        os.remove(_snapshot_path(alias))
        if not os.listdir(_snapshot_directory):
            os.rmdir(_snapshot_directory)
    except FileNotFoundError:
        pass


def setup_worker_connection(self, _worker_id):
    """
    Point this worker's connection at its own database. Under fork it already
    has a copy; under spawn and forkserver it loads one into memory from the
    snapshot (in-memory) or from its per-worker file (file-based).
    """
    clone_settings = self.get_test_db_clone_settings(_worker_id)
    if multiprocessing.get_start_method() == "fork":
        self.connection.settings_dict.update(clone_settings)
        self.connection.close()
        return
    in_memory_name = f"file:memorydb_{self.connection.alias}_{_worker_id}?mode=memory&cache=shared"
    self.connection.settings_dict.update(clone_settings)
    load_in_memory(self.connection, clone_settings["NAME"], in_memory_name)


def load_in_memory(connection, path, name):
    """
    Point connection at the shared-cache in-memory database name, filled
    from the SQLite file at path: a worker's own copy of a snapshot.
    """
    source = connection.Database.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(name, uri=True)
    try:
        source.backup(target)
    finally:
        source.close()
    connection.settings_dict["NAME"] = name
    # The shared-cache database lives while a connection holds it: open
    # Django's before closing the one that filled it.
    connection.connect()
    target.close()


def schema_template_store(self):
    # Imported here: a store reads the project's apps and migrations, which
    # only --reuse-schema needs.
    from .schema_templates.sqlite3 import SQLiteTemplates

    return SQLiteTemplates(self.connection)
