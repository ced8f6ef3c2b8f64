"""
--isolate-cache (or DJANGO_TEST_ISOLATE_CACHE=1): every test starts with
every cache it can reach empty, whatever its test class.
"""

import sys

from django.core.cache import InvalidCacheBackendError, caches

from .. import patches, switches
from . import db, namespace

ENVIRONMENT_VARIABLE = "DJANGO_TEST_ISOLATE_CACHE"


def requested_isolation(option=False):
    """Whether --isolate-cache or DJANGO_TEST_ISOLATE_CACHE asks for clearing."""
    return switches.requested(option, ENVIRONMENT_VARIABLE)


def clears_between_tests():
    """Whether the active run asked for every test to start with empty caches."""
    return namespace.active is not None and namespace.active.run.clear_between_tests


def _setup_and_call(self, result, debug=False):
    """A failure to clear is the test's error, as a failing setUp() would be."""
    if clears_between_tests():
        try:
            clear_caches(self)
        except Exception:
            if debug:
                raise
            result.addError(self, sys.exc_info())
            return
    patches.original(_setup_and_call)(self, result, debug)


def clear_caches(test):
    """Clear every configured cache the test can reach."""
    from django.core.cache.backends.db import DatabaseCache

    for alias in caches:
        try:
            cache = caches[alias]
        except (ImportError, InvalidCacheBackendError):
            # Upstream raises when the test uses it; nothing to clear here.
            continue
        if isinstance(cache, DatabaseCache) and not db.reachable(test, cache):
            continue
        cache.clear()
