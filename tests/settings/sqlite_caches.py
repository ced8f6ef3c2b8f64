"""
Settings for Django's own cache tests against real servers, on SQLite:
``python runtests.py --settings sqlite_caches cache``.

Django's suite runs its Redis and memcached tests only for backends named in
CACHES. Here they are the local Redis (DJANGO_OVERLAY_REDIS_URL, by default
database 5 at 127.0.0.1:6379) and the memcached at DJANGO_OVERLAY_MEMCACHED
(host:port), shared with whoever else uses them.

Only with the overlay (runtests.py without --no-overlay): upstream's cache.clear(), which those tests call after
every test, is FLUSHDB and flush_all, and would wipe everyone else's keys.
With the overlay it clears the run's own namespace, which is removed at the
end of the run.
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from test_sqlite import *  # noqa: F403

# runtests.py reads these settings before it installs the overlay, or not.
if "--no-overlay" in sys.argv:
    raise ImproperlyConfigured(
        "sqlite_caches runs Django's cache tests against shared Redis and memcached "
        "servers: only with the overlay, whose clear() is not FLUSHDB or flush_all."
    )
if not os.environ.get("DJANGO_OVERLAY_MEMCACHED"):
    raise ImproperlyConfigured("Set DJANGO_OVERLAY_MEMCACHED to a memcached server's host:port.")

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("DJANGO_OVERLAY_REDIS_URL", "redis://127.0.0.1:6379/5"),
    },
    "pymemcache": {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": os.environ["DJANGO_OVERLAY_MEMCACHED"],
    },
    "pylibmc": {
        "BACKEND": "django.core.cache.backends.memcached.PyLibMCCache",
        "LOCATION": os.environ["DJANGO_OVERLAY_MEMCACHED"],
    },
}
