"""
Settings for Django's own test suite on a local MariaDB server:
``python runtests.py --settings mariadb``.

Everything but DATABASES comes from the installed release's test_sqlite, so
these settings follow Django's own from one release to the next. The server is
127.0.0.1:3306 as user root with an empty password, unless
DJANGO_OVERLAY_MARIADB_HOST, DJANGO_OVERLAY_MARIADB_PORT or
DJANGO_OVERLAY_MARIADB_USER say otherwise. The databases named here need not
exist: the test runner creates test_<name> (and one clone per parallel worker)
and drops them afterwards.
"""

import os

from test_sqlite import *  # noqa: F403

server = {
    "ENGINE": "django.db.backends.mysql",
    "HOST": os.environ.get("DJANGO_OVERLAY_MARIADB_HOST", "127.0.0.1"),
    "PORT": os.environ.get("DJANGO_OVERLAY_MARIADB_PORT", "3306"),
    "USER": os.environ.get("DJANGO_OVERLAY_MARIADB_USER", "root"),
    # Test databases in full UTF-8, with the collation the suite's MySQL
    # features name as case-insensitive (MariaDB's default for utf8mb4).
    "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_general_ci"},
}

# Runs that share a server name their databases apart with
# DJANGO_OVERLAY_DB_NAME_PREFIX (test_<prefix>, test_<prefix>_other, ...).
prefix = os.environ.get("DJANGO_OVERLAY_DB_NAME_PREFIX", "django_overlay")

DATABASES = {
    "default": {**server, "NAME": prefix},
    "other": {**server, "NAME": f"{prefix}_other"},
}
