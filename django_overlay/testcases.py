"""
Live-server test cases at TestCase speed.

Django's LiveServerTestCase is a TransactionTestCase: its server thread has
connections of its own, so the test must commit for the server to see its
data, and every test ends by flushing every table, which on a real schema
costs far more than the test. These classes are TestCases: each test runs in
a transaction that is rolled back, and the server thread uses the test's own
connections (shared_connections), so both see the same uncommitted data.
"""

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test import TestCase
from django.test import testcases as upstream

from .connection_sharing import shared_connections


class LiveServer(ThreadedWSGIServer):
    """
    Stops within 50 ms of shutdown(): socketserver looks for it every 0.5 s,
    which every live-server class pays when it ends, more than a dozen tests
    cost once they are rolled back rather than flushed.
    """

    def serve_forever(self, poll_interval=0.05):
        super().serve_forever(poll_interval)


class LiveServerThread(upstream.LiveServerThread):
    server_class = LiveServer


class LiveServerTestCase(upstream.LiveServerTestCase, TestCase):
    """
    upstream's live server (host, port, live_server_url, server_thread_class,
    static_handler) on TestCase's transactions, sharing the connection of
    every database in `databases` with the server's threads.
    """

    server_thread_class = LiveServerThread

    @classmethod
    def setUpClass(cls):
        # Before TestCase opens the class's transactions, so that a database
        # that cannot be shared fails here with nothing to undo; left after
        # the server thread ends, as class cleanups run last in, first out.
        cls.databases = cls._validate_databases()
        cls.enterClassContext(shared_connections(cls._databases_names(include_mirrors=False)))
        super().setUpClass()

    @classmethod
    def _make_connections_override(cls):
        # The server's threads find the shared connections through
        # connections[alias]; upstream's override would also hand them the
        # in-memory SQLite ones, unlocked.
        return {}


class StaticLiveServerTestCase(LiveServerTestCase):
    """django.contrib.staticfiles.testing.StaticLiveServerTestCase on TestCase."""

    static_handler = StaticFilesHandler
