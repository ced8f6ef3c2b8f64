"""
The durations file: how long each TestCase class took in earlier runs, so
that the next run can start the longest first.

A JSON object {"format": 1, "classes": {"app.tests.SomeTests": seconds}},
merged after every parallel run: classes that ran take their new time, the
others keep theirs. Runs may end at the same moment (two checkouts, CI
jobs), so the file is rewritten under a lock and replaced atomically. A file
that cannot be read is a warning, never a crash; it is kept beside the new
one as <name>.corrupt rather than lost.
"""

import fcntl
import hashlib
import json
import os
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

from ..paths import cache_root

FORMAT = 1


class DurationsFileWarning(UserWarning):
    pass


def default_path():
    """
    One file per project and settings, in the cache directory: the command
    that runs the tests (manage.py, runtests.py) and the settings module
    name the project better than the working directory does.
    """
    project = f"{os.path.abspath(sys.argv[0])}\0{os.environ.get('DJANGO_SETTINGS_MODULE', '')}"
    digest = hashlib.sha256(project.encode()).hexdigest()[:16]
    return cache_root() / "durations" / f"{digest}.json"


def load(path):
    """Class label -> seconds; empty when the file is missing or unreadable."""
    durations, problem = _read(Path(path))
    if problem:
        warnings.warn(
            f"Ignoring the durations file {path}: {problem}. Tests run in an "
            "order estimated from their counts; the file is rewritten after the run.",
            DurationsFileWarning,
            stacklevel=2,
        )
    return durations


def record(path, measured):
    """Merge this run's class durations into the file at path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        durations, problem = _read(path)
        if problem:
            os.replace(path, path.with_name(path.name + ".corrupt"))
        durations.update(measured)
        _write(path, {"format": FORMAT, "classes": durations})


def _read(path):
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return {}, f"cannot read it ({error})"
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        return {}, f"it is not a format-{FORMAT} durations file"
    classes = content.get("classes")
    if not isinstance(classes, dict) or not all(
        isinstance(seconds, (int, float)) and seconds >= 0 for seconds in classes.values()
    ):
        return {}, "its classes are not a mapping of names to seconds"
    return classes, None


@contextmanager
def _locked(path):
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write(path, content):
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(content, file, indent=0, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
