from django.test import SimpleTestCase

from .recording import record_this_process


class StartMethodTests(SimpleTestCase):
    def test_record_start_method(self):
        """tests/test_start_method.py reads the start method recorded here."""
        record_this_process()
