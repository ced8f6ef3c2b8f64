"""
A workload for bench/spawn_vs_fork.py, shaped like a project's suite: each
class hashes a user's password once for its fixtures, with whatever hasher the
worker is configured with, then runs tests that each take a few milliseconds
(a sleep stands for the rest of a typical test's work). Collected only when
SAMPLE_HASHING_TESTS gives how many classes to make.
"""

import os
import time

from django.contrib.auth.hashers import make_password
from django.test import SimpleTestCase

TESTS_PER_CLASS = 20
TEST_SECONDS = 0.02


class PasswordFixture:
    databases = {"default"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.password = make_password("a password")


def make_test(number):
    def test(self):
        time.sleep(TEST_SECONDS)

    test.__name__ = f"test_{number}"
    return test


for number in range(int(os.environ.get("SAMPLE_HASHING_TESTS", "0"))):
    name = f"PasswordHashingTests{number}"
    methods = {f"test_{n}": make_test(n) for n in range(TESTS_PER_CLASS)}
    globals()[name] = type(
        name, (PasswordFixture, SimpleTestCase), {"__module__": __name__, **methods}
    )
