"""
Tests that hold only if the worker running them is configured as the parent
was by sample_project.runner.ProjectRunner. Collected only when that runner
runs them (SAMPLE_TEST_RUNNER).
"""

import os
import warnings

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core import mail
from django.db import connection
from django.test import SimpleTestCase

from sample_project.runner import FAST_HASHER, MAIL_BACKEND, SampleParityWarning

from .recording import record_this_process, wait_for_another_worker


class RunnerConfiguration:
    def setUp(self):
        record_this_process()
        wait_for_another_worker()

    def test_password_hasher(self):
        self.assertEqual(settings.PASSWORD_HASHERS, [FAST_HASHER])
        encoded = make_password("secret")
        self.assertTrue(encoded.startswith("md5$"), encoded)
        self.assertTrue(check_password("secret", encoded))

    def test_mail_backend(self):
        self.assertEqual(settings.EMAIL_BACKEND, MAIL_BACKEND)
        self.assertEqual(type(mail.get_connection()).__module__, "django.core.mail.backends.dummy")

    def test_feature_flag(self):
        self.assertIs(getattr(settings, "SAMPLE_FEATURE_ENABLED", False), True)

    def test_environment_variable(self):
        self.assertEqual(os.environ.get("SAMPLE_SET_BY_RUNNER"), "yes")

    def test_import_path(self):
        import sample_extra

        self.assertIs(sample_extra.ADDED_BY_RUNNER, True)

    def test_warnings_filter(self):
        with self.assertRaises(SampleParityWarning):
            warnings.warn("an error, by the runner's filter", SampleParityWarning, stacklevel=1)

    def test_debug_sql(self):
        expected = os.environ.get("SAMPLE_EXPECT_DEBUG_SQL") == "1"
        self.assertIs(connection.force_debug_cursor, expected)


if os.environ.get("SAMPLE_TEST_RUNNER") == "sample_project.runner.ProjectRunner":

    class FirstRunnerConfigurationTests(RunnerConfiguration, SimpleTestCase):
        databases = {"default"}

    class SecondRunnerConfigurationTests(RunnerConfiguration, SimpleTestCase):
        databases = {"default"}

    class ThirdRunnerConfigurationTests(RunnerConfiguration, SimpleTestCase):
        databases = {"default"}
