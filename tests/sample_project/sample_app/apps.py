"""
SAMPLE_SETUP_PAUSE=<seconds>: migrate pauses once it has migrated the test
database, after leaving the file `setting-up` in the results directory, so
that tests/test_database_setup.py can interrupt a run during its database
setup.
"""

import os
import time

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def pause(sender, **kwargs):
    from .tests.recording import results_directory

    (results_directory() / "setting-up").write_text(str(os.getpid()))
    time.sleep(float(os.environ["SAMPLE_SETUP_PAUSE"]))


class SampleAppConfig(AppConfig):
    name = "sample_app"

    def ready(self):
        if os.environ.get("SAMPLE_SETUP_PAUSE"):
            post_migrate.connect(pause, sender=self)
