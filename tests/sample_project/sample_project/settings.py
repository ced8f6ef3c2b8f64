"""
Settings of the sample project. One project serves every database: the
environment chooses it, so that concurrent pytest runs can use databases of
their own.

SAMPLE_DATABASE is one of
- sqlite-memory: SQLite's in-memory test database (the default);
- uncloneable: the same, through a backend that says it cannot clone test
  databases, as Oracle's does without the overlay;
- unshareable: the same, through a driver whose connections may not be used
  by another thread (DB-API threadsafety 0);
- sqlite-file: SQLite with its test database in a file, test_<name> beside
  SAMPLE_DATABASE_NAME, which is a path, or SAMPLE_TEST_DATABASE_NAME;
- postgresql, mariadb: a local server, reached as tests/settings/ reach it
  (DJANGO_OVERLAY_PG_* and DJANGO_OVERLAY_MARIADB_*); the test database is
  test_<SAMPLE_DATABASE_NAME>.
"""

import multiprocessing
import os

SECRET_KEY = "sample-project-not-secret"
INSTALLED_APPS = ["sample_app", "live_app", "django.contrib.staticfiles"]
ROOT_URLCONF = "sample_project.urls"
STATIC_URL = "static/"
# Never collected into: Django's plain live server answers 404 from it.
STATIC_ROOT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "uncollected-static")
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A project may choose the overlay through this setting instead of install().
if test_runner := os.environ.get("SAMPLE_TEST_RUNNER"):
    TEST_RUNNER = test_runner
# A worker that fails before it is ready (tests/test_robustness.py): spawned
# workers import the settings afresh.
if os.environ.get("SAMPLE_WORKER_START_FAILS") == "1" and multiprocessing.parent_process():
    raise RuntimeError("this worker cannot start, on purpose")
if os.environ.get("SAMPLE_UNPICKLABLE_SETTING") == "1":
    # A value no worker can be sent: spawned workers keep their own.
    SAMPLE_CALLBACK = lambda: None  # noqa: E731


def server(engine, variable_prefix, port, user, name):
    """A local database server, reached as tests/settings/ reach it."""
    return {
        "ENGINE": engine,
        "HOST": os.environ.get(f"{variable_prefix}_HOST", "127.0.0.1"),
        "PORT": os.environ.get(f"{variable_prefix}_PORT", port),
        "USER": os.environ.get(f"{variable_prefix}_USER", user),
        "NAME": name,
    }


def database(kind, name):
    if kind == "sqlite-memory":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    if kind == "uncloneable":
        return {"ENGINE": "sample_project.uncloneable_sqlite", "NAME": ":memory:"}
    if kind == "unshareable":
        return {"ENGINE": "sample_project.unshareable_sqlite", "NAME": ":memory:"}
    if kind == "sqlite-file":
        directory, filename = os.path.split(name)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "TEST": {
                "NAME": os.environ.get(
                    "SAMPLE_TEST_DATABASE_NAME", os.path.join(directory, f"test_{filename}")
                )
            },
        }
    if kind == "postgresql":
        return server(
            "django.db.backends.postgresql", "DJANGO_OVERLAY_PG", "5432", "postgres", name
        )
    if kind == "mariadb":
        return {
            **server("django.db.backends.mysql", "DJANGO_OVERLAY_MARIADB", "3306", "root", name),
            "TEST": {"CHARSET": "utf8mb4"},
        }
    raise ValueError(
        f"SAMPLE_DATABASE={kind!r}: expected sqlite-memory, uncloneable, unshareable, "
        "sqlite-file, postgresql or mariadb"
    )


DATABASES = {
    "default": database(
        os.environ.get("SAMPLE_DATABASE", "sqlite-memory"),
        os.environ.get("SAMPLE_DATABASE_NAME", "sample"),
    )
}

# SAMPLE_FLUSH_APP=1: the apps and the second database of
# tests/test_fast_flush.py, which runs flush_app's tests.
if os.environ.get("SAMPLE_FLUSH_APP") == "1":
    INSTALLED_APPS += [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "flush_app",
        "flush_other",
    ]
    DATABASES["other"] = database(
        os.environ.get("SAMPLE_DATABASE", "sqlite-memory"),
        os.environ.get("SAMPLE_DATABASE_NAME", "sample") + "_other",
    )


# SAMPLE_CACHE chooses the default cache, for sample_app/tests/test_caches.py:
# redis, django-redis, pymemcache, pylibmc (SAMPLE_CACHE_LOCATION is the
# server), file (SAMPLE_CACHE_LOCATION is the directory), locmem, database or
# dummy. SAMPLE_CACHE_KEY_PREFIX keeps a pytest run's keys apart from others'.
CACHE_BACKENDS = {
    "redis": "django.core.cache.backends.redis.RedisCache",
    "django-redis": "django_redis.cache.RedisCache",
    "pymemcache": "django.core.cache.backends.memcached.PyMemcacheCache",
    "pylibmc": "django.core.cache.backends.memcached.PyLibMCCache",
    "file": "django.core.cache.backends.filebased.FileBasedCache",
    "locmem": "django.core.cache.backends.locmem.LocMemCache",
    "database": "django.core.cache.backends.db.DatabaseCache",
    "dummy": "django.core.cache.backends.dummy.DummyCache",
}
if cache_kind := os.environ.get("SAMPLE_CACHE"):
    if cache_kind not in CACHE_BACKENDS:
        raise ValueError(
            f"SAMPLE_CACHE={cache_kind!r}: expected one of {', '.join(CACHE_BACKENDS)}"
        )
    CACHES = {
        "default": {
            "BACKEND": CACHE_BACKENDS[cache_kind],
            "LOCATION": os.environ.get(
                "SAMPLE_CACHE_LOCATION", "sample_cache_table" if cache_kind == "database" else ""
            ),
            "KEY_PREFIX": os.environ.get("SAMPLE_CACHE_KEY_PREFIX", ""),
        }
    }
