"""
Settings of the sample project. One project serves every database: the
environment chooses it, so that concurrent pytest runs can use databases of
their own.

SAMPLE_DATABASE is one of
- sqlite-memory: SQLite's in-memory test database (the default);
- sqlite-file: SQLite with its test database in a file, test_<name> beside
  SAMPLE_DATABASE_NAME, which is a path;
- postgresql, mariadb: a local server, reached as tests/settings/ reach it
  (DJANGO_OVERLAY_PG_* and DJANGO_OVERLAY_MARIADB_*); the test database is
  test_<SAMPLE_DATABASE_NAME>.
"""

import os

SECRET_KEY = "sample-project-not-secret"
INSTALLED_APPS = ["sample_app"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A project may choose the overlay through this setting instead of install().
if test_runner := os.environ.get("SAMPLE_TEST_RUNNER"):
    TEST_RUNNER = test_runner
if os.environ.get("SAMPLE_UNPICKLABLE_SETTING") == "1":
    # A value no worker can be sent: spawned workers keep their own.
    SAMPLE_CALLBACK = lambda: None  # noqa: E731


def database(kind, name):
    if kind == "sqlite-memory":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    if kind == "sqlite-file":
        directory, filename = os.path.split(name)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "TEST": {"NAME": os.path.join(directory, f"test_{filename}")},
        }
    if kind == "postgresql":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("DJANGO_OVERLAY_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJANGO_OVERLAY_PG_PORT", "5432"),
            "USER": os.environ.get("DJANGO_OVERLAY_PG_USER", "postgres"),
            "NAME": name,
        }
    if kind == "mariadb":
        return {
            "ENGINE": "django.db.backends.mysql",
            "HOST": os.environ.get("DJANGO_OVERLAY_MARIADB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJANGO_OVERLAY_MARIADB_PORT", "3306"),
            "USER": os.environ.get("DJANGO_OVERLAY_MARIADB_USER", "root"),
            "NAME": name,
            "TEST": {"CHARSET": "utf8mb4"},
        }
    raise ValueError(
        f"SAMPLE_DATABASE={kind!r}: expected sqlite-memory, sqlite-file, postgresql or mariadb"
    )


DATABASES = {
    "default": database(
        os.environ.get("SAMPLE_DATABASE", "sqlite-memory"),
        os.environ.get("SAMPLE_DATABASE_NAME", "sample"),
    )
}
