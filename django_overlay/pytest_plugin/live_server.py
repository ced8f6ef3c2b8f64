"""
pytest-django's live_server fixture on the test's own transaction.

pytest-django makes every test that uses live_server a transactional_db
one: its server thread has connections of its own, so the test must commit
for the server to see its rows, and every such test ends by flushing every
table. With the plugin enabled, a live_server test that does not ask for
transactions (the transactional_db fixture, or transaction=True or
reset_sequences=True on its django_db mark) runs in a transaction that is
rolled back, as with the db fixture, and the test's connections are shared
with the server's threads while it runs (shared_connections), as the
overlay's LiveServerTestCase does: the server sees the test's rows, the test
sees the server's, and neither is left behind.

The two fixtures below override pytest-django's of the same names; for every
other test they hand over to pytest-django's own.
"""

import pytest

from ..connection_sharing import shared_connections


def keeps_transaction(request):
    """Whether the test uses live_server without asking for transactions."""
    if "live_server" not in request.fixturenames:
        return False
    if "transactional_db" in request.fixturenames:
        return False
    from pytest_django.django_compat import is_django_unittest
    from pytest_django.fixtures import validate_django_db

    if is_django_unittest(request):
        return False
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return True
    transaction, reset_sequences, *_ = validate_django_db(marker)
    return not (transaction or reset_sequences)


class LiveServerInTransaction:
    """Registered by the plugin once pytest-django's fixtures are."""

    @pytest.fixture(autouse=True)
    def _live_server_helper(self, request):
        if not keeps_transaction(request):
            # pytest-django's, which this one overrides.
            yield request.getfixturevalue("_live_server_helper")
            return
        from django.test.utils import modify_settings

        request.getfixturevalue("db")
        server = request.getfixturevalue("live_server")
        # As pytest-django's: the server's host is allowed during the test only.
        with modify_settings(ALLOWED_HOSTS={"append": server.thread.host}):
            yield

    @pytest.fixture
    def _django_db_helper(self, request, django_db_setup, django_db_blocker):
        if not keeps_transaction(request):
            yield request.getfixturevalue("_django_db_helper")
            return
        from django.test import TestCase
        from pytest_django.fixtures import validate_django_db

        marker = request.node.get_closest_marker("django_db")
        _, _, databases, serialized_rollback, available_apps = (
            validate_django_db(marker) if marker else (False, False, None, False, None)
        )

        class LiveServerTestCase(TestCase):
            """
            pytest-django's TestCase for a db test, with the test's
            databases shared: TestCase's class-level transaction (for
            setUpTestData) is skipped, as pytest-django skips it.
            """

            @classmethod
            def setUpClass(cls):
                super(TestCase, cls).setUpClass()
                # Once the databases are validated, before the test's
                # transaction is opened; undone by doClassCleanups(), after
                # it is rolled back.
                cls.enterClassContext(
                    shared_connections(cls._databases_names(include_mirrors=False))
                )

            @classmethod
            def tearDownClass(cls):
                super(TestCase, cls).tearDownClass()

        LiveServerTestCase.serialized_rollback = serialized_rollback
        if databases is not None:
            LiveServerTestCase.databases = databases
        if available_apps is not None:
            LiveServerTestCase.available_apps = available_apps
        with django_db_blocker.unblock():
            LiveServerTestCase.setUpClass()
            try:
                test_case = LiveServerTestCase(methodName="__init__")
                test_case._pre_setup()
                try:
                    yield
                finally:
                    test_case._post_teardown()
                    LiveServerTestCase.tearDownClass()
            finally:
                LiveServerTestCase.doClassCleanups()
