"""
The overlay's live-server classes in a real browser, and shared_connections()
with a thread pool in the code under test.

tests/test_live_server.py runs them on every database, serially and on two
spawned workers (SAMPLE_LIVE_PARALLEL=1: each browser class then waits until
another worker's live server is up, on a port of its own). Run without the
overlay (SAMPLE_WITHOUT_OVERLAY=1), the same tests use Django's own live
server on TestCase's transactions, and threads keep connections of their own:
what they check is then missing.
"""

import os
import time
from contextlib import ContextDecorator
from urllib.parse import urlencode
from urllib.request import ProxyHandler, build_opener

from django.db import transaction
from django.test import TestCase, TransactionTestCase
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from live_app import threads
from live_app.models import Row
from sample_app.tests.recording import (
    RENDEZVOUS_SECONDS,
    record_this_process,
    results_directory,
)

from .browser import Browser

if os.environ.get("SAMPLE_WITHOUT_OVERLAY") == "1":
    from django.contrib.staticfiles.testing import (
        StaticLiveServerTestCase as UpstreamStaticLiveServerTestCase,
    )
    from django.test import LiveServerTestCase as UpstreamLiveServerTestCase

    class LiveServerTestCase(UpstreamLiveServerTestCase, TestCase):
        pass

    class StaticLiveServerTestCase(UpstreamStaticLiveServerTestCase, TestCase):
        pass

    class shared_connections(ContextDecorator):
        def __enter__(self):
            pass

        def __exit__(self, *exc_info):
            pass

else:
    from django_overlay import shared_connections
    from django_overlay.testcases import LiveServerTestCase, StaticLiveServerTestCase

# Seconds the browser may take to show the page a form redirects to.
PAGE_LOAD_SECONDS = 30
# Not through any proxy the environment names.
http = build_opener(ProxyHandler({}))


def wait_for_another_live_server(own_port):
    """
    Record this worker's live server and return once another worker's is up,
    on another port.
    """
    directory = results_directory()
    # Written under another name and renamed, so that the other worker never
    # reads it half written.
    partial = directory / f"partial-live-server-{os.getpid()}"
    partial.write_text(str(own_port))
    partial.rename(directory / f"live-server-{os.getpid()}")
    deadline = time.monotonic() + RENDEZVOUS_SECONDS
    while True:
        others = [
            int(path.read_text())
            for path in directory.glob("live-server-*")
            if path.name != f"live-server-{os.getpid()}"
        ]
        if others:
            assert own_port not in others, f"port {own_port} in two workers"
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no other worker ran a live server within {RENDEZVOUS_SECONDS} s")
        time.sleep(0.05)


class NoRowsLeft:
    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        # After the class's transaction is rolled back, through a connection
        # of the test's own: nothing any thread wrote may remain.
        left = list(Row.objects.values_list("text", flat=True))
        if left:
            raise AssertionError(f"rows left after {cls.__name__}: {left}")

    def setUp(self):
        record_this_process()


class RowsInBrowser(NoRowsLeft):
    host = "127.0.0.1"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if os.environ.get("SAMPLE_LIVE_PARALLEL") == "1":
            wait_for_another_live_server(cls.server_thread.port)
        cls.browser = Browser()
        cls.addClassCleanup(cls.browser.quit)
        cls.driver = cls.browser.driver

    def shown_rows(self):
        return [item.text for item in self.driver.find_elements(By.CSS_SELECTOR, "#rows li")]

    def test_row_made_in_test_is_shown(self):
        Row.objects.create(text="made in the test")

        self.driver.get(f"{self.live_server_url}/rows/")

        self.assertEqual(self.shown_rows(), ["made in the test"])

    def test_row_written_in_browser_is_seen_by_test(self):
        self.driver.get(f"{self.live_server_url}/rows/new/")
        self.driver.find_element(By.NAME, "text").send_keys("typed in the browser")
        self.driver.find_element(By.ID, "save").click()
        WebDriverWait(self.driver, PAGE_LOAD_SECONDS).until(lambda driver: driver.title == "Rows")

        self.assertEqual(self.shown_rows(), ["typed in the browser"])
        self.assertEqual(list(Row.objects.values_list("text", flat=True)), ["typed in the browser"])

    def test_server_works_while_test_waits_inside_transaction(self):
        """The test thread holds no lock while it waits for the response."""
        with transaction.atomic():
            Row.objects.create(text="inside the test's atomic block")
            form = urlencode({"text": "posted meanwhile"}).encode()
            with http.open(f"{self.live_server_url}/rows/new/", data=form, timeout=60) as response:
                page = response.read().decode()

        self.assertIn("<li>inside the test&#x27;s atomic block</li>", page)
        self.assertIn("<li>posted meanwhile</li>", page)
        self.assertEqual(Row.objects.count(), 2)

    def test_threads_of_the_test_share_too(self):
        """shared_connections() inside a live-server test: sharing nests."""
        Row.objects.create(text="made in the test")

        with shared_connections():
            threads.add_rows(["from a thread"])
        self.driver.get(f"{self.live_server_url}/rows/")

        self.assertEqual(self.shown_rows(), ["made in the test", "from a thread"])


class BrowserTests(RowsInBrowser, LiveServerTestCase):
    pass


class BrowserWithStaticFilesTests(RowsInBrowser, StaticLiveServerTestCase):
    def test_static_files_are_served(self):
        self.driver.get(f"{self.live_server_url}/rows/")

        color = self.driver.find_element(By.ID, "rows").value_of_css_property("color")
        self.assertEqual(color, "rgba(0, 128, 0, 1)")


class SharedConnectionsTests(NoRowsLeft, TestCase):
    def test_threads_see_and_write_the_tests_rows(self):
        Row.objects.create(text="made in the test")

        with shared_connections():
            counts = threads.count_rows()
            threads.add_rows(["one", "two", "three", "four"])

        self.assertEqual(counts, [1] * threads.WORKERS)
        self.assertEqual(Row.objects.count(), 5)

    def test_threads_atomic_blocks_roll_back_alone(self):
        texts = [f"keep {n}" if n % 2 == 0 else f"drop {n}" for n in range(16)]

        with shared_connections():
            threads.add_rows_dropping(texts)

        self.assertEqual(
            sorted(Row.objects.values_list("text", flat=True)),
            sorted(text for text in texts if text.startswith("keep")),
        )

    @shared_connections()
    def test_as_decorator(self):
        Row.objects.create(text="made in the test")

        self.assertEqual(threads.count_rows(), [1] * threads.WORKERS)


class NothingLeftTests(TransactionTestCase):
    """Runs after every TestCase of a serial run."""

    def test_no_rows(self):
        self.assertEqual(Row.objects.count(), 0)
