"""
An overlay for Django's test framework that makes ``manage.py test
--parallel`` trustworthy on every start method and database.

Call install() before django.setup(), e.g. in manage.py::

    import django_overlay
    django_overlay.install()
"""

from .patches import install, is_installed, uninstall
from .shared_connections import shared_connections

__all__ = ["install", "is_installed", "shared_connections", "uninstall"]
