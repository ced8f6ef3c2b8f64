"""
DatabaseCache: it lives in the worker's own database clone, so it needs no
namespace; each worker makes sure its clones have the cache table, and a test
clears it only where it may query its database.
"""

from django.core.management import call_command
from django.db import router

from . import namespace

DATABASE = "django.core.cache.backends.db.DatabaseCache"


def create_tables(aliases):
    """A clone kept by --keepdb may predate the cache table."""
    if namespace.configured_aliases(DATABASE):
        for alias in aliases:
            call_command("createcachetable", database=alias, verbosity=0)


def reachable(test, cache):
    """A test that may not query the cache's database cannot see its entries either."""
    return router.db_for_write(cache.cache_model_class) in test.databases
