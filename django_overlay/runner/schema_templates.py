"""
--reuse-schema: an alias's test database cloned from a template of the
schema an earlier run migrated, while nothing that decides what migrate makes
has changed.

After migrating an alias's test database, the run keeps a copy of it, named
after the fingerprint of everything that decided what migrate made
(runner/schema_fingerprint.py). A later run whose fingerprint is the same
clones that copy instead of migrating, with the machinery that makes the
workers' clones (each backend's store, backends/schema_templates/: a
template database on a server, a file in the overlay's cache directory
for a file-based database). Anything changed
migrates, and says in one line what changed; the new template is kept beside
the older ones, of which the newest KEPT_TEMPLATES per alias stay (files:
the newest used). --drop-schema-templates drops them all first.

Two runs may build the same template at once (on a server, templates are
named after the alias's NAME, not its TEST NAME, so CI jobs with test
databases of their own share them): each copies the test database
under a name of its own (the template's followed by its process id) and then
renames it; the second rename finds the template made and drops its copy.
A template's name says what it is (backends/guard.py), and every drop and
every build goes through guard.check_template() first.

The pytest plugin also asks for spare copies of a template, where the
backend's store makes them cheaply into a test database (make_spare(),
clone_template()): a run ends by making its next run's.

Where and how a backend keeps templates is its store's
(backends/schema_templates/), which DatabaseCreation.schema_template_store()
returns; a backend that returns None keeps none, and is migrated.

A run without --reuse-schema neither reads nor makes templates: this module
is asked only while DiscoverRunner.setup_databases() runs with the option
(requested()), and then only by runner.alias_copies for a test database it is
about to create, not one --keepdb keeps.
"""

import json
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import switches
from ..backends import guard
from . import alias_copies, schema_fingerprint
from .atomic_files import write_atomically

ENVIRONMENT_VARIABLE = "DJANGO_TEST_REUSE_SCHEMA"
# Per alias: the newest two let a run on another branch, and back, reuse both.
KEPT_TEMPLATES = 2


@dataclass(frozen=True)
class Request:
    reuse: bool
    drop_all: bool
    fingerprints: dict = field(default_factory=dict)
    """{alias: fingerprint}, computed once while the request lasts, by
    whichever asks first."""


_request = None


def requested_reuse(option=False):
    """Whether --reuse-schema or DJANGO_TEST_REUSE_SCHEMA asks for templates."""
    return switches.requested(option, ENVIRONMENT_VARIABLE)


@contextmanager
def requested(reuse, drop_all):
    """While active, test databases created for their aliases use templates as asked."""
    global _request
    previous = _request
    _request = Request(reuse, drop_all) if reuse or drop_all else None
    try:
        yield
    finally:
        _request = previous


def active(connection):
    return _request is not None and connection.creation.schema_template_store() is not None


def create_test_db(connection, test_name, migrate, *, verbosity, serialize):
    """
    Make connection's test database test_name, which does not exist yet:
    cloned from the template of today's fingerprint, else by migrate()
    (upstream's create_test_db()) and then kept as that template. Return the
    test database's name.
    """
    store = connection.creation.schema_template_store()
    if _request.drop_all:
        for template in store.templates(building_too=True):
            store.drop(template)
        store.record_path.unlink(missing_ok=True)
    if not _request.reuse:
        return migrate()
    if unsupported := store.unsupported():
        _say(
            connection,
            verbosity,
            f"Migrating the test database for alias '{connection.alias}': {unsupported}.",
        )
        return migrate()
    parts = _fingerprint(store)
    template = store.name(schema_fingerprint.digest(parts))
    if store.exists(template):
        if _clone(store, template, test_name, verbosity=verbosity, serialize=serialize):
            return test_name
        reason = "cloning its template failed"
    else:
        reason = _why_not_kept(store, parts)
    _say(
        connection,
        verbosity,
        f"Migrating the test database for alias '{connection.alias}', "
        f"then keeping its schema as a template: {reason}.",
    )
    test_name = migrate()
    try:
        store.save(test_name, template)
    except guard.NotATestName:
        raise
    except Exception as error:
        # The run has its test database; the next one will try again.
        _say(connection, verbosity, f"Could not keep the schema template {template!r} ({error}).")
        return test_name
    write_atomically(
        store.record_path, lambda file: file.write(json.dumps({"parts": parts}).encode())
    )
    for old in store.templates()[KEPT_TEMPLATES:]:
        store.drop(old)
    return test_name


def kept_template(connection):
    """
    The template a test database of connection's alias would be cloned from
    now, or None (no reuse asked, the templates to be dropped, none kept of
    today's fingerprint): for copies made beside the test database from the
    same template, as the pytest plugin makes its workers' clones.
    """
    if _request is None or not _request.reuse or _request.drop_all or not active(connection):
        return None
    store = connection.creation.schema_template_store()
    if store.unsupported():
        return None
    template = store.name(schema_fingerprint.digest(_fingerprint(store)))
    return template if store.exists(template) else None


def _fingerprint(store):
    alias = store.connection.alias
    if alias not in _request.fingerprints:
        _request.fingerprints[alias] = store.fingerprint()
    return _request.fingerprints[alias]


def clone_template(connection, template, spare=None):
    """
    Make connection's database (its NAME, a checked test database's name,
    which is made afresh) a copy of template, on connection: one of this
    thread's own. Where the template's spare copy number spare is kept
    (make_spare()), that copy becomes the database instead of a new one.
    """
    store = connection.creation.schema_template_store()
    name = connection.settings_dict["NAME"]
    if connection.creation.test_db_exists(name):
        connection.creation._destroy_test_db(name, verbosity=0)
    if spare is None or not store.spares or not store.take_spare(template, spare, name):
        store.clone(template, name)
    store.used(template)


def make_spare(connection, template, number):
    """
    Where connection's store keeps spare copies, make template's copy number
    unless it is there: as a run ends, for the next run's clone_template(),
    which then renames a database instead of copying one while its workers
    start, when copies compete with them for the processors. On connection:
    one of this thread's own.
    """
    store = connection.creation.schema_template_store()
    if store.spares:
        store.make_spare(template, number)


def _why_not_kept(store, parts):
    try:
        earlier = json.loads(store.record_path.read_bytes())["parts"]
    except (OSError, ValueError, KeyError, TypeError):
        return "no template was kept yet"
    return schema_fingerprint.what_changed(earlier, parts) or "its template is gone"


def _clone(store, template, test_name, *, verbosity, serialize):
    """
    Make test_name a clone of template and finish it as upstream's
    create_test_db() does after migrate; False if that failed (said).
    """
    connection = store.connection

    def clone():
        store.clone(template, test_name)
        store.used(template)

    def failed(error):
        _say(connection, verbosity, f"Cloning the schema template {template!r} failed ({error}).")

    return alias_copies.copy_test_database(
        connection,
        test_name,
        clone,
        f"from its schema template {template!r}",
        failed,
        verbosity=verbosity,
        serialize=serialize,
    )


def _say(connection, verbosity, line):
    if verbosity >= 1:
        connection.creation.log(line)
