"""
--reuse-schema (runner/schema_templates.py, runner/schema_fingerprint.py): a
test database cloned from the template an earlier run kept is what migrating
makes; anything migrate depends on, changed, rebuilds and says what changed;
templates are named for the guard, kept newest first, and dropped on request.

In this process on a SQLite file, in-memory SQLite, PostgreSQL and MariaDB, with the
contrib apps auth and contenttypes, whose migrations and post_migrate
handlers make tables and rows; and end to end, two runs of a small project's
manage.py test, one after the other.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import django
import pytest
from django.core.files.storage import FileSystemStorage
from django.db import connections, models
from django.test import override_settings
from django.test import utils as test_utils

from db_fixtures import PID, django_settings, overlay, use_databases  # noqa: F401
from django_overlay.backends import guard
from django_overlay.backends.schema_templates.postgresql import PostgreSQLTemplates
from django_overlay.backends.schema_templates.sqlite3 import SQLiteTemplates
from django_overlay.runner import schema_fingerprint, schema_templates
from test_alias_copies import APPS, SQLiteFiles, migrated, without_applied_times  # noqa: F401
from test_clone_exactness import SERVERS


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """The overlay's cache directory, where SQLite's templates and the records go."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("DJANGO_OVERLAY_CACHE", str(directory))
    return directory


@pytest.fixture(params=["sqlite", "sqlite-memory", "postgresql", "mariadb"])
def backend(request, tmp_path):
    """One alias, default; afterwards its test database and templates are dropped."""
    name = f"overlay_reuse_{PID}"
    if request.param == "sqlite":
        files = SQLiteFiles(tmp_path)
        backend = files
        backend.alias = files.aliases(name)["default"]
        backend.test_name = f"test_{name}"
    elif request.param == "sqlite-memory":
        backend = SQLiteFiles(tmp_path)
        backend.alias = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        backend.test_name = None
    else:
        backend = SERVERS[request.param]()
        backend.alias = {**backend.settings, "NAME": name}
        backend.test_name = f"test_{name}"
    backend.param = request.param
    yield backend
    if request.param in SERVERS:
        for database in backend.databases():
            if database.startswith(f"test_{name}"):
                backend.drop(database)


@pytest.fixture
def contrib_apps():
    with override_settings(INSTALLED_APPS=APPS):
        yield


# A TEST CHARSET each backend takes (SQLite ignores it).
CHARSETS = {"sqlite": "UTF8", "sqlite-memory": "UTF8", "postgresql": "UTF8", "mariadb": "utf8mb4"}


def setup(reuse=True, drop_all=False, verbosity=1):
    with schema_templates.requested(reuse, drop_all):
        return test_utils.setup_databases(verbosity=verbosity, interactive=False, parallel=0)


def describe(backend):
    """The test database as the catalog sees it, while it exists."""
    if backend.param == "sqlite-memory":
        from test_clone_exactness import sqlite_describe

        master, rows = sqlite_describe(connections["default"].connection)
        return {"master": master, "rows": rows}
    return backend.describe(backend.test_name)


def set_up_and_describe(backend, use_databases, **options):
    use_databases({"default": backend.alias})
    old_config = setup(**options)
    try:
        return without_applied_times(describe(backend))
    finally:
        test_utils.teardown_databases(old_config, verbosity=0)


def templates(backend):
    """The templates of default, as the settings now name it."""
    connection = connections["default"]
    return connection.creation.schema_template_store().templates(building_too=True)


def test_second_setup_clones_an_exact_copy(
    backend, use_databases, contrib_apps, migrated, overlay, capsys
):
    upstream = set_up_and_describe(backend, use_databases, reuse=False)
    assert migrated == ["default"]
    assert "schema template" not in capsys.readouterr().err
    migrated.clear()
    first = set_up_and_describe(backend, use_databases)
    assert migrated == ["default"]
    assert "keeping its schema as a template: no template was kept yet." in (
        capsys.readouterr().err
    )
    migrated.clear()
    second = set_up_and_describe(backend, use_databases)
    assert migrated == []
    assert "from its schema template" in capsys.readouterr().err
    assert first == upstream
    assert second == upstream
    use_databases({"default": backend.alias})
    assert len(templates(backend)) == 1
    test_utils.teardown_databases(setup(reuse=False, drop_all=True, verbosity=0), verbosity=0)
    assert templates(backend) == []


def test_a_run_without_the_option_leaves_nothing(
    backend, use_databases, contrib_apps, overlay, cache
):
    set_up_and_describe(backend, use_databases, reuse=False)
    assert not cache.exists()
    use_databases({"default": backend.alias})
    assert templates(backend) == []


def test_a_changed_fingerprint_rebuilds_and_says_why(
    backend, use_databases, contrib_apps, migrated, overlay, capsys
):
    set_up_and_describe(backend, use_databases)
    backend.alias = {
        **backend.alias,
        "TEST": {**backend.alias.get("TEST", {}), "CHARSET": CHARSETS[backend.param]},
    }
    migrated.clear()
    capsys.readouterr()
    set_up_and_describe(backend, use_databases)
    assert migrated == ["default"]
    assert "keeping its schema as a template: TEST settings changed." in capsys.readouterr().err
    use_databases({"default": backend.alias})
    # Both kept: the newest KEPT_TEMPLATES.
    assert len(templates(backend)) == 2
    options = {"timeout": 7} if backend.param.startswith("sqlite") else {"connect_timeout": 7}
    backend.alias = {**backend.alias, "OPTIONS": options}
    set_up_and_describe(backend, use_databases, verbosity=0)
    use_databases({"default": backend.alias})
    assert len(templates(backend)) == schema_templates.KEPT_TEMPLATES
    test_utils.teardown_databases(setup(reuse=False, drop_all=True, verbosity=0), verbosity=0)


def test_templates_are_named_for_the_guard(use_databases, overlay, tmp_path, cache):
    use_databases(
        {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "real.db")},
        }
    )
    connection = connections["default"]
    store = SQLiteTemplates(connection)
    guard.check_template(connection, store.name("0123456789ab"))
    for name in (
        str(tmp_path / "real.db"),
        str(tmp_path / "default_schema_0123456789ab.sqlite3"),
        str(store.directory / "other_schema_0123456789ab.sqlite3"),
    ):
        with pytest.raises(guard.NotATestName):
            guard.check_template(connection, name)
    with pytest.raises(guard.NotATestName):
        store.drop(str(tmp_path / "real.db"))


def test_server_template_names_are_checked(use_databases, overlay):
    settings = SERVERS["postgresql"]().settings
    use_databases(
        {
            "default": {**settings, "NAME": "shop"},
            "other": {**settings, "NAME": "test_shop_schema_0123456789ab"},
        }
    )
    guard.remember_real_names({alias: connections[alias].settings_dict for alias in connections})
    connection = connections["default"]
    guard.remember_test_name("default", "test_shop")
    store = PostgreSQLTemplates(connection)
    guard.check_template(connection, store.name("00000000000a"))
    guard.check_template(connection, f"{store.name('00000000000a')}_{PID}")
    guard.check_template(connection, store.spare(store.name("00000000000a"), 12))
    for name in (
        "shop",
        "test_shop",
        "test_other_schema_0123456789ab",
        "test_shop_schema_0123456789ab",
        "test_shop_schema_0123456789ab_spare",
        "test_shop_schema_0123456789ab_spare_1",
    ):
        with pytest.raises(guard.NotATestName):
            guard.check_template(connection, name)
    # A TEST NAME that looks like a template is still a test name.
    guard.remember_test_name("default", "odd_schema_0123456789ab")
    guard.check_test_database(connection, "odd_schema_0123456789ab")
    guard.check_test_database(connection, "odd_schema_0123456789ab_2")
    guard.check_test_database(connection, store.name("00000000000a"))
    with pytest.raises(guard.NotATestName):
        guard.check_test_database(connection, "test_other_schema_0123456789ab")


# What identifies a database whatever its name: a database renamed keeps its
# oid, a table moved to another database its InnoDB id.
IDENTITIES = {
    "postgresql": "SELECT oid FROM pg_database WHERE datname = %s",
    "mariadb": "SELECT table_id FROM information_schema.innodb_sys_tables "
    "WHERE name = CONCAT(%s, '/django_migrations')",
}


def kept_with_spares(count):
    """
    The default alias's connection, store and schema template, kept by a
    setup with --reuse-schema, and the template's spare copies 0 to count - 1.
    """
    test_utils.teardown_databases(setup(verbosity=0), verbosity=0)
    connection = connections["default"]
    store = connection.creation.schema_template_store()
    (template,) = store.templates()
    for number in range(count):
        schema_templates.make_spare(connection, template, number)
    return connection, store, template


def clone_from_spare(connection, template, name):
    """Make the test database name from template's spare copy 0, as a worker's."""
    guard.remember_test_name("default", name)
    own = type(connection)({**connection.settings_dict, "NAME": name})
    schema_templates.clone_template(own, template, spare=0)
    own.close()


@pytest.mark.parametrize("database", ["postgresql", "mariadb"])
def test_spare_copies_are_the_template_and_go_with_it(
    database, use_databases, contrib_apps, overlay
):
    """
    A server's spare copies of a template (for the pytest plugin's next run)
    are the template, become a test database by renaming (PostgreSQL) or
    by moving its tables (MariaDB), and are dropped with their template.
    """
    backend = SERVERS[database]()
    name = f"overlay_spares_{PID}"

    def identity(of):
        if database == "postgresql":
            with backend.connect() as server:
                return server.execute(IDENTITIES[database], [of]).fetchone()[0]
        (row,) = backend.query(IDENTITIES[database], [of])
        return row[0]

    use_databases({"default": {**backend.settings, "NAME": name}})
    try:
        connection, store, template = kept_with_spares(2)
        assert store.templates() == [template]
        spares = [store.spare(template, 0), store.spare(template, 1)]
        assert sorted(store.templates(building_too=True)) == sorted([template, *spares])
        assert backend.describe(spares[0]) == backend.describe(template)
        spare_identity = identity(spares[0])
        clone_from_spare(connection, template, f"test_{name}_gw0")
        assert identity(f"test_{name}_gw0") == spare_identity
        assert backend.describe(f"test_{name}_gw0") == backend.describe(template)
        assert spares[0] not in backend.databases()
        store.drop(template)
        assert not [each for each in backend.databases() if each.startswith(f"test_{name}_schema")]
    finally:
        for each in backend.databases():
            if each.startswith(f"test_{name}"):
                backend.drop(each)


def test_mariadb_copies_the_template_where_its_spare_cannot_move(
    use_databases, contrib_apps, overlay
):
    """
    A MariaDB spare copy still being made, or with a stored procedure (which
    would not move with the tables), is left where it is and the template is
    copied instead; once whole and without it, it is taken.
    """
    backend = SERVERS["mariadb"]()
    name = f"overlay_unmoved_{PID}"
    use_databases({"default": {**backend.settings, "NAME": name}})

    def clone(number):
        clone = f"test_{name}_gw{number}"
        clone_from_spare(connection, template, clone)
        assert backend.describe(clone) == backend.describe(template)
        return spare in backend.databases()

    try:
        connection, store, template = kept_with_spares(1)
        spare = store.spare(template, 0)
        (complete,) = backend.query(
            "SELECT schema_comment FROM information_schema.schemata WHERE schema_name = %s",
            [spare],
        )
        backend.query(f"ALTER DATABASE `{spare}` COMMENT 'building 1'")
        assert clone(0)
        backend.query(f"ALTER DATABASE `{spare}` COMMENT %s", list(complete))
        backend.query("CREATE PROCEDURE unmoved() SELECT 1", database=spare)
        assert clone(1)
        backend.query(f"DROP PROCEDURE `{spare}`.unmoved")
        assert not clone(2)
    finally:
        for each in backend.databases():
            if each.startswith(f"test_{name}"):
                backend.drop(each)


# The fingerprint: each change that makes migrate make something else says so.

MIGRATION = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel(
            "Item",
            [("id", models.AutoField(primary_key=True)), ("name", models.CharField(max_length=%d))],
        ),
    ]
"""

MODELS = """
from django.db import models


class %s(models.Model):
    name = models.CharField(max_length=20)
"""


@pytest.fixture(scope="module")
def project_apps(tmp_path_factory):
    """shop, an app with migrations, and plain, one without, importable."""
    root = tmp_path_factory.mktemp("apps")
    label = f"shop{PID}"
    plain = f"plain{PID}"
    (root / label / "migrations").mkdir(parents=True)
    (root / label / "__init__.py").write_text("")
    (root / label / "models.py").write_text(MODELS % "Item")
    (root / label / "migrations" / "__init__.py").write_text("")
    (root / label / "migrations" / "0001_initial.py").write_text(MIGRATION % 20)
    (root / plain).mkdir()
    (root / plain / "__init__.py").write_text("")
    (root / plain / "models.py").write_text(MODELS % "Note")
    sys.path.insert(0, str(root))
    try:
        with override_settings(INSTALLED_APPS=[*APPS, label, plain]):
            yield root / label, label, plain
    finally:
        sys.path.remove(str(root))


class NoPlainHere:
    def __init__(self, label):
        self.label = label

    def allow_migrate(self, db, app_label, **hints):
        return False if app_label == self.label else None


def change_migration(app, label, plain, connection, monkeypatch):
    path = app / "migrations" / "0001_initial.py"
    original = path.read_text()
    path.write_text(MIGRATION % 30)
    return lambda: path.write_text(original)


def add_migration(app, label, plain, connection, monkeypatch):
    path = app / "migrations" / "0002_more.py"
    path.write_text("from django.db import migrations\n")
    return lambda: path.unlink()


def change_plain_model(app, label, plain, connection, monkeypatch):
    from django.apps import apps

    field = apps.get_model(plain, "Note")._meta.get_field("name")
    monkeypatch.setattr(field, "max_length", 50)


def change_router(app, label, plain, connection, monkeypatch):
    monkeypatch.setattr("django.db.router.routers", [NoPlainHere(plain)])


def change_test_settings(app, label, plain, connection, monkeypatch):
    monkeypatch.setitem(
        connection.settings_dict, "TEST", {**connection.settings_dict["TEST"], "MIGRATE": False}
    )


def change_options(app, label, plain, connection, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {"timeout": 7})


def change_django_version(app, label, plain, connection, monkeypatch):
    monkeypatch.setattr(django, "get_version", lambda: "9.9")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (change_migration, "migrations of app '{label}' changed"),
        (add_migration, "migrations of app '{label}' changed"),
        (change_plain_model, "models of app '{plain}' changed"),
        (change_router, "the routers' answers changed"),
        (change_test_settings, "TEST settings changed"),
        (change_options, "OPTIONS changed"),
        (change_django_version, "the Django version changed"),
        (None, None),
    ],
)
def test_fingerprint(change, reason, project_apps, use_databases, monkeypatch, tmp_path):
    app, label, plain = project_apps
    use_databases(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}}
    )
    connection = connections["default"]
    before = schema_fingerprint.fingerprint(connection)
    undo = change and change(app, label, plain, connection, monkeypatch)
    try:
        after = schema_fingerprint.fingerprint(connection)
    finally:
        if undo:
            undo()
    expected = reason and reason.format(label=label, plain=plain)
    assert schema_fingerprint.what_changed(before, after) == expected
    assert (schema_fingerprint.digest(before) == schema_fingerprint.digest(after)) == (
        change is None
    )


def test_arguments_that_never_reach_the_database_keep_the_fingerprint(
    project_apps, use_databases, monkeypatch, tmp_path
):
    from django.apps import apps

    app, label, plain = project_apps
    use_databases(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}}
    )
    connection = connections["default"]
    before = schema_fingerprint.fingerprint(connection)
    field = apps.get_model(plain, "Note")._meta.get_field("name")
    monkeypatch.setattr(field, "help_text", "shown in forms")
    monkeypatch.setattr(field, "choices", [("a", "A")])
    assert schema_fingerprint.fingerprint(connection) == before


def test_where_a_file_field_keeps_its_files_is_not_in_the_fingerprint(tmp_path):
    """Django's own suite's model_forms keeps its files in a new temporary directory every run."""

    def described(**arguments):
        return schema_fingerprint._schema_arguments(models.FileField(**arguments))

    assert described(storage=FileSystemStorage(tmp_path / "a"), upload_to="a") == described(
        storage=FileSystemStorage(tmp_path / "b"), upload_to="b"
    )
    assert described(max_length=50) != described(max_length=60)


# End to end: two runs of a project's manage.py test.

PROJECT_SETTINGS = """
import json
import os
SECRET_KEY = "not-secret"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "shop"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
if os.environ.get("PROJECT_DATABASE"):
    DATABASES = {"default": json.loads(os.environ["PROJECT_DATABASE"])}
"""

PROJECT_TESTS = """
from django.contrib.auth.models import Permission
from django.test import TestCase

from shop.models import Item


class ItemTests(TestCase):
    def test_schema(self):
        Item.objects.create(name="x")
        self.assertTrue(Permission.objects.filter(codename="add_item").exists())
"""

MANAGE = """
import os
import sys

if os.environ.get("PROJECT_WITHOUT_OVERLAY") != "1":
    import django_overlay

    django_overlay.install()
from django.core.management import execute_from_command_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
execute_from_command_line(sys.argv)
"""


def write_project(root):
    (root / "shop" / "migrations").mkdir(parents=True)
    (root / "settings.py").write_text(PROJECT_SETTINGS)
    (root / "manage.py").write_text(MANAGE)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "models.py").write_text(MODELS % "Item")
    (root / "shop" / "tests.py").write_text(PROJECT_TESTS)
    (root / "shop" / "migrations" / "__init__.py").write_text("")
    (root / "shop" / "migrations" / "0001_initial.py").write_text(MIGRATION % 20)


def run_project(root, cache, *arguments, with_overlay=True, database=None):
    environment = {**os.environ, "DJANGO_OVERLAY_CACHE": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    if database:
        environment["PROJECT_DATABASE"] = json.dumps(database)
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    environment.pop(schema_templates.ENVIRONMENT_VARIABLE, None)
    if not with_overlay:
        environment["PROJECT_WITHOUT_OVERLAY"] = "1"
    return subprocess.run(
        [sys.executable, "manage.py", "test", "--noinput", *arguments],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_runs_reuse_the_schema_until_a_migration_changes(tmp_path, cache, request):
    write_project(tmp_path / "project")
    root = tmp_path / "project"
    # Upstream refuses the option: run so, the test fails.
    with_overlay = not request.config.getoption("--sample-without-overlay")
    first = run_project(root, cache, "--reuse-schema", with_overlay=with_overlay)
    second = run_project(root, cache, "--reuse-schema")
    (root / "shop" / "migrations" / "0001_initial.py").write_text(MIGRATION % 40)
    third = run_project(root, cache, "--reuse-schema")
    environment = run_project(root, cache)
    for run in (first, second, third):
        assert run.returncode == 0, run.stderr
    assert "Migrating the test database for alias 'default'" in first.stderr
    assert "from its schema template" in second.stderr
    assert "Migrating" not in second.stderr
    reasons = [line for line in third.stderr.splitlines() if "template" in line]
    assert reasons == [
        "Migrating the test database for alias 'default', then keeping its schema as a "
        "template: migrations of app 'shop' changed."
    ]
    assert "template" not in environment.stderr
    files = sorted(path.name for path in cache.rglob("*.sqlite3"))
    assert len(files) == 2
    assert all(guard.TEMPLATE_FILE.fullmatch(name) for name in files)


def test_environment_variable_asks_too(tmp_path, cache, monkeypatch):
    root = tmp_path / "project"
    write_project(root)
    monkeypatch.setenv(schema_templates.ENVIRONMENT_VARIABLE, "1")
    environment = {**os.environ, "DJANGO_OVERLAY_CACHE": str(cache)}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    for expected in ("keeping its schema", "from its schema template"):
        run = subprocess.run(
            [sys.executable, "manage.py", "test", "--noinput"],
            cwd=root,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert expected in run.stderr
    environment[schema_templates.ENVIRONMENT_VARIABLE] = "yes"
    run = subprocess.run(
        [sys.executable, "manage.py", "test", "--noinput"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0
    assert "expected 1 or 0" in run.stderr


@pytest.mark.parametrize("database", ["sqlite-memory", "postgresql", "mariadb"])
def test_two_runs_build_one_template_at_once(database, tmp_path, cache):
    """Both pass, one template is left, and no copy either built on the way."""
    root = tmp_path / "project"
    write_project(root)
    name = f"overlay_together_{PID}"
    server = SERVERS.get(database) and SERVERS[database]()
    settings = server and {**server.settings, "NAME": name}
    try:
        with ThreadPoolExecutor(2) as pool:
            runs = list(
                pool.map(
                    lambda number: run_project(
                        root,
                        cache,
                        "--reuse-schema",
                        "--parallel",
                        "2",
                        database=settings
                        and {**settings, "TEST": {"NAME": f"test_{name}_{number}"}},
                    ),
                    ["a", "b"],
                )
            )
        for run in runs:
            assert run.returncode == 0, run.stderr
        if server:
            left = sorted(each for each in server.databases() if each.startswith(f"test_{name}"))
            # Named after NAME, not TEST NAME: the runs share it.
            assert len(left) == 1
            assert guard.TEMPLATE.fullmatch(left[0])
        else:
            assert len(list(cache.rglob("*.sqlite3"))) == 1
            assert [path.name for path in cache.rglob("*") if path.name.startswith(".")] == []
    finally:
        if server:
            for each in server.databases():
                if each.startswith(f"test_{name}"):
                    server.drop(each)


def test_a_template_that_cannot_be_kept_leaves_the_run_going(
    use_databases, contrib_apps, overlay, monkeypatch, capsys
):
    def full_disk(self, test_name, template):
        raise OSError("No space left on device")

    monkeypatch.setattr(SQLiteTemplates, "save", full_disk)
    use_databases({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
    old_config = setup()
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM auth_permission")
            assert cursor.fetchone()[0] > 0
    finally:
        test_utils.teardown_databases(old_config, verbosity=0)
    assert "Could not keep the schema template" in capsys.readouterr().err
