"""
The overlay never creates, drops or overwrites a database that is not a test
database derived from the settings, whatever the settings say: hostile
settings are refused by setup_databases() before anything is created, and a
real database a test made beforehand keeps its row.

Upstream, given TEST NAME equal to NAME and --noinput, drops the real
database and makes an empty test database in its place (shown on SQLite).
"""

import sqlite3

import pytest
from django.test import utils as test_utils

from db_fixtures import PID, django_settings, overlay, use_databases  # noqa: F401
from django_overlay.backends.guard import NotATestName
from test_clone_exactness import SERVERS, cloned, server  # noqa: F401

REAL_ROW = "CREATE TABLE precious (note varchar(20)); INSERT INTO precious VALUES ('kept')"


def setup(parallel=2):
    return test_utils.setup_databases(verbosity=0, interactive=False, parallel=parallel)


def holds_row(server, name):
    if server.kind == "postgresql":
        with server.connect(name) as connection:
            return connection.execute("SELECT note FROM precious").fetchall() == [("kept",)]
    return server.query("SELECT note FROM precious", database=name) == (("kept",),)


def make_real(server, name):
    server.made.append(name)
    server.create(name, REAL_ROW.split("; "))


def test_test_name_equal_to_name_is_refused(server, use_databases, overlay):
    real = f"overlay_guard_{PID}"
    make_real(server, real)
    use_databases({"default": {**server.settings, "NAME": real, "TEST": {"NAME": real}}})
    with pytest.raises(NotATestName, match="real database"):
        setup()
    assert holds_row(server, real)


def test_clone_named_like_a_real_database_is_refused(server, use_databases, overlay):
    """A worker's clone, test_name_1, would be the real database of another alias."""
    real = f"overlay_guard_{PID}"
    other_real = f"{real}_t_1"
    make_real(server, other_real)
    use_databases(
        {
            "default": {**server.settings, "NAME": real, "TEST": {"NAME": f"{real}_t"}},
            "other": {**server.settings, "NAME": other_real},
        }
    )
    server.made += [f"{real}_t", f"{real}_t_2", f"test_{other_real}"]
    with pytest.raises(NotATestName, match="real database"):
        setup()
    assert holds_row(server, other_real)
    # Refused before anything was made.
    assert server.databases() & {f"{real}_t", f"{real}_t_2", f"test_{other_real}"} == set()


def test_name_with_quotes_and_spaces_is_cloned_and_dropped(server, use_databases, overlay):
    (source, *clones), left = cloned(server, use_databases, f"overlay guard's {PID}")
    assert all(clone == source for clone in clones)
    assert left == set()


def test_name_the_backend_cannot_quote_is_refused(server, use_databases, overlay):
    quote = '"' if server.kind == "postgresql" else "`"
    name = f"overlay{quote}guard_{PID}"
    use_databases({"default": {**server.settings, "NAME": name}})
    with pytest.raises(NotATestName, match="quoting"):
        setup()
    assert f"test_{name}" not in server.databases()


@pytest.mark.parametrize("with_overlay", [True, False], ids=["overlay", "upstream"])
def test_sqlite_real_file_survives_only_with_the_overlay(use_databases, tmp_path, with_overlay):
    from django_overlay import patches

    real = tmp_path / "real.sqlite3"
    connection = sqlite3.connect(real)
    connection.executescript(REAL_ROW)
    connection.commit()
    connection.close()
    use_databases(
        {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(real),
                "TEST": {"NAME": str(real)},
            }
        }
    )
    if with_overlay:
        patches.install()
    try:
        if with_overlay:
            with pytest.raises(NotATestName):
                setup(parallel=0)
        else:
            test_utils.teardown_databases(setup(parallel=0), verbosity=0)
    finally:
        patches.uninstall()
    kept = (
        real.exists()
        and sqlite3.connect(real)
        .execute("SELECT name FROM sqlite_master WHERE name = 'precious'")
        .fetchall()
    )
    assert bool(kept) is with_overlay
