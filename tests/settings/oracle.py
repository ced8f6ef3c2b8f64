"""
Settings for Django's own test suite on an Oracle server:
``python runtests.py --settings oracle``.

No Oracle server runs on our machines: jenkins/oracle-stage.sh starts Oracle
Free in a container and runs the suite with these settings. Everything but
DATABASES comes from the installed release's test_sqlite. The server is the
service 127.0.0.1:1521/FREEPDB1 as user system, unless
DJANGO_OVERLAY_ORACLE_DSN or DJANGO_OVERLAY_ORACLE_USER say otherwise; the
password is DJANGO_OVERLAY_ORACLE_PASSWORD. The main user must be able to
create users and tablespaces, as for any Django test run on Oracle.

Each alias gets its own test user and tablespaces, and each parallel worker
one of each named after them (default_test_1, ...): the test runner creates
and drops them all. DJANGO_OVERLAY_ORACLE_CLONE_STRATEGY chooses how workers
get their schema: migrate (the default) or datapump.
"""

import os

from test_sqlite import *  # noqa: F403

server = {
    "ENGINE": "django.db.backends.oracle",
    "NAME": os.environ.get("DJANGO_OVERLAY_ORACLE_DSN", "127.0.0.1:1521/FREEPDB1"),
    "USER": os.environ.get("DJANGO_OVERLAY_ORACLE_USER", "system"),
    "PASSWORD": os.environ.get("DJANGO_OVERLAY_ORACLE_PASSWORD", ""),
}
clone_strategy = os.environ.get("DJANGO_OVERLAY_ORACLE_CLONE_STRATEGY", "migrate")


def test_settings(alias):
    return {
        "USER": f"{alias}_test",
        "TBLSPACE": f"{alias}_test_tbls",
        "TBLSPACE_TMP": f"{alias}_test_tbls_tmp",
        "CLONE_STRATEGY": clone_strategy,
    }


DATABASES = {
    "default": {**server, "TEST": test_settings("default")},
    "other": {**server, "TEST": test_settings("other")},
}
