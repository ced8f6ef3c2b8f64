"""
A project's own test runner that configures the run at run time, as many
projects do: a fast password hasher, a mail backend, a feature flag, an
environment variable, an import path and a warnings filter, none of them in
the settings module.
"""

import os
import sys
import warnings
from pathlib import Path

from django.conf import settings
from django.test.runner import DiscoverRunner

FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"
MAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
EXTRA_PATH = str(Path(__file__).resolve().parent.parent / "extra_path")


class SampleParityWarning(UserWarning):
    pass


class ProjectRunner(DiscoverRunner):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        warnings.filterwarnings("error", category=SampleParityWarning)
        settings.PASSWORD_HASHERS = [FAST_HASHER]
        os.environ["SAMPLE_SET_BY_RUNNER"] = "yes"
        sys.path.append(EXTRA_PATH)

    def setup_test_environment(self, **kwargs):
        super().setup_test_environment(**kwargs)
        settings.EMAIL_BACKEND = MAIL_BACKEND
        settings.SAMPLE_FEATURE_ENABLED = True
