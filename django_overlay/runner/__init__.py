"""
The overlay's parallel runner: the pool that owns the worker processes
(pool), what runs in each worker (worker), the suite that ties them to
Django's runner (suite), and the DiscoverRunner options (discover).

DiscoverRunner is for projects that choose the overlay with the TEST_RUNNER
setting instead of calling django_overlay.install() in manage.py.
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
