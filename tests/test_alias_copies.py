"""
Two aliases on one server that migrate alike: the second's test database is
a copy of the first's, not migrated again, and it is what migrating would
have made (runner/alias_copies.py). On a SQLite file, PostgreSQL and
MariaDB, with the contrib apps auth and contenttypes installed, whose
migrations and post_migrate handlers make tables and rows.

Which aliases were migrated is what pre_migrate was sent for: migrate sends
it, a copy does not.
"""

import sqlite3

import pytest
from django.db import connections
from django.db.models.signals import pre_migrate
from django.test import override_settings
from django.test import utils as test_utils

from db_fixtures import PID, django_settings, overlay, server_settings, use_databases  # noqa: F401
from django_overlay import patches
from django_overlay.backends.guard import NotATestName
from django_overlay.runner import databases
from test_clone_exactness import SERVERS, sqlite_describe

APPS = ["django.contrib.contenttypes", "django.contrib.auth"]


class NoAuthOnOther:
    """Auth's tables everywhere but on the alias other."""

    def allow_migrate(self, db, app_label, **hints):
        return False if db == "other" and app_label == "auth" else None


class SQLiteFiles:
    kind = "sqlite"

    def __init__(self, directory):
        self.directory = directory
        self.settings = {"ENGINE": "django.db.backends.sqlite3"}
        self.made = []

    def aliases(self, name):
        return {
            alias: {
                **self.settings,
                "NAME": str(self.directory / f"{name}{suffix}.sqlite3"),
                "TEST": {"NAME": str(self.directory / f"test_{name}{suffix}.sqlite3")},
            }
            for alias, suffix in (("default", ""), ("other", "_other"))
        }

    def databases(self):
        return {path.name.removesuffix(".sqlite3") for path in self.directory.iterdir()}

    def describe(self, name):
        connection = sqlite3.connect(self.directory / f"{name}.sqlite3")
        try:
            master, rows = sqlite_describe(connection)
        finally:
            connection.close()
        return {"master": master, "rows": rows}

    def execute(self, name, statement):
        connection = sqlite3.connect(self.directory / f"{name}.sqlite3")
        connection.execute(statement)
        connection.commit()
        connection.close()

    def drop(self, name):
        (self.directory / f"{name}.sqlite3").unlink(missing_ok=True)


def server_aliases(server, name):
    return {
        "default": {**server.settings, "NAME": name},
        "other": {**server.settings, "NAME": f"{name}_other"},
    }


def execute(server, name, statement):
    if server.kind == "sqlite":
        server.execute(name, statement)
    elif server.kind == "postgresql":
        with server.connect(name) as connection:
            connection.execute(statement)
    else:
        server.query(statement, database=name)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        backend = SQLiteFiles(tmp_path)
    else:
        backend = SERVERS[request.param]()
        backend.made = []
        backend.aliases = lambda name: server_aliases(backend, name)
    yield backend
    for name in backend.made:
        backend.drop(name)


@pytest.fixture
def contrib_apps():
    with override_settings(INSTALLED_APPS=APPS):
        yield


@pytest.fixture
def migrated():
    """The aliases pre_migrate is sent for, in order."""
    aliases = []

    def record(sender, using, **kwargs):
        if using not in aliases:
            aliases.append(using)

    pre_migrate.connect(record, weak=False)
    yield aliases
    pre_migrate.disconnect(record)


def names(backend, name):
    """The test databases of default and other, which the test will drop if left."""
    test_names = [f"test_{name}", f"test_{name}_other"]
    backend.made += test_names
    return test_names


def setup(keepdb=False, verbosity=1):
    return test_utils.setup_databases(
        verbosity=verbosity, interactive=False, keepdb=keepdb, parallel=0
    )


def without_applied_times(described):
    """django_migrations' applied column is when migrate ran: the one thing it may differ in."""
    rows = dict(described["rows"])
    rows["django_migrations"] = [row[:3] for row in rows["django_migrations"]]
    return {**described, "rows": rows}


def test_identical_alias_is_copied(backend, use_databases, contrib_apps, migrated, capsys):
    name = f"overlay_copy_{PID}"
    test_default, test_other = names(backend, name)
    use_databases(backend.aliases(name))
    patches.install()
    try:
        old_config = setup()
        copied = backend.describe(test_other)
        assert copied == backend.describe(test_default)
        test_utils.teardown_databases(old_config, verbosity=0)
    finally:
        patches.uninstall()
    assert migrated == ["default"]
    assert "for alias 'other' as a copy of 'default'..." in capsys.readouterr().err
    # What upstream makes, migrating other too.
    migrated.clear()
    old_config = setup(verbosity=0)
    try:
        assert without_applied_times(backend.describe(test_other)) == without_applied_times(copied)
    finally:
        test_utils.teardown_databases(old_config, verbosity=0)
    assert migrated == ["default", "other"]
    assert backend.databases() & {test_default, test_other} == set()


def test_serialized_contents_are_other_s(use_databases, contrib_apps, overlay, tmp_path):
    """setup_databases() serializes other's contents as upstream would: auth's permissions."""
    backend = SQLiteFiles(tmp_path)
    use_databases(backend.aliases(f"overlay_serialize_{PID}"))
    old_config = setup(verbosity=0)
    try:
        contents = connections["other"]._test_serialized_contents
        assert '"model": "auth.permission"' in contents
        assert contents == connections["default"]._test_serialized_contents
    finally:
        test_utils.teardown_databases(old_config, verbosity=0)


def test_routers_that_differ_migrate(
    backend, use_databases, contrib_apps, migrated, overlay, capsys
):
    name = f"overlay_routed_{PID}"
    test_default, test_other = names(backend, name)
    use_databases(backend.aliases(name))
    with override_settings(DATABASE_ROUTERS=[NoAuthOnOther()]):
        old_config = setup()
        try:
            described = backend.describe(test_other)
        finally:
            test_utils.teardown_databases(old_config, verbosity=0)
    assert migrated == ["default", "other"]
    tables = described.get("tables") or described["master"]
    assert not any("auth_user" in str(table) for table in tables)
    assert "the routers may not treat it as 'default'" in capsys.readouterr().err
    assert backend.databases() & {test_default, test_other} == set()


def test_routers_that_agree_still_copy(use_databases, contrib_apps, migrated, overlay, tmp_path):
    """A router that defines allow_migrate but answers alike for both aliases."""
    backend = SQLiteFiles(tmp_path)
    use_databases(backend.aliases(f"overlay_agree_{PID}"))

    class AuthOnlyOnDefaultAndOther:
        def allow_migrate(self, db, app_label, **hints):
            return db in {"default", "other"} or None

    with override_settings(DATABASE_ROUTERS=[AuthOnlyOnDefaultAndOther()]):
        test_utils.teardown_databases(setup(verbosity=0), verbosity=0)
    assert migrated == ["default"]


def test_keepdb_keeps_other(backend, use_databases, contrib_apps, migrated, overlay, capsys):
    """
    A kept copy is kept, and brought up to date by migrate, as upstream does,
    even where default's test database is made afresh and could be copied.
    """
    name = f"overlay_keepcopy_{PID}"
    test_default, test_other = names(backend, name)
    use_databases(backend.aliases(name))
    test_utils.teardown_databases(setup(keepdb=True), verbosity=0, keepdb=True)
    assert migrated == ["default"]
    assert backend.databases() >= {test_default, test_other}
    execute(
        backend,
        test_other,
        "INSERT INTO django_content_type (app_label, model) VALUES ('kept', 'only_in_other')",
    )
    backend.drop(test_default)
    migrated.clear()
    capsys.readouterr()
    old_config = setup(keepdb=True, verbosity=2)
    try:
        rows = backend.describe(test_other)["rows"]["django_content_type"]
    finally:
        test_utils.teardown_databases(old_config, verbosity=0)
    assert ("kept", "only_in_other") in {tuple(row[1:]) for row in rows}
    assert migrated == ["default", "other"]
    assert "its test database exists already" in capsys.readouterr().err
    assert backend.databases() & {test_default, test_other} == set()


def test_kept_database_is_no_source(use_databases, contrib_apps, migrated, overlay, tmp_path):
    """default kept by --keepdb may hold what earlier runs left: other is migrated."""
    backend = SQLiteFiles(tmp_path)
    name = f"overlay_keptsource_{PID}"
    use_databases(backend.aliases(name))
    test_utils.teardown_databases(setup(keepdb=True, verbosity=0), verbosity=0, keepdb=True)
    backend.drop(f"test_{name}_other")
    migrated.clear()
    test_utils.teardown_databases(setup(keepdb=True, verbosity=0), verbosity=0)
    assert migrated == ["default", "other"]


def test_copy_named_like_a_real_database_is_refused(
    backend, use_databases, contrib_apps, overlay, monkeypatch
):
    """
    other's TEST NAME is default's real database: refused before anything is
    made, and, were the checks at setup's start skipped, before other's test
    database is made.
    """
    name = f"overlay_hostile_{PID}"
    aliases = backend.aliases(name)
    backend.made += [name, f"test_{name}"]
    if backend.kind == "sqlite":
        backend.execute(name, "CREATE TABLE precious (note varchar(20))")
    else:
        backend.create(name, ["CREATE TABLE precious (note varchar(20))"])
    aliases["other"]["TEST"] = {"NAME": aliases["default"]["NAME"]}
    use_databases(aliases)
    with pytest.raises(NotATestName):
        setup(verbosity=0)
    assert f"test_{name}" not in backend.databases()
    # The names are recorded at setup's start, but not checked there.
    monkeypatch.setattr(databases, "check_name", lambda connection, name: None)
    use_databases(aliases)
    with pytest.raises(NotATestName, match="real database"):
        setup(verbosity=0)
    # default's was made, and dropped again as setup failed; other's was
    # refused before anything was done.
    assert f"test_{name}" not in backend.databases()
    assert "precious" in str(backend.describe(name))
