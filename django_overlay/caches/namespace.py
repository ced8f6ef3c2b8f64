"""
The rule every shared cache follows during a test run, in one place: keys
prefixed with the process's namespace, clear() as a new generation of the
prefix, and the namespace removed when the process or the run ends.

clear() bumps the generation of one server's prefix: O(1), no round trip,
whatever the server holds. The alternatives cost more where it matters: SCAN
+ DEL walks the whole keyspace (SCAN's MATCH filters after reading), so with
--isolate-cache on a shared Redis holding many keys every test would pay for
all of them; memcached cannot list keys at all. The generation is per server
(and Redis database), as FLUSHDB and flush_all are: clearing one alias
clears the others on the same server, and no more. It starts from the
process id (``<pid>-<n>``), so that a worker replacing one that died in the
same slot does not read what the dead one left.
"""

import glob
import os
import shutil
import threading
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

# This process's namespace while a test run is active (run.py sets it); None
# outside a test run, where every cache behaves as upstream.
active = None


@dataclass(frozen=True)
class Run:
    """
    What the processes of one test run share, and all a worker needs to take
    its namespace: the parent's runner hands it to the workers in their
    WorkerSetup, the pytest plugin in xdist's workerinput.
    """

    name: str
    clear_between_tests: bool = False


class Namespace:
    """
    One process's namespace in a run, ``<run>.<worker>``, and what this
    process put in the caches under it, so that it can be removed.
    """

    def __init__(self, run, worker):
        self.run = run
        self.name = f"{run.name}.{worker}"
        self._lock = threading.Lock()
        # Server location -> generation of its prefix, bumped by clear().
        self._generations = {}
        # Server location -> (the object that reaches the server, the backend's
        # function removing the keys that match a glob pattern from it).
        self._servers = {}
        # memcached location -> every key this process sent it.
        self.sent_keys = {}
        # FileBasedCache base directory -> whether it existed before the run.
        self.file_directories = {}

    def prefixed(self, cache, key, remove_keys):
        """The key as the server sees it; Django has made and validated key."""
        location = server_location(cache)
        self._servers[location] = (cache, remove_keys)
        return f"{self.name}.{os.getpid()}-{self._generations.get(location, 0)}.{key}"

    def clear(self, cache, remove_keys):
        location = server_location(cache)
        with self._lock:
            self._servers[location] = (cache, remove_keys)
            self._generations[location] = self._generations.get(location, 0) + 1

    def remember(self, cache, remove_keys):
        """Note a server this process did not use, so that remove() reaches it too."""
        self._servers.setdefault(server_location(cache), (cache, remove_keys))

    def remove(self, keys_matching, directories_matching):
        """
        Delete the keys matching a glob pattern from every server used (each
        backend's remove_keys decides how), and the directories matching a
        glob pattern in every FileBasedCache location used.
        """
        for cache, remove_keys in list(self._servers.values()):
            remove_keys(self, cache, keys_matching)
        for base in self.file_directories:
            for directory in glob.glob(os.path.join(glob.escape(base), directories_matching)):
                shutil.rmtree(directory, ignore_errors=True)


def server_location(cache):
    """The server (and Redis database) a cache talks to."""
    servers = getattr(cache, "_servers", None) or cache._server
    return tuple([servers] if isinstance(servers, str) else servers)


def configured_aliases(backend_path):
    """The aliases of settings.CACHES whose backend is, or subclasses, backend_path."""
    return [alias for alias in settings.CACHES if _backend_is(alias, backend_path)]


def _backend_is(alias, backend_path):
    try:
        backend = import_string(settings.CACHES[alias]["BACKEND"])
    except ImportError:
        return False
    return issubclass(backend, import_string(backend_path))
