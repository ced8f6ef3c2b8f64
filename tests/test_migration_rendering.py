"""
Migrating renders a run of CreateModel operations once
(django_overlay/migration_rendering.py), and makes what upstream's migrate
makes: on a SQLite file, PostgreSQL and MariaDB, apps whose migrations mix
runs of CreateModel (foreign keys within and across apps and to auth's user,
a self reference, many-to-many with and without a through model, an index,
a unique_together, a check constraint, a child model, a proxy) with other
operations are migrated without the overlay and with it, and both databases
are compared through the catalog and every row.
"""

import sys

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.state import ModelState
from django.test import override_settings

from db_fixtures import PID, django_settings, use_databases  # noqa: F401
from django_overlay import patches
from test_alias_copies import SQLiteFiles, without_applied_times
from test_clone_exactness import SERVERS

LIBRARY = f"library{PID}"
SHELVES = f"shelves{PID}"
CHAIN = f"chain{PID}"

LIBRARY_INITIAL = """
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]
    operations = [
        migrations.CreateModel("Author", [
            ("id", models.AutoField(primary_key=True)),
            ("name", models.CharField(max_length=50, unique=True)),
            ("account", models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True)),
        ]),
        migrations.CreateModel("Tag", [
            ("id", models.BigAutoField(primary_key=True)),
            ("label", models.SlugField()),
            ("parent", models.ForeignKey("self", models.CASCADE, null=True)),
        ]),
        migrations.CreateModel("Book", [
            ("id", models.AutoField(primary_key=True)),
            ("title", models.CharField(max_length=80, db_index=True)),
            ("pages", models.IntegerField()),
            ("author", models.ForeignKey("Author", models.CASCADE, related_name="books")),
            ("tags", models.ManyToManyField("Tag")),
        ], options={
            "unique_together": {("author", "title")},
            "constraints": [models.CheckConstraint(
                condition=models.Q(pages__gt=0), name="%(label)s_pages_positive"
            )],
            "indexes": [models.Index(fields=["pages", "title"], name="%(label)s_pages_title")],
        }),
        migrations.CreateModel("Ebook", [
            ("book_ptr", models.OneToOneField(
                "Book", models.CASCADE, parent_link=True, primary_key=True, serialize=False
            )),
            ("url", models.URLField()),
        ], bases=("%(label)s.book",)),
        migrations.CreateModel("Paperback", [], options={"proxy": True}, bases=("%(label)s.book",)),
        migrations.CreateModel("Club", [("id", models.AutoField(primary_key=True))]),
        migrations.CreateModel("Membership", [
            ("id", models.AutoField(primary_key=True)),
            ("club", models.ForeignKey("Club", models.CASCADE)),
            ("author", models.ForeignKey("Author", models.CASCADE)),
        ]),
        migrations.AddField("Club", "members", models.ManyToManyField(
            "Author", through="Membership"
        )),
        migrations.CreateModel("Review", [
            ("id", models.AutoField(primary_key=True)),
            ("book", models.ForeignKey("Book", models.CASCADE)),
            ("club", models.ForeignKey("Club", models.PROTECT, null=True)),
        ]),
    ]
"""

LIBRARY_SECOND = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("%(label)s", "0001_initial")]
    operations = [
        migrations.AlterField("Book", "title", models.CharField(max_length=120, db_index=True)),
        migrations.CreateModel("Edition", [
            ("id", models.AutoField(primary_key=True)),
            ("book", models.ForeignKey("Book", models.CASCADE)),
            ("year", models.PositiveSmallIntegerField()),
        ]),
        migrations.CreateModel("Note", [
            ("id", models.AutoField(primary_key=True)),
            ("edition", models.ForeignKey("Edition", models.CASCADE)),
            ("tag", models.ForeignKey("Tag", models.SET_NULL, null=True)),
        ]),
        migrations.RenameField("Review", "club", "circle"),
    ]
"""

SHELVES_INITIAL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("%(library)s", "0002_second")]
    operations = [
        migrations.CreateModel("Shelf", [
            ("id", models.AutoField(primary_key=True)),
            ("books", models.ManyToManyField("%(library)s.Book")),
        ]),
        migrations.CreateModel("Slot", [
            ("id", models.AutoField(primary_key=True)),
            ("shelf", models.ForeignKey("Shelf", models.CASCADE)),
            ("edition", models.ForeignKey("%(library)s.Edition", models.CASCADE)),
        ]),
    ]
"""

# Twelve models, each with a foreign key to the one before: upstream renders
# every model before a new one again (1 + 2 + ... + 12 = 78 classes).
CHAIN_MODELS = 12
CHAIN_INITIAL = (
    "from django.db import migrations, models\n\n\n"
    "class Migration(migrations.Migration):\n"
    "    initial = True\n"
    "    operations = [\n"
    + "".join(
        f"        migrations.CreateModel('Link{index}', [\n"
        "            ('id', models.AutoField(primary_key=True)),\n"
        + (
            f"            ('previous', models.ForeignKey('Link{index - 1}', models.CASCADE)),\n"
            if index
            else ""
        )
        + "        ]),\n"
        for index in range(CHAIN_MODELS)
    )
    + "    ]\n"
)

# A model that refers to one the same migration creates after it.
TOO_EARLY = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel("Early", [
            ("id", models.AutoField(primary_key=True)),
            ("later", models.ForeignKey("Later", models.CASCADE)),
        ]),
        migrations.CreateModel("Later", [("id", models.AutoField(primary_key=True))]),
    ]
"""


def write_app(root, label, migrations):
    (root / label / "migrations").mkdir(parents=True)
    (root / label / "__init__.py").write_text("")
    (root / label / "migrations" / "__init__.py").write_text("")
    for name, source in migrations.items():
        (root / label / "migrations" / f"{name}.py").write_text(source)


@pytest.fixture(scope="module")
def app_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("migration_rendering")
    write_app(
        root,
        LIBRARY,
        {
            "0001_initial": LIBRARY_INITIAL.replace("%(label)s", LIBRARY),
            "0002_second": LIBRARY_SECOND.replace("%(label)s", LIBRARY),
        },
    )
    write_app(root, SHELVES, {"0001_initial": SHELVES_INITIAL.replace("%(library)s", LIBRARY)})
    write_app(root, CHAIN, {"0001_initial": CHAIN_INITIAL})
    write_app(root, f"early{PID}", {"0001_initial": TOO_EARLY})
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


@pytest.fixture
def library_apps(app_root):
    apps = ["django.contrib.contenttypes", "django.contrib.auth", LIBRARY, SHELVES]
    with override_settings(INSTALLED_APPS=apps):
        yield


@pytest.fixture
def installed():
    """The overlay installed for the part of the test that asks for it."""
    installs = []

    def install():
        patches.install()
        installs.append(True)

    yield install
    if installs:
        patches.uninstall()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database(request, tmp_path):
    if request.param == "sqlite":
        backend = SQLiteFiles(tmp_path)
        backend.alias = lambda name: backend.aliases(name)["default"]
    else:
        backend = SERVERS[request.param]()
        backend.alias = lambda name: {**backend.settings, "NAME": name}
    names = []

    def make(suffix):
        name = f"test_overlay_rendering_{PID}_{suffix}"
        names.append(name)
        backend.drop(name)
        if request.param in SERVERS:
            backend.create(name, [])
        return name

    backend.make = make
    yield backend
    connections["default"].close()
    for name in names:
        backend.drop(name)


def sqlite_file(path):
    """DATABASES with default on the SQLite file at path."""
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}}


def migrate(backend, name, use_databases):
    use_databases({"default": backend.alias(name)})
    try:
        call_command("migrate", verbosity=0, interactive=False)
    finally:
        connections["default"].close()
    return without_applied_times(backend.describe(name))


def test_migrating_makes_what_upstream_makes(database, library_apps, use_databases, installed):
    upstream = migrate(database, database.make("upstream"), use_databases)
    installed()
    overlay = migrate(database, database.make("overlay"), use_databases)
    assert overlay == upstream
    # Every app's tables are there, the through model's and the auto-created ones too.
    tables = str(overlay)
    for table in ("book_tags", "membership", "ebook", "edition", "note", "shelf_books", "slot"):
        assert f"_{table}" in tables


def rendered_while_migrating(use_databases, tmp_path, monkeypatch):
    """The model classes migrating CHAIN rendered, by name, once per rendering."""
    use_databases(sqlite_file(tmp_path / "chain.db"))
    renders = []
    render = ModelState.render

    def counted(self, apps):
        renders.append(self.name)
        return render(self, apps)

    monkeypatch.setattr(ModelState, "render", counted)
    with override_settings(INSTALLED_APPS=[CHAIN]):
        call_command("migrate", CHAIN, verbosity=0, interactive=False)
    connections["default"].close()
    return renders


def test_a_run_of_create_model_renders_each_model_once(
    app_root, use_databases, installed, tmp_path, monkeypatch
):
    installed()
    renders = rendered_while_migrating(use_databases, tmp_path, monkeypatch)
    # Upstream: 78, each model again whenever one is added after it.
    assert sorted(renders) == sorted(f"Link{index}" for index in range(CHAIN_MODELS))


def test_a_model_referred_to_before_it_is_created_fails_as_upstream(
    app_root, use_databases, installed, tmp_path
):
    def migrate_early(name):
        use_databases(sqlite_file(tmp_path / name))
        try:
            with override_settings(INSTALLED_APPS=[f"early{PID}"]):
                with pytest.raises(Exception) as raised:
                    call_command("migrate", verbosity=0, interactive=False)
        finally:
            connections["default"].close()
        return type(raised.value), str(raised.value)

    upstream = migrate_early("upstream.db")
    installed()
    assert migrate_early("overlay.db") == upstream


def test_sqlmigrate_prints_what_upstream_prints(library_apps, use_databases, installed, tmp_path):
    use_databases(sqlite_file(tmp_path / "sql.db"))

    def sql():
        return [
            call_command("sqlmigrate", LIBRARY, migration)
            for migration in ("0001_initial", "0002_second")
        ]

    upstream = sql()
    installed()
    assert sql() == upstream
