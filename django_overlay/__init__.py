"""
An overlay for Django's test framework that makes ``manage.py test
--parallel`` trustworthy on every start method and database.

Call install() before django.setup(), e.g. in manage.py::

    import django_overlay
    django_overlay.install()

Importing the package imports nothing of Django: the package is also a
pytest plugin, loaded in every pytest run where it is installed, Django
project or not. Its names come from their modules when first used.
"""

import importlib

__all__ = ["install", "is_installed", "shared_connections", "uninstall"]

_MODULES = {
    "install": "patches",
    "is_installed": "patches",
    "uninstall": "patches",
    "shared_connections": "connection_sharing",
}


def __getattr__(name):
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
    globals()[name] = value
    return value
