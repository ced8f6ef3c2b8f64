"""
Test databases for pytest-xdist workers: one migrate per session, a clone per
worker, every database dropped by the controller when the session ends.

Who migrates: the controller, in a thread it starts before xdist starts the
workers, holding the session directory's lock; a worker waits for the lock
only when it needs its database, after starting and collecting. The workers'
start-up (a Python process each, importing the project, django.setup(),
collection) then overlaps the migrate instead of preceding it: measured by
bench/pytest_setup.py --phases, that start-up is most of the time before the
first test once the schema is reused. The controller migrates the default
alias only, eagerly: pytest-django creates test databases lazily, in its
session fixture django_db_setup, after the user's
django_db_modify_db_settings fixtures have run, and only for the aliases the
collected tests use, none of which the controller knows. So a worker clones
the controller's template only where its own settings for the alias, after
those fixtures, are the ones the controller migrated with (recorded in the
session's directory); anything else (another alias, a template of another
name or settings, a controller that failed or that --nomigrations kept from
migrating) the worker holding the lock migrates itself, as the first worker
did before the controller migrated.

The templates are made with the overlay's setup_databases() (the guard's
checks, aliases copied where they would be migrated alike, --reuse-schema's
templates) under the names pytest-django gives them without xdist
(test_<name>), and cloned with the backend's clone_test_db(), the overlay's
cloning (PostgreSQL's template with WAL_LOG, MariaDB's copy in the server,
SQLite's file copy), into the name pytest-django gives each worker's
database, test_<name>_gw<N>. The controller clones for gw0 to gw<N - 1>
itself, all at once, before it releases the lock (with --reuse-schema, where
a schema template of today's fingerprint is kept, it copies that template
into the workers' databases instead, and makes no test_<name> unless a copy
failed; where the backend keeps them, the spare copies of the template that
the last run made as it ended, make_spares(), become the workers' databases
without copying), and a worker takes the clones made for it where they are
of its settings; otherwise, and in a worker that xdist starts in place of a
crashed one (which has an id of its own), the worker makes the templates it
lacks under the lock and clones, outside it, over whatever was there.

Every name is recorded in the session's directory before its database is
made, and the controller drops whatever of them exists once the workers are
gone (pytest_sessionfinish runs after Ctrl-C too, and waits for the
controller's migrate first), each name checked by the guard first; it keeps
the templates with --reuse-db.

An in-memory SQLite test database (SQLite's default) is one per process
under the same name, which pytest-django does not rename per worker: the
process that migrates it (the controller, else the first worker to need it)
writes it to a file in the session's directory, SNAPSHOT, and every worker
loads that into its own in-memory database with SQLite's backup(), as the
overlay's spawned workers load theirs under manage.py test; a worker xdist
starts in place of a crashed one loads it afresh. Nothing is left to drop.

Otherwise cloning needs the backend's clone name to be pytest-django's: the
test database's name followed by _gw<N>. Where it is not (a SQLite file with
an extension; Oracle; in-memory and server databases mixed), every worker
migrates its own databases, as without the plugin.
"""

import fcntl
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections
from django.test import utils as test_utils

from ..backends import guard
from ..runner import databases, schema_templates

# In the session directory: the templates' names, written before they are
# made, and the templates migrated, each with the settings it was migrated with.
TEMPLATES = "templates.json"
MIGRATED = "migrated.json"
# The clones the controller made, per worker, with their templates' settings,
# and the mark a worker leaves when it takes its clones: a worker that
# replaces a crashed one has an id of its own, but even so none takes a clone
# that another used.
MADE_AHEAD = "made-ahead.json"
TAKEN = "taken-{worker_id}"
# An in-memory SQLite alias's test database, once migrated: what every worker loads.
SNAPSHOT = "memory-{alias}.sqlite3"


def start_migrating(session_directory, workers, *, verbosity, keepdb, unblocked):
    """
    In the controller, before xdist starts the workers: take the session's
    lock and return a started thread that migrates the default alias's
    template and clones it for the workers (gw0 to gw<workers - 1>), then
    releases the lock. Join it before tear_down(). Returns None where the
    default alias cannot be cloned under pytest-django's names (the workers
    migrate, as without the plugin).
    """
    test_databases, _mirrors = test_utils.get_unique_databases_and_mirrors([DEFAULT_DB_ALIAS])
    templates = [
        (connections[group[0]].creation._get_test_db_name(), group)
        for _name, group in test_databases.values()
    ]
    worker_ids = [f"gw{index}" for index in range(workers)]
    in_memory = _in_memory(templates)
    if not worker_ids or not (
        in_memory
        or all(
            _clones_as_pytest_django(connections[group[0]], template, f"{template}_{worker_ids[0]}")
            for template, group in templates
        )
    ):
        return None
    if not in_memory:
        # The names of what the thread makes, and the workers' clones:
        # in memory, a snapshot file of the session's and nothing else.
        guard.remember_real_names(
            {alias: connections[alias].settings_dict for alias in connections}
        )
        for template, group in templates:
            for name in [template, *(f"{template}_{worker_id}" for worker_id in worker_ids)]:
                guard.remember_test_name(group[0], name)
                databases.check_name(connections[group[0]], name)
    session = Path(session_directory)
    lock = _lock(session)
    thread = threading.Thread(
        target=_migrate_ahead,
        args=(session, lock, templates, worker_ids),
        kwargs={"verbosity": verbosity, "keepdb": keepdb, "unblocked": unblocked},
        name="django_overlay migrate",
        daemon=True,
    )
    thread.start()
    return thread


def _migrate_ahead(session, lock, templates, worker_ids, *, verbosity, keepdb, unblocked):
    # The aliases' settings are shared between threads, and setup_databases()
    # renames them to the test databases': the controller's stay the real ones.
    real_names = {alias: connections[alias].settings_dict["NAME"] for alias in connections}
    try:
        if _in_memory(templates):
            with unblocked():
                _migrate_in_memory(session, templates, verbosity=verbosity, keepdb=keepdb)
            return
        with unblocked(), ThreadPoolExecutor(thread_name_prefix="django_overlay clone") as pool:
            for worker_id in worker_ids:
                names = [f"{template}_{worker_id}" for template, _group in templates]
                _record(session / f"clones-{worker_id}.json", {"databases": names})
            early = {} if keepdb else _clone_kept_templates(pool, templates, worker_ids)
            copied = {clone for clone, future in early.items() if future.result()}
            # Where every worker's database is a copy of a kept template
            # already, no worker needs the test database: one that does (in
            # place of a crashed worker) makes it from the kept template.
            if len(copied) < len(templates) * len(worker_ids):
                _migrate(session, templates, verbosity=verbosity, keepdb=keepdb)
                # PostgreSQL copies no template that has a session.
                for connection in connections.all():
                    connection.close()
            _clone_ahead(session, templates, worker_ids, verbosity=verbosity, copied=copied)
    except Exception:
        # Not the run's error yet: with no template recorded the first worker
        # migrates itself, and reports the error if it happens again.
        pass
    finally:
        for alias, name in real_names.items():
            connections[alias].settings_dict["NAME"] = name
            connections[alias].close()
        os.close(lock)


def _clone_kept_templates(pool, templates, worker_ids):
    """
    With --reuse-schema, where an alias's schema template of today's
    fingerprint is kept: start copying it into every worker's database on
    pool, instead of cloning the alias's test database for them after making
    it. Returns {clone name: future of whether it was made}.
    """
    kept = {
        template: schema_templates.kept_template(connections[group[0]])
        for template, group in templates
    }
    early = {}
    for number, worker_id in enumerate(worker_ids):
        for template, group in templates:
            if kept[template]:
                connection = connections[group[0]]
                early[f"{template}_{worker_id}"] = pool.submit(
                    _clone_kept,
                    connection,
                    f"{template}_{worker_id}",
                    kept[template],
                    number,
                )
    return early


def _clone_kept(connection, name, kept, number):
    """
    Copy the schema template kept into the database name, or take its spare
    copy number (made as the last run ended); False if that failed.
    """
    connection = _connection_to(connection, name)
    try:
        schema_templates.clone_template(connection, kept, spare=number)
        return True
    except Exception:
        # The template may have gone meanwhile (another run keeps the newest
        # two): the worker's clone is made from the test database instead.
        return False
    finally:
        connection.close()


def _clone_ahead(session, templates, worker_ids, *, verbosity, copied):
    """
    Clone the migrated templates for every worker, all at once, while the
    workers start: each worker then finds its databases made. The clones
    named in copied were copied from schema templates already; every clone's
    name is recorded before.
    """
    jobs = [
        partial(_clone, connections[group[0]], template, worker_id, verbosity)
        for worker_id in worker_ids
        for template, group in templates
        if f"{template}_{worker_id}" not in copied
    ]
    databases.run_concurrently(jobs, len(jobs))
    made = {template: _settings_key(connections[group[0]]) for template, group in templates}
    _record(session / MADE_AHEAD, {worker_id: made for worker_id in worker_ids})


def _clone(connection, template, worker_id, verbosity):
    """Clone template for worker_id, on a connection of this thread's own."""
    source = _connection_to(connection, template)
    try:
        source.creation.clone_test_db(suffix=worker_id, verbosity=verbosity)
    finally:
        source.close()


def _take_made_ahead(session, worker_id, templates):
    """
    Whether the controller made this worker's clones, of templates with the
    worker's settings, and no other worker took them: then they are this
    worker's.
    """
    made = _read(session / MADE_AHEAD, {}).get(worker_id)
    if made != {template: _settings_key(connections[group[0]]) for template, group in templates}:
        return False
    try:
        os.close(os.open(session / TAKEN.format(worker_id=worker_id), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


def set_up(session_directory, worker_id, *, verbosity, keepdb, aliases, serialized_aliases):
    """
    Point this worker's connections at its clones (in memory, at its copies
    of the snapshots), migrating the templates first if no process has yet.
    Returns False, having done nothing, where the databases can be neither
    cloned under pytest-django's names nor loaded.
    """
    guard.remember_real_names({alias: connections[alias].settings_dict for alias in connections})
    test_databases, mirrors = test_utils.get_unique_databases_and_mirrors(aliases)
    session = Path(session_directory)
    if not _set_up_databases(session, worker_id, test_databases, verbosity, keepdb):
        return False
    for alias, mirror_alias in mirrors.items():
        connections[alias].creation.set_as_test_mirror(connections[mirror_alias].settings_dict)
    for _name, group in test_databases.values():
        if serialized_aliases is None or group[0] in serialized_aliases:
            connection = connections[group[0]]
            connection._test_serialized_contents = connection.creation.serialize_db_to_string()
    return True


def _set_up_databases(session, worker_id, test_databases, verbosity, keepdb):
    """
    Point this worker's connections at their databases: loaded from the
    snapshots in memory, or clones. False, having done nothing, where they
    can be neither.
    """
    groups = [
        (connections[group[0]].creation._get_test_db_name(), group)
        for _name, group in test_databases.values()
    ]
    if _in_memory(groups):
        with _locked(session):
            _load_snapshots(session, groups, verbosity=verbosity, keepdb=keepdb)
        return True
    plans = [_plan(connections[group[0]], worker_id) for _name, group in test_databases.values()]
    if not all(plans):
        return False
    for (template, clone), (_name, group) in zip(plans, test_databases.values(), strict=True):
        for alias in group:
            connections[alias].settings_dict["TEST"]["NAME"] = template
        for name in (template, clone):
            guard.remember_test_name(group[0], name)
            databases.check_name(connections[group[0]], name)
    templates = [
        (template, group)
        for (template, _clone), (_name, group) in zip(plans, test_databases.values(), strict=True)
    ]
    with _locked(session):
        made_ahead = _take_made_ahead(session, worker_id, templates)
        if not made_ahead:
            # A worker that died while migrating recorded nothing migrated: migrate again.
            _migrate(session, templates, verbosity=verbosity, keepdb=keepdb)
            for connection in connections.all():
                connection.close()
    _record(session / f"clones-{worker_id}.json", {"databases": _names(plans, 1)})
    for (template, clone), (_name, group) in zip(plans, test_databases.values(), strict=True):
        if not made_ahead:
            _clone(connections[group[0]], template, worker_id, verbosity)
        for alias in group:
            connections[alias].settings_dict["TEST"]["NAME"] = clone
            _use(connections[alias], clone)
    return True


def _in_memory(templates):
    """Whether every (test database name, aliases) of templates is an in-memory SQLite one."""
    return bool(templates) and all(
        connections[group[0]].vendor == "sqlite"
        and connections[group[0]].creation.is_in_memory_db(template)
        for template, group in templates
    )


def _migrate_in_memory(session, templates, *, verbosity, keepdb):
    """
    Under the session's lock: migrate the in-memory (test database name,
    aliases) templates in this process and write each to its snapshot.
    """
    _set_up_here(templates, verbosity=verbosity, keepdb=keepdb)
    migrated = _read(session / MIGRATED, {})
    for template, group in templates:
        connection = connections[group[0]]
        connection.ensure_connection()
        snapshot = connection.Database.connect(session / SNAPSHOT.format(alias=group[0]))
        try:
            connection.connection.backup(snapshot)
        finally:
            snapshot.close()
        migrated[template] = _settings_key(connection)
    _record(session / MIGRATED, migrated)


def _load_snapshots(session, templates, *, verbosity, keepdb):
    """
    Under the session's lock: load this worker's in-memory test databases
    from the snapshots of its aliases' settings, migrating (and writing the
    snapshots of) those that no process has yet.
    """
    migrated = _read(session / MIGRATED, {})
    missing = [
        (template, group)
        for template, group in templates
        if migrated.get(template) != _settings_key(connections[group[0]])
        or not (session / SNAPSHOT.format(alias=group[0])).exists()
    ]
    if missing:
        _migrate_in_memory(session, missing, verbosity=verbosity, keepdb=keepdb)
    # Imported here: a run on a database server never loads SQLite's.
    from ..backends.sqlite3 import load_in_memory

    for template, group in templates:
        if (template, group) in missing:
            continue
        for alias in group:
            connections[alias].settings_dict["TEST"]["NAME"] = template
            _use(connections[alias], template)
        load_in_memory(connections[group[0]], session / SNAPSHOT.format(alias=group[0]), template)


def _migrate(session, templates, *, verbosity, keepdb):
    """
    Under the session's lock: make the (template, aliases) templates that no
    process has migrated yet with their aliases' present settings.
    """
    migrated = _read(session / MIGRATED, {})
    missing = [
        (template, group)
        for template, group in templates
        if migrated.get(template) != _settings_key(connections[group[0]])
    ]
    if not missing:
        return
    recorded = _read(session / TEMPLATES, {"keepdb": keepdb, "databases": []})
    names = set(recorded["databases"]) | {template for template, _group in missing}
    _record(session / TEMPLATES, {"keepdb": keepdb, "databases": sorted(names)})
    keys = {template: _settings_key(connections[group[0]]) for template, group in missing}
    _set_up_here(missing, verbosity=verbosity, keepdb=keepdb)
    _record(session / MIGRATED, {**migrated, **keys})


def _set_up_here(templates, *, verbosity, keepdb):
    """
    Make the (test database name, aliases) templates in this process, with
    the overlay's setup_databases(). Never serialized: each worker
    serializes its own database.
    """
    databases.setup_databases(
        verbosity,
        False,
        keepdb=keepdb,
        aliases=[alias for _template, group in templates for alias in group],
        serialized_aliases=(),
    )


def _settings_key(connection):
    """An alias's settings but its names: what a template was migrated with."""
    settings = connection.settings_dict
    return json.dumps(
        {**settings, "NAME": None, "TEST": {**settings["TEST"], "NAME": None}},
        sort_keys=True,
        default=str,
    )


def _plan(connection, worker_id):
    """(template, clone) names for a test database pytest-django has renamed for worker_id."""
    clone = connection.creation._get_test_db_name()
    template = clone.removesuffix(f"_{worker_id}")
    if template == clone or not _clones_as_pytest_django(connection, template, clone):
        return None
    return (template, clone)


def _clones_as_pytest_django(connection, template, clone):
    """Whether the backend's clone of template for a worker is named clone."""
    if not connection.features.can_clone_databases_concurrently:
        return False
    worker_id = clone.removeprefix(f"{template}_")
    return (
        _connection_to(connection, template).creation.get_test_db_clone_settings(worker_id)["NAME"]
        == clone
    )


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
    """Hold the session directory's lock: one process migrates, the others wait."""
    descriptor = _lock(directory)
    try:
        yield
    finally:
        os.close(descriptor)


def _lock(directory):
    """The session directory's lock, taken: closing the descriptor releases it."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _record(path, content):
    path.write_text(json.dumps(content))


def _read(path, default):
    return json.loads(path.read_text()) if path.exists() else default


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


def make_spares(count):
    """
    In the controller, as the session ends, with --reuse-schema: make the
    default alias's kept template's spare copies 0 to count - 1, where its
    backend keeps them, for the next run's workers (_clone_kept()).
    """
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        kept = schema_templates.kept_template(connection)
    except Exception:
        # The server went away, say: the next run copies the template.
        return
    if kept and connection.creation.schema_template_store().spares:
        jobs = [partial(_make_spare, connection, kept, number) for number in range(count)]
        databases.run_concurrently(jobs, count)


def _make_spare(connection, kept, number):
    own = _connection_to(connection, connection.settings_dict["NAME"])
    try:
        schema_templates.make_spare(own, kept, number)
    except Exception:
        # The next run copies the template where this copy is missing.
        pass
    finally:
        own.close()


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
