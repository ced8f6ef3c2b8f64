"""
One test of each outcome, for tests/test_junit.py: they exist only when
SAMPLE_JUNIT is set, so that ordinary runs of the sample project never meet
the failures.
"""

import os
import threading
import time
import unittest

from django.test import SimpleTestCase

if "SAMPLE_JUNIT" in os.environ:

    class OutcomeTests(SimpleTestCase):
        def test_passes(self):
            pass

        def test_slow(self):
            # Long enough to tell the worker's measured time from a replay's.
            time.sleep(0.3)

        def test_fails(self):
            self.assertEqual(1, 2, "one is not two")

        def test_errors(self):
            raise ValueError("broken on purpose")

        def test_unpicklable_error(self):
            error = RuntimeError("holds a lock")
            error.lock = threading.Lock()
            raise error

        @unittest.skip("skipped on purpose")
        def test_skipped(self):
            pass

        @unittest.expectedFailure
        def test_expected_failure(self):
            self.fail("expected")

        def test_subtests(self):
            for number in range(3):
                with self.subTest(number=number):
                    self.assertNotEqual(number, 1)

    class SetUpClassErrorTests(SimpleTestCase):
        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            raise RuntimeError("class setup broken on purpose")

        def test_never_runs(self):
            pass
