"""
Files a run writes for others to read (the durations file, --junit-xml):
written whole into a temporary file beside the target, then renamed over it,
so that a reader never sees half of one.

The temporary file is created with os.open(), not tempfile.mkstemp(), so that
its mode follows the umask as any file the user's tools write does (mkstemp
makes it 0600, and a CI step running as another user could not read the
report). On Windows, os.replace() fails with PermissionError while another
process has the target open (a concurrent run reading it, an antivirus
scanning it); it is tried again for a moment before giving up.
"""

import os
import secrets
import time
from pathlib import Path

REPLACE_ATTEMPTS = 20
REPLACE_PAUSE_SECONDS = 0.05


def write_atomically(path, write):
    """Call write(file) on a new binary file, then put it in place of path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary, fd = _create_beside(path)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
        replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _create_beside(path):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = path.with_name(f".{path.name}-{secrets.token_hex(6)}.tmp")
        try:
            return temporary, os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue


def replace(source, target):
    """os.replace(), tried again for a moment while the target is held open (Windows)."""
    for attempt in range(REPLACE_ATTEMPTS):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if attempt == REPLACE_ATTEMPTS - 1:
                raise
            time.sleep(REPLACE_PAUSE_SECONDS)
