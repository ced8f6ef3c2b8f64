"""
Django configured in the pytest process, on databases a test names, for the
tests of test database creation, cloning and teardown.

Every database gets a name unique to this pytest process; a test drops only
what it made.
"""

import os

import django
import pytest
from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.utils import ConnectionHandler

from django_overlay import patches
from django_overlay.backends import guard

PID = os.getpid()


def server_settings(kind):
    """ENGINE, HOST, PORT, USER of a local server, as tests/settings/ read them."""
    if kind == "postgresql":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("DJANGO_OVERLAY_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJANGO_OVERLAY_PG_PORT", "5432"),
            "USER": os.environ.get("DJANGO_OVERLAY_PG_USER", "postgres"),
        }
    return {
        "ENGINE": "django.db.backends.mysql",
        "HOST": os.environ.get("DJANGO_OVERLAY_MARIADB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJANGO_OVERLAY_MARIADB_PORT", "3306"),
        "USER": os.environ.get("DJANGO_OVERLAY_MARIADB_USER", "root"),
    }


@pytest.fixture(scope="module", autouse=True)
def django_settings():
    if not settings.configured:
        settings.configure(DATABASES={}, INSTALLED_APPS=[])
    # setup_databases() runs migrate, which needs the (empty) app registry.
    if not apps.ready:
        django.setup()


@pytest.fixture
def use_databases(monkeypatch):
    """
    use_databases({alias: settings}) makes them DATABASES, for upstream's
    code and the overlay's alike, with Django's defaults filled in. The guard
    forgets the names an earlier test's setup recorded.
    """
    used = []

    def use(databases):
        configured = ConnectionHandler(databases).settings
        # A connection made before this test would keep the settings it was made with.
        forget(configured)
        monkeypatch.setattr(settings, "DATABASES", configured)
        monkeypatch.setattr(connections, "settings", configured)
        used.extend(configured)
        return configured

    monkeypatch.setattr(guard, "_real_names", {})
    monkeypatch.setattr(guard, "_test_names", {})
    yield use
    forget(used)


def forget(aliases):
    for alias in aliases:
        if hasattr(connections._connections, alias):
            connections[alias].close()
            del connections[alias]


@pytest.fixture
def overlay():
    patches.install()
    yield
    patches.uninstall()
