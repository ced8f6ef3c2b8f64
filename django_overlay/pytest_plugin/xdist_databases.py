"""
Test databases for pytest-xdist workers: one migrate per session, a clone per
worker, every database dropped by the controller when the session ends.

Who migrates: the first worker that needs a database, under a lock in the
session's directory, not the controller. pytest-django creates test databases
lazily, in its session fixture django_db_setup, after the user's
django_db_modify_db_settings fixtures have run, and only when a collected
test uses the database: the controller runs no fixtures and collects no
tests, so it could only migrate eagerly, with settings the workers may then
change, before the workers even start. A worker migrating under the lock
keeps all of that, and the other workers start and collect meanwhile.

The migrating worker makes the aliases' test databases with the overlay's
setup_databases() (the guard's checks, aliases copied where they would be
migrated alike) under the names pytest-django gives them without xdist
(test_<name>): these are the templates. Then every worker, the migrating one
included and outside the lock, so all at once, clones each template with the
backend's clone_test_db(), the overlay's cloning (PostgreSQL's template with
WAL_LOG, MariaDB's copy in the server, SQLite's file copy), into the name
pytest-django gives that worker's database, test_<name>_gw<N>. A worker that
xdist starts in place of a crashed one clones again, over what was left.

Every name is recorded in the session's directory before its database is
made, and the controller drops whatever of them exists once the workers are
gone (pytest_sessionfinish runs after Ctrl-C too), each name checked by the
guard first; it keeps the templates with --reuse-db.

Cloning needs the backend's clone name to be pytest-django's: the test
database's name followed by _gw<N>. Where it is not (an in-memory SQLite test
database, which pytest-django does not rename per worker; a SQLite file with
an extension; Oracle), every worker migrates its own databases, as without
the plugin.
"""

import fcntl
import json
import os
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from django.db import connections
from django.test import utils as test_utils

from ..backends import guard
from ..runner import databases

# In the session directory: the templates' names, written before they are
# made, and the mark that they are migrated.
TEMPLATES = "templates.json"
MIGRATED = "migrated"


def set_up(session_directory, worker_id, *, verbosity, keepdb, aliases, serialized_aliases):
    """
    Point this worker's connections at its clones, migrating the templates
    first if no worker has yet. Returns False, having done nothing, where the
    databases cannot be cloned under pytest-django's names.
    """
    guard.remember_real_names({alias: connections[alias].settings_dict for alias in connections})
    test_databases, mirrors = test_utils.get_unique_databases_and_mirrors(aliases)
    plans = [_plan(connections[group[0]], worker_id) for _name, group in test_databases.values()]
    if not all(plans):
        return False
    for (template, clone), (_name, group) in zip(plans, test_databases.values(), strict=True):
        for alias in group:
            connections[alias].settings_dict["TEST"]["NAME"] = template
        for name in (template, clone):
            guard.remember_test_name(group[0], name)
            databases.check_name(connections[group[0]], name)
    session = Path(session_directory)
    with _locked(session):
        # A worker that died while migrating left no MIGRATED: migrate again.
        if not (session / MIGRATED).exists():
            _record(session / TEMPLATES, {"keepdb": keepdb, "databases": _names(plans, 0)})
            databases.setup_databases(
                verbosity,
                False,
                keepdb=keepdb,
                aliases=aliases,
                serialized_aliases=serialized_aliases,
            )
            for connection in connections.all():
                connection.close()
            (session / MIGRATED).touch()
    _record(session / f"clones-{worker_id}.json", {"databases": _names(plans, 1)})
    for (template, clone), (_name, group) in zip(plans, test_databases.values(), strict=True):
        source = _connection_to(connections[group[0]], template)
        try:
            source.creation.clone_test_db(suffix=worker_id, verbosity=verbosity)
        finally:
            source.close()
        for alias in group:
            connections[alias].settings_dict["TEST"]["NAME"] = clone
            _use(connections[alias], clone)
    for alias, mirror_alias in mirrors.items():
        connections[alias].creation.set_as_test_mirror(connections[mirror_alias].settings_dict)
    for _name, group in test_databases.values():
        if serialized_aliases is None or group[0] in serialized_aliases:
            connection = connections[group[0]]
            connection._test_serialized_contents = connection.creation.serialize_db_to_string()
    return True


def _plan(connection, worker_id):
    """(template, clone) names for a test database pytest-django has renamed for worker_id."""
    clone = connection.creation._get_test_db_name()
    template = clone.removesuffix(f"_{worker_id}")
    if not connection.features.can_clone_databases_concurrently or template == clone:
        return None
    clone_settings = _connection_to(connection, template).creation.get_test_db_clone_settings(
        worker_id
    )
    return (template, clone) if clone_settings["NAME"] == clone else None


def _names(plans, index):
    return [plan[index] for plan in plans]


def _connection_to(connection, name):
    """A connection of connection's alias to the database name, for this thread."""
    return type(connection)({**connection.settings_dict, "NAME": name}, alias=connection.alias)


def _use(connection, name):
    connection.close()
    connection.settings_dict["NAME"] = name


@contextmanager
def _locked(directory):
    """Hold the session directory's lock: the first worker migrates, the others wait."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _record(path, content):
    path.write_text(json.dumps(content))


def tear_down(session_directory, *, verbosity, workers):
    """
    In the controller, once the workers are gone: drop every clone and
    template the workers recorded that exists, but the templates kept by
    --reuse-db. Aliases are matched by their settings: every recorded name is
    checked by the guard against the real databases' names first.
    """
    session = Path(session_directory)
    names = set()
    for path in session.glob("clones-*.json"):
        names.update(json.loads(path.read_text())["databases"])
    if (session / TEMPLATES).exists():
        templates = json.loads((session / TEMPLATES).read_text())
        if not templates["keepdb"]:
            names.update(templates["databases"])
    guard.remember_real_names({alias: connections[alias].settings_dict for alias in connections})
    drops = []
    for name in sorted(names):
        connection = _owner(name)
        guard.remember_test_name(connection.alias, name)
        databases.check_name(connection, name)
        own = _connection_to(connection, name)
        try:
            if own.creation.test_db_exists(name):
                job = partial(
                    databases.on_own_connection, own, "destroy_test_db", verbosity=verbosity
                )
                drops.append((own, job))
        finally:
            own.close()
    databases.drop_databases(drops, workers)


def _owner(name):
    """The connection whose test database's name is the longest start of name."""
    owners = [
        (len(test_name), connection)
        for connection in connections.all()
        if name.startswith(test_name := connection.creation._get_test_db_name())
    ]
    if owners:
        return max(owners, key=lambda owner: owner[0])[1]
    raise guard.NotATestName(
        f"Refusing to drop the database {name!r}: no alias's test database is named so. "
        "Nothing was dropped."
    )
