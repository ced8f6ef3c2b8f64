import os

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def record_migrate(using, **kwargs):
    """
    One line per migrate of this app, for the driver to count: the alias and
    the process (an xdist worker's id, else "controller"). Flushing a
    database sends post_migrate too, without a plan.
    """
    if "plan" in kwargs and (records := os.environ.get("PYTEST_SAMPLE_RECORDS")):
        process = os.environ.get("PYTEST_XDIST_WORKER", "controller")
        with open(os.path.join(records, "migrate"), "a") as file:
            file.write(f"{using} {process}\n")


class RowsConfig(AppConfig):
    name = "rows"

    def ready(self):
        post_migrate.connect(record_migrate, sender=self)
