import os

from django.test import SimpleTestCase

if "SAMPLE_SETUP_CLASS_ERROR" in os.environ:

    class SetUpClassErrorTests(SimpleTestCase):
        """An error outside any test, which buffered output must not hide."""

        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            raise ValueError(os.environ["SAMPLE_SETUP_CLASS_ERROR"])

        def test_never_runs(self):
            pass
