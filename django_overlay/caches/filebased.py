"""
FileBasedCache: during a test run the cache files are in
``<LOCATION>/<run>.<worker>``, which the namespace's removal deletes; ``_dir``
stays LOCATION, for what reads it (the caches.W002 check). clear() deletes
the namespace's files only, as upstream's deletes LOCATION's.
"""

import glob
import os

from django.conf import settings

from .. import patches
from . import namespace

FILE_BASED = "django.core.cache.backends.filebased.FileBasedCache"


def note_configured_directories(active):
    """At the run's start: which configured locations exist before it."""
    for alias in namespace.configured_aliases(FILE_BASED):
        location = os.path.abspath(settings.CACHES[alias]["LOCATION"])
        active.file_directories[location] = os.path.isdir(location)


def remove_directories_made(active):
    """At the run's end: a location the run made goes if nothing else is in it."""
    for location, existed in active.file_directories.items():
        if not existed:
            try:
                os.rmdir(location)
            except OSError:
                pass


def _namespace_directory(active, cache):
    return os.path.join(cache._dir, active.name)


def key_to_file(self, key, version=None):
    path = patches.original(key_to_file)(self, key, version)
    active = namespace.active
    if active is None:
        return path
    return os.path.join(_namespace_directory(active, self), os.path.basename(path))


def createdir(self):
    # LOCATION itself as upstream makes it, then the namespace's directory in it.
    patches.original(createdir)(self)
    active = namespace.active
    if active is not None:
        active.file_directories.setdefault(self._dir, True)
        try:
            os.mkdir(_namespace_directory(active, self), 0o700)
        except FileExistsError:
            pass


def list_cache_files(self):
    active = namespace.active
    if active is None:
        return patches.original(list_cache_files)(self)
    directory = glob.escape(_namespace_directory(active, self))
    return glob.glob(os.path.join(directory, f"*{self.cache_suffix}"))
