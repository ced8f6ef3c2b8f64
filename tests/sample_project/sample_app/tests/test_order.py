"""
A class that leaves state behind and classes that fail after it on the same
worker only: the order-dependent failures tests/test_order_record.py runs.
"""

import os
import time

from django.test import SimpleTestCase

# What a test forgot to restore: a module global, here.
LEFT_BEHIND = []

if "SAMPLE_ORDER_DEPENDENT" in os.environ:

    class LeavesStateBehindTests(SimpleTestCase):
        def test_leaves_state_behind(self):
            LEFT_BEHIND.append(os.getpid())

    class VictimChecks:
        def test_nothing_left_behind(self):
            # Long enough for the other worker to come back for a class.
            time.sleep(0.5)
            self.assertEqual(LEFT_BEHIND, [])

    class VictimATests(VictimChecks, SimpleTestCase):
        pass

    class VictimBTests(VictimChecks, SimpleTestCase):
        pass

    class VictimCTests(VictimChecks, SimpleTestCase):
        pass

    class VictimDTests(VictimChecks, SimpleTestCase):
        pass
