"""
Settings of the sample pytest project. The environment chooses the database,
so that concurrent runs use databases of their own:

PYTEST_SAMPLE_DATABASE is sqlite (a file, the default), sqlite-memory
(SQLite's default test database, in memory), postgresql or mariadb, and
PYTEST_SAMPLE_DATABASE_NAME the database's NAME (for SQLite a path: the test
database file is test_<name> beside it, without an extension, so that the
workers' clones get pytest-django's names). PYTEST_SAMPLE_CACHE is
the file-based cache's directory, PYTEST_SAMPLE_RECORDS where the tests
write what the run did (migrate runs, the workers' databases).
"""

import os

SECRET_KEY = "pytest-sample-project-not-secret"
INSTALLED_APPS = ["rows"]
# For the live_server tests; no middleware, so no CSRF token to post.
ROOT_URLCONF = "rows.urls"
# pytest-django's live server serves static files below it.
STATIC_URL = "/static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

kind = os.environ.get("PYTEST_SAMPLE_DATABASE", "sqlite")
name = os.environ.get("PYTEST_SAMPLE_DATABASE_NAME", "pytest_sample")
server = {"HOST": "127.0.0.1"}
if kind == "sqlite":
    directory, filename = os.path.split(os.path.abspath(name))
    default = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name,
        "TEST": {"NAME": os.path.join(directory, f"test_{filename}")},
    }
elif kind == "sqlite-memory":
    default = {"ENGINE": "django.db.backends.sqlite3"}
elif kind == "postgresql":
    default = {**server, "ENGINE": "django.db.backends.postgresql", "USER": "postgres"}
elif kind == "mariadb":
    default = {**server, "ENGINE": "django.db.backends.mysql", "USER": "root"}
    default["TEST"] = {"CHARSET": "utf8mb4"}
else:
    raise ValueError(
        f"PYTEST_SAMPLE_DATABASE={kind!r}: expected sqlite, sqlite-memory, postgresql or mariadb"
    )
DATABASES = {"default": {"NAME": name, **default}}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ.get("PYTEST_SAMPLE_CACHE", "pytest-sample-cache"),
    }
}
