"""
Per-worker cache isolation for test runs, and --isolate-cache.

Each worker of a parallel run has a database of its own, so two workers mint
the same ids, build the same cache keys and, on a shared Redis or memcached,
read each other's entries; Django's clear() is FLUSHDB or flush_all, which
wipes every other worker's keys and whatever else lives in that database.

While a test run is active (from the runner's setup_test_environment() to its
teardown_test_environment(), and in its workers), every cache gets a
namespace of its own per run and per process: ``<run>.<worker>``, where the
run is random, the parent (and a serial run) is worker 0, and parallel
workers are numbered 1..N by the parent. Outside a test run nothing changes.

- Redis (Django's RedisCache and django-redis) and memcached (PyMemcacheCache,
  PyLibMCCache): every key the backend sends to the server is prefixed with
  ``<run>.<worker>.<generation>.``. The prefix goes on the key Django has
  already made and validated, so KEY_PREFIX, VERSION, KEY_FUNCTION and key
  validation (and Django's own tests of them) behave as upstream; only the
  server sees the longer key, which leaves memcached's 250 characters minus
  about 16 for the key itself.
- FileBasedCache: the cache files are in ``<LOCATION>/<run>.<worker>``;
  ``_dir`` stays LOCATION, for what reads it (the caches.W002 check).
- LocMemCache is per process already, DatabaseCache lives in the worker's own
  database clone (isolate_worker() makes sure the clone has the cache
  table), DummyCache stores nothing: they are left as they are.

clear() on Redis and memcached bumps the generation of that server's prefix:
O(1), no round trip, whatever the server holds. The alternatives cost more
where it matters: SCAN + DEL walks the whole keyspace (SCAN's MATCH filters
after reading), so with --isolate-cache on a shared Redis holding many keys
every test would pay for all of them; memcached cannot list keys at all. The
generation is per server (and Redis database), as FLUSHDB and flush_all are:
clearing one alias clears the others on the same server, and no more. It
starts from the process id (``<pid>-<n>``), so that a worker replacing one
that died in the same slot does not read what the dead one left.

Entries a bumped generation leaves behind are removed when the namespace is:
when a worker exits, and when the parent's run ends, which also sweeps the
whole run's prefix from the configured Redis caches and file directories, so
that a worker that was killed leaves nothing there either. Redis: SCAN MATCH
on the prefix + DEL, once per process per server, bounded by one pass over the
keyspace. memcached cannot be scanned: each process remembers the keys it
sent and deletes them. Keys outside the namespace are never touched.
"""

import atexit
import glob
import os
import secrets
import shutil
import sys
import threading
from multiprocessing import util as multiprocessing_util

from django.conf import settings
from django.core.cache import InvalidCacheBackendError, caches
from django.core.management import call_command
from django.db import router
from django.utils.module_loading import import_string

from . import patches, switches

ENVIRONMENT_VARIABLE = "DJANGO_TEST_ISOLATE_CACHE"
# Carries the run, and whether to clear between tests, to the workers: spawned
# and forkserver ones get the parent's environment (runner/parity.py).
RUN_VARIABLE = "DJANGO_OVERLAY_CACHE_RUN"
REDIS = "django.core.cache.backends.redis.RedisCache"
MEMCACHED = "django.core.cache.backends.memcached.BaseMemcachedCache"
FILE_BASED = "django.core.cache.backends.filebased.FileBasedCache"
DATABASE = "django.core.cache.backends.db.DatabaseCache"
# Keys per SCAN step and per DEL.
BATCH = 1000

_lock = threading.Lock()
_run = None
_worker = 0
_clear_between_tests = False
# Server location -> generation of its prefix, bumped by clear().
_generations = {}
# Server location -> the cache (Redis, memcached) used to remove the namespace.
_servers = {}
# memcached location -> every key this process sent it.
_sent_keys = {}
# FileBasedCache base directory -> whether it existed before the run.
_file_directories = {}


def requested_isolation(option=False):
    """Whether --isolate-cache or DJANGO_TEST_ISOLATE_CACHE asks for clearing."""
    return switches.requested(option, ENVIRONMENT_VARIABLE)


def is_active():
    return _run is not None


def clears_between_tests():
    """Whether --isolate-cache asked for every test to start with empty caches."""
    return _clear_between_tests and is_active()


def namespace():
    return f"{_run}.{_worker}"


# The run, in the parent and in each worker.


def start_run(clear_between_tests):
    """
    In the parent: start the run's namespace, unless one is active already
    (a runner started inside a test run keeps the outer run's).
    """
    global _run, _worker, _clear_between_tests
    if is_active():
        return False
    _run, _worker = f"djt{secrets.token_hex(4)}", 0
    _clear_between_tests = clear_between_tests
    os.environ[RUN_VARIABLE] = f"{_run} clear" if clear_between_tests else _run
    for location in _configured_file_directories():
        _file_directories[location] = os.path.isdir(location)
    # teardown_test_environment() does not run when database setup fails.
    atexit.register(_end_run_at_exit, os.getpid())
    return True


def end_run():
    """
    In the parent, once the workers are gone: remove the whole run's
    namespace, this process's and whatever a killed worker left, from the
    configured caches and those this process used.
    """
    if not is_active():
        return
    try:
        for alias in settings.CACHES:
            try:
                _remember_server(caches[alias])
            except (ImportError, InvalidCacheBackendError):
                # A cache whose library is missing here cannot hold any keys.
                pass
        _remove_namespace(keys_matching=f"{_run}.*", directories_matching=f"{_run}.*")
        for location, existed in _file_directories.items():
            if not existed:
                _remove_empty_directory(location)
    finally:
        os.environ.pop(RUN_VARIABLE, None)
        _stop()


def _end_run_at_exit(owner_pid):
    # Forked workers inherit atexit handlers; only the parent ends the run.
    if os.getpid() == owner_pid:
        end_run()


def isolate_worker(worker_id, aliases):
    """
    In a worker, before its first test: take the run's namespace for this
    worker, and make sure its database clones have the cache table (a clone
    kept by --keepdb may predate it).
    """
    global _run, _worker, _clear_between_tests
    if run := os.environ.get(RUN_VARIABLE):
        # Under fork the parent's state came along: none of it is this worker's.
        _stop()
        _run, *flags = run.split()
        _worker, _clear_between_tests = worker_id, "clear" in flags
        multiprocessing_util.Finalize(None, end_worker, exitpriority=10)
    if any(_backend_is(alias, DATABASE) for alias in settings.CACHES):
        for alias in aliases:
            call_command("createcachetable", database=alias, verbosity=0)


def end_worker():
    if is_active():
        try:
            _remove_namespace(keys_matching=f"{namespace()}.*", directories_matching=namespace())
        finally:
            _stop()


def _stop():
    global _run, _worker, _clear_between_tests
    _run, _worker, _clear_between_tests = None, 0, False
    _generations.clear()
    _servers.clear()
    _sent_keys.clear()
    _file_directories.clear()


def _backend_is(alias, dotted_path):
    try:
        backend = import_string(settings.CACHES[alias]["BACKEND"])
    except ImportError:
        return False
    return issubclass(backend, import_string(dotted_path))


def _configured_file_directories():
    return [
        os.path.abspath(settings.CACHES[alias]["LOCATION"])
        for alias in settings.CACHES
        if _backend_is(alias, FILE_BASED)
    ]


# Keys, generations and clear().


def _location(cache):
    """The server (and Redis database) a cache talks to."""
    servers = getattr(cache, "_servers", None) or cache._server
    return tuple([servers] if isinstance(servers, str) else servers)


def _prefixed(cache, key):
    location = _location(cache)
    _servers[location] = cache
    return f"{namespace()}.{os.getpid()}-{_generations.get(location, 0)}.{key}"


def _bump_generation(cache):
    location = _location(cache)
    with _lock:
        _servers[location] = cache
        _generations[location] = _generations.get(location, 0) + 1


def redis_make_and_validate_key(self, key, version=None):
    key = patches.original(redis_make_and_validate_key)(self, key, version=version)
    return _prefixed(self, key) if is_active() else key


def redis_clear(self):
    if not is_active():
        return patches.original(redis_clear)(self)
    _bump_generation(self)
    # As FLUSHDB's answer.
    return True


def memcached_make_and_validate_key(self, key, version=None):
    key = patches.original(memcached_make_and_validate_key)(self, key, version=version)
    if not is_active():
        return key
    key = _prefixed(self, key)
    _sent_keys.setdefault(_location(self), set()).add(key)
    return key


def memcached_clear(self):
    if not is_active():
        return patches.original(memcached_clear)(self)
    _bump_generation(self)


def django_redis_make_key(self, key, version=None, prefix=None):
    made = patches.original(django_redis_make_key)(self, key, version=version, prefix=prefix)
    # A key it has made already (a CacheKey) comes back as it was.
    if not is_active() or made is key:
        return made
    return type(made)(_prefixed(self, made))


def django_redis_make_pattern(self, pattern, version=None, prefix=None):
    made = patches.original(django_redis_make_pattern)(
        self, pattern, version=version, prefix=prefix
    )
    if not is_active() or made is pattern:
        return made
    # The namespace has no glob characters: it matches itself.
    return type(made)(_prefixed(self, made))


def django_redis_clear(self, client=None):
    if not is_active():
        return patches.original(django_redis_clear)(self, client)
    _bump_generation(self)


def django_redis_sharded_clear(self, *args, **kwargs):
    if not is_active():
        return patches.original(django_redis_sharded_clear)(self, *args, **kwargs)
    _bump_generation(self)


def _namespace_directory(cache):
    return os.path.join(cache._dir, namespace())


def file_key_to_file(self, key, version=None):
    path = patches.original(file_key_to_file)(self, key, version)
    if not is_active():
        return path
    return os.path.join(_namespace_directory(self), os.path.basename(path))


def file_createdir(self):
    # LOCATION itself as upstream makes it, then the namespace's directory in it.
    patches.original(file_createdir)(self)
    if is_active():
        _file_directories.setdefault(self._dir, True)
        try:
            os.mkdir(_namespace_directory(self), 0o700)
        except FileExistsError:
            pass


def file_list_cache_files(self):
    if not is_active():
        return patches.original(file_list_cache_files)(self)
    directory = glob.escape(_namespace_directory(self))
    return glob.glob(os.path.join(directory, f"*{self.cache_suffix}"))


# Removing a namespace.


def _remember_server(cache):
    """Note a configured Redis cache, so that the run's end sweeps its server."""
    if isinstance(cache, import_string(REDIS)):
        _servers.setdefault(_location(cache), cache)
    elif type(cache).__module__.startswith("django_redis."):
        # django-redis keeps its connections, and its keys, on a client object.
        _servers.setdefault(_location(cache.client), cache.client)


def _remove_namespace(keys_matching, directories_matching):
    """
    Delete the keys matching a glob pattern from every Redis server used, the
    keys this process sent to every memcached server used, and the
    directories matching a glob pattern in every FileBasedCache location used.
    """
    for cache in list(_servers.values()):
        if isinstance(cache, import_string(MEMCACHED)):
            _delete_memcached_keys(cache, _sent_keys.get(_location(cache), ()))
        else:
            for connection in _redis_connections(cache):
                _delete_redis_keys(connection, keys_matching)
    for base in _file_directories:
        for directory in glob.glob(os.path.join(glob.escape(base), directories_matching)):
            shutil.rmtree(directory, ignore_errors=True)


def _redis_connections(cache):
    """Connections to the Redis server(s) behind a cache or a django-redis client."""
    if hasattr(cache, "_serverdict"):
        # django-redis's ShardClient: one connection per shard.
        return list(cache._serverdict.values())
    if isinstance(cache, import_string(REDIS)):
        return [cache._cache.get_client(write=True)]
    return [cache.get_client(write=True)]


def _delete_redis_keys(connection, pattern):
    batch = []
    for key in connection.scan_iter(match=pattern, count=BATCH):
        batch.append(key)
        if len(batch) == BATCH:
            connection.delete(*batch)
            batch = []
    if batch:
        connection.delete(*batch)


def _delete_memcached_keys(cache, keys):
    keys = list(keys)
    for start in range(0, len(keys), BATCH):
        cache._cache.delete_multi(keys[start : start + BATCH])


def _remove_empty_directory(path):
    try:
        os.rmdir(path)
    except OSError:
        pass


# Replacements for the runner and the test case.


def setup_test_environment(self, **kwargs):
    patches.original(setup_test_environment)(self, **kwargs)
    self.started_cache_run = start_run(getattr(self, "isolate_cache", False))


def teardown_test_environment(self, **kwargs):
    try:
        patches.original(teardown_test_environment)(self, **kwargs)
    finally:
        if getattr(self, "started_cache_run", False):
            end_run()


def _setup_and_call(self, result, debug=False):
    """With --isolate-cache, every test starts with every cache empty."""
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
    """
    Clear every configured cache the test can reach. A DatabaseCache is
    cleared only for a test allowed to query its database: a test that is
    not cannot see its entries either.
    """
    from django.core.cache.backends.db import DatabaseCache

    for alias in caches:
        try:
            cache = caches[alias]
        except (ImportError, InvalidCacheBackendError):
            # Upstream raises when the test uses it; nothing to clear here.
            continue
        if isinstance(cache, DatabaseCache):
            database = router.db_for_write(cache.cache_model_class)
            if database not in test.databases:
                continue
        cache.clear()
