"""
BENCH_TESTS live-server tests, each one insert and one HTTP request, on the
overlay's LiveServerTestCase and on Django's. Each class appends to
BENCH_RESULTS its tests' time, each from its fixture setup (the transaction
or nothing) to its fixture teardown (the rollback or the flush), and its
wall time from setUpClass to the end of its class cleanups.
"""

import json
import os
import time
from urllib.request import ProxyHandler, build_opener

from django.test import LiveServerTestCase as DjangoLiveServerTestCase

from django_overlay.testcases import LiveServerTestCase as OverlayLiveServerTestCase

from .models import Entity00

http = build_opener(ProxyHandler({}))


def record(cls, started):
    result = {
        "kind": cls.kind,
        "tests": cls.test_seconds,
        "class": time.perf_counter() - started,
    }
    with open(os.environ["BENCH_RESULTS"], "a") as results:
        results.write(json.dumps(result) + "\n")


class Timed:
    kind = ""

    @classmethod
    def setUpClass(cls):
        cls.test_seconds = []
        # Registered first, so it runs after every other class cleanup.
        cls.addClassCleanup(record, cls, time.perf_counter())
        super().setUpClass()

    def __call__(self, result=None):
        # Around Django's fixture setup and teardown of each test.
        started = time.perf_counter()
        super().__call__(result)
        self.test_seconds.append(time.perf_counter() - started)


def make_test(number):
    def test(self):
        Entity00.objects.create(name=f"row {number}")
        with http.open(f"{self.live_server_url}/count/") as response:
            self.assertEqual(response.read(), b"1")

    test.__name__ = f"test_{number:03d}"
    return test


TESTS = {
    f"test_{number:03d}": make_test(number)
    for number in range(int(os.environ.get("BENCH_TESTS", "0")))
}
OverlayTests = type(
    "OverlayTests", (Timed, OverlayLiveServerTestCase), {"kind": "overlay", **TESTS}
)
DjangoTests = type("DjangoTests", (Timed, DjangoLiveServerTestCase), {"kind": "django", **TESTS})
