"""
SAMPLE_TRIVIAL_TESTS=N trivial tests, 20 a class, for bench/parallel_runner.py's
measure of what the runner costs per test.
"""

import os

from django.test import SimpleTestCase

TESTS = int(os.environ.get("SAMPLE_TRIVIAL_TESTS", "0"))
PER_CLASS = 20


def trivial(self):
    pass


for number in range(0, TESTS, PER_CLASS):
    name = f"TrivialTests{number // PER_CLASS:04d}"
    methods = {f"test_{index:02d}": trivial for index in range(min(PER_CLASS, TESTS - number))}
    globals()[name] = type(name, (SimpleTestCase,), {"__module__": __name__, **methods})
