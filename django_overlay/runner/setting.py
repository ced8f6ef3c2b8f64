"""
The class for the TEST_RUNNER setting, "django_overlay.runner.DiscoverRunner":
Django's runner with the overlay installed by the time the runner is made.
"""

from django.test import runner as upstream

from .. import patches


class DiscoverRunner(upstream.DiscoverRunner):
    @classmethod
    def add_arguments(cls, parser):
        patches.install()
        super().add_arguments(parser)

    def __init__(self, *args, **kwargs):
        patches.install()
        super().__init__(*args, **kwargs)
