"""
A case-insensitive file system, simulated for the process and the workers it
spawns (they inherit PYTHONPATH): no such file system can be mounted on the
Linux machines the tests run on, and APFS and NTFS are case-insensitive by
default.

What is simulated: the os functions Django's SQLite creation and the overlay's
guard go through (stat, lstat, access, remove, unlink), for a path whose last
component does not exist as spelled, use the directory's entry that differs
from it only in case. What is not: SQLite's own C code, os.open(), open() and
directory names, which stay case-sensitive; a file SQLite creates under a
spelling of its own is a new file here, where APFS would open the existing one.
"""

import functools
import os

_lstat = os.lstat


def _as_on_disk(path):
    """path, or the existing entry of its directory that differs from it only in case."""
    if not isinstance(path, (str, os.PathLike)):
        return path
    try:
        _lstat(path)
        return path
    except OSError:
        pass
    directory, name = os.path.split(os.fspath(path))
    try:
        entries = os.listdir(directory or ".")
    except OSError:
        return path
    matches = [entry for entry in entries if entry.casefold() == name.casefold()]
    return os.path.join(directory, matches[0]) if matches else path


def _folding_case(function):
    @functools.wraps(function)
    def call(path, *args, **kwargs):
        return function(_as_on_disk(path), *args, **kwargs)

    return call


for _name in ("stat", "lstat", "access", "remove", "unlink"):
    setattr(os, _name, _folding_case(getattr(os, _name)))
