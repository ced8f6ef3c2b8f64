"""
Redis, Django's RedisCache and django-redis: every key the server sees is in
the namespace, clear() starts a new generation instead of FLUSHDB, and the
namespace is removed by SCAN MATCH on its prefix + DEL, once per process per
server, bounded by one pass over the keyspace.
"""

from django.utils.module_loading import import_string

from .. import patches
from . import namespace

REDIS = "django.core.cache.backends.redis.RedisCache"
# Keys per SCAN step and per DEL.
BATCH = 1000


def make_and_validate_key(self, key, version=None):
    key = patches.original(make_and_validate_key)(self, key, version=version)
    active = namespace.active
    return key if active is None else active.prefixed(self, key, remove_keys)


def clear(self):
    active = namespace.active
    if active is None:
        return patches.original(clear)(self)
    active.clear(self, remove_keys)
    # As FLUSHDB's answer.
    return True


def django_redis_make_key(self, key, version=None, prefix=None):
    made = patches.original(django_redis_make_key)(self, key, version=version, prefix=prefix)
    active = namespace.active
    # A key it has made already (a CacheKey) comes back as it was.
    if active is None or made is key:
        return made
    return type(made)(active.prefixed(self, made, remove_keys))


def django_redis_make_pattern(self, pattern, version=None, prefix=None):
    made = patches.original(django_redis_make_pattern)(
        self, pattern, version=version, prefix=prefix
    )
    active = namespace.active
    if active is None or made is pattern:
        return made
    # The namespace has no glob characters: it matches itself.
    return type(made)(active.prefixed(self, made, remove_keys))


def django_redis_clear(self, client=None):
    active = namespace.active
    if active is None:
        return patches.original(django_redis_clear)(self, client)
    active.clear(self, remove_keys)


def django_redis_sharded_clear(self, *args, **kwargs):
    active = namespace.active
    if active is None:
        return patches.original(django_redis_sharded_clear)(self, *args, **kwargs)
    active.clear(self, remove_keys)


def remember(active, cache):
    """Note a configured Redis cache, so that the run's end sweeps its server."""
    if isinstance(cache, import_string(REDIS)):
        active.remember(cache, remove_keys)
    elif type(cache).__module__.startswith("django_redis."):
        # django-redis keeps its connections, and its keys, on a client object.
        active.remember(cache.client, remove_keys)


def remove_keys(active, cache, pattern):
    for connection in _connections(cache):
        batch = []
        for key in connection.scan_iter(match=pattern, count=BATCH):
            batch.append(key)
            if len(batch) == BATCH:
                connection.delete(*batch)
                batch = []
        if batch:
            connection.delete(*batch)


def _connections(cache):
    """Connections to the Redis server(s) behind a cache or a django-redis client."""
    if hasattr(cache, "_serverdict"):
        # django-redis's ShardClient: one connection per shard.
        return list(cache._serverdict.values())
    if isinstance(cache, import_string(REDIS)):
        return [cache._cache.get_client(write=True)]
    return [cache.get_client(write=True)]
