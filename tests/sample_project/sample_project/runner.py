"""
A project's own test runner that configures the run at run time, as many
projects do: a fast password hasher, a mail backend, a feature flag and an
environment variable, none of them in the settings module.
"""

import os

from django.conf import settings
from django.test.runner import DiscoverRunner

FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"
MAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"


class ProjectRunner(DiscoverRunner):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        settings.PASSWORD_HASHERS = [FAST_HASHER]
        os.environ["SAMPLE_SET_BY_RUNNER"] = "yes"

    def setup_test_environment(self, **kwargs):
        super().setup_test_environment(**kwargs)
        settings.EMAIL_BACKEND = MAIL_BACKEND
        settings.SAMPLE_FEATURE_ENABLED = True
