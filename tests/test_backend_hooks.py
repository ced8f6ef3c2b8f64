"""
The runner asks the backend, not its vendor name (backends/base.py): a backend
it does not know (tests/answering_backend, SQLite's under another name) gets
concurrent clones and copies of identical aliases by answering, and the
serial, upstream way where it answers no.
"""

import pytest
from django.db import connections
from django.test import utils as test_utils

from db_fixtures import django_settings, overlay, use_databases  # noqa: F401
from django_overlay.runner import databases
from test_alias_copies import contrib_apps, migrated, setup  # noqa: F401


def answering_aliases(directory):
    return {
        alias: {
            "ENGINE": "answering_backend",
            "NAME": str(directory / f"{alias}.sqlite3"),
            "TEST": {"NAME": str(directory / f"test_{alias}.sqlite3")},
        }
        for alias in ("default", "other")
    }


def test_a_backend_that_answers_gets_copies(
    use_databases, contrib_apps, migrated, overlay, tmp_path, capsys
):
    use_databases(answering_aliases(tmp_path))
    test_utils.teardown_databases(setup(), verbosity=0)
    assert migrated == ["default"]
    assert "for alias 'other' as a copy of 'default'..." in capsys.readouterr().err


@pytest.mark.parametrize("concurrently", [True, False])
def test_clones_are_made_concurrently_where_the_backend_answers_so(
    use_databases, contrib_apps, overlay, tmp_path, monkeypatch, concurrently
):
    use_databases({"default": answering_aliases(tmp_path)["default"]})
    monkeypatch.setattr(
        type(connections["default"].features),
        "can_clone_databases_concurrently",
        concurrently,
        raising=False,
    )
    run = databases.run_concurrently
    concurrent_jobs = []

    def record(jobs, workers):
        concurrent_jobs.append(len(jobs))
        run(jobs, workers)

    monkeypatch.setattr(databases, "run_concurrently", record)
    old_config = test_utils.setup_databases(verbosity=0, interactive=False, parallel=2)
    clones = [tmp_path / f"test_default_{worker}.sqlite3" for worker in (1, 2)]
    assert all(clone.exists() for clone in clones)
    test_utils.teardown_databases(old_config, verbosity=0, parallel=2)
    assert not any(clone.exists() for clone in clones)
    # The two clones, then the two clones and the test database dropped.
    assert concurrent_jobs == ([2, 3] if concurrently else [])
