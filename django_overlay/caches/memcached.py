"""
memcached (PyMemcacheCache, PyLibMCCache): every key the server sees is in
the namespace, and clear() starts a new generation instead of flush_all.
memcached cannot be scanned: each process remembers the keys it sent and
deletes them when its namespace is removed; a killed worker's keys are left
to memcached's eviction.
"""

from .. import patches
from . import namespace

# Keys per delete_multi().
BATCH = 1000


def make_and_validate_key(self, key, version=None):
    key = patches.original(make_and_validate_key)(self, key, version=version)
    active = namespace.active
    if active is None:
        return key
    key = active.prefixed(self, key, remove_keys)
    active.sent_keys.setdefault(namespace.server_location(self), set()).add(key)
    return key


def clear(self):
    active = namespace.active
    if active is None:
        return patches.original(clear)(self)
    active.clear(self, remove_keys)


def remove_keys(active, cache, pattern):
    # The keys sent match the pattern: they were sent in the namespace.
    keys = list(active.sent_keys.get(namespace.server_location(cache), ()))
    for start in range(0, len(keys), BATCH):
        cache._cache.delete_multi(keys[start : start + BATCH])
