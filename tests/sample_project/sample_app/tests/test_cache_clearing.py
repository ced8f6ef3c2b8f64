"""
Tests that hold only if every cache is cleared between tests (--isolate-cache
or DJANGO_TEST_ISOLATE_CACHE=1), for every kind of test class. Collected only
when SAMPLE_EXPECT_CLEARED_CACHE is set; tests/test_caches.py runs them.

Each test finds the cache empty, then leaves an entry behind: whichever of a
class's tests runs second fails unless the cache was cleared in between.
"""

import os
from urllib.error import HTTPError
from urllib.request import urlopen

from django.core.cache import cache
from django.test import LiveServerTestCase, SimpleTestCase, TestCase, TransactionTestCase

from .recording import record_this_process


class LeavesAnEntry:
    # A DatabaseCache is in the database.
    databases = {"default"}

    def check_empty_then_leave_an_entry(self):
        record_this_process()
        self.assertIsNone(cache.get("left-by-a-test"))
        cache.set("left-by-a-test", self.id())

    def test_1(self):
        self.check_empty_then_leave_an_entry()

    def test_2(self):
        self.check_empty_then_leave_an_entry()


class ThirdPartyTestCase(TestCase):
    """Like DRF's APITestCase: a TestCase subclass from another package."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.third_party_ready = True


if os.environ.get("SAMPLE_EXPECT_CLEARED_CACHE") == "1":

    class SimpleTests(LeavesAnEntry, SimpleTestCase):
        pass

    class DatabaseTests(LeavesAnEntry, TestCase):
        pass

    class TransactionTests(LeavesAnEntry, TransactionTestCase):
        pass

    class ThirdPartyTests(LeavesAnEntry, ThirdPartyTestCase):
        pass

    class LiveServerTests(LeavesAnEntry, LiveServerTestCase):
        def test_server_thread_shares_the_namespace(self):
            """The live server's thread reads what the test wrote."""
            self.check_empty_then_leave_an_entry()
            try:
                with urlopen(f"{self.live_server_url}/cached/left-by-a-test") as response:
                    answer = response.read().decode()
            except HTTPError as error:
                # HTTPError holds a socket: it cannot be sent to the parent.
                self.fail(f"the live server answered {error}")
            self.assertEqual(answer, repr(self.id()))
