"""
Settings for Django's own test suite on a local PostgreSQL server:
``python runtests.py --settings postgresql``.

Everything but DATABASES comes from the installed release's test_sqlite, so
these settings follow Django's own from one release to the next. The server is
127.0.0.1:5432 as user postgres with no password, unless DJANGO_OVERLAY_PG_HOST,
DJANGO_OVERLAY_PG_PORT or DJANGO_OVERLAY_PG_USER say otherwise. The databases
named here need not exist: the test runner creates test_<name> (and one clone
per parallel worker) and drops them afterwards.
"""

import os

from test_sqlite import *  # noqa: F403

server = {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": os.environ.get("DJANGO_OVERLAY_PG_HOST", "127.0.0.1"),
    "PORT": os.environ.get("DJANGO_OVERLAY_PG_PORT", "5432"),
    "USER": os.environ.get("DJANGO_OVERLAY_PG_USER", "postgres"),
}

# Runs that share a server name their databases apart with
# DJANGO_OVERLAY_DB_NAME_PREFIX (test_<prefix>, test_<prefix>_other, ...).
prefix = os.environ.get("DJANGO_OVERLAY_DB_NAME_PREFIX", "django_overlay")

DATABASES = {
    "default": {**server, "NAME": prefix},
    "other": {**server, "NAME": f"{prefix}_other"},
}
