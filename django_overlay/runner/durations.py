"""
The durations file: how long each TestCase class took in earlier runs, so
that the next run can start the longest first.

A JSON object {"format": 1, "classes": {"app.tests.SomeTests": seconds}},
merged after every parallel run: classes that ran take their new time, the
others keep theirs. Runs may end at the same moment (two checkouts, CI
jobs), so the file is rewritten under a lock and replaced atomically
(atomic_files). A file that cannot be read is a warning, never a crash; it is
kept beside the new one as <name>.corrupt rather than lost. A file that
cannot be written is a warning too: the run's summary is printed after it.

JUnit XML files (--junit-xml, a CI's archived results) are a second source:
a class's duration there is the sum of its tests' times, which leaves out its
setUpClass and fixtures, so it is a little shorter than what a parallel run
records; both only ever rank classes against each other.
"""

import errno
import json
import os
import warnings
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from ..paths import cache_root, project_key
from . import atomic_files
from .notices import warn

try:
    import fcntl
except ImportError:
    # Windows.
    fcntl = None
    import msvcrt

FORMAT = 1


class DurationsFileWarning(UserWarning):
    pass


def default_path():
    """One file per project and settings, in the cache directory."""
    return cache_root() / "durations" / f"{project_key()}.json"


def load(path, junit_paths=()):
    """
    Class label -> seconds, from the file at path, then the JUnit XML files;
    empty when none can be read.
    """
    durations, problem = _read(Path(path))
    if problem:
        warnings.warn(
            f"Ignoring the durations file {path}: {problem}. Tests run in an "
            "order estimated from their counts; the file is rewritten after the run.",
            DurationsFileWarning,
            stacklevel=2,
        )
    durations.update(from_junit(junit_paths))
    return durations


def from_junit(paths):
    """
    Class label -> seconds from JUnit XML files, or every *.xml under a
    directory (where a CI unpacks archived results). A class found in
    several files (the shards of one run do not overlap, reruns do) takes
    the time of the last file read, in sorted path order.
    """
    durations = {}
    for path in paths:
        path = Path(path)
        for xml_file in sorted(path.rglob("*.xml")) if path.is_dir() else [path]:
            durations.update(_read_junit(xml_file))
    return durations


def _read_junit(path):
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as error:
        warnings.warn(
            f"Ignoring the JUnit XML file {path}: cannot read it ({error}).",
            DurationsFileWarning,
            stacklevel=3,
        )
        return {}
    classes = defaultdict(float)
    for testcase in root.iter("testcase"):
        try:
            seconds = float(testcase.get("time", ""))
        except ValueError:
            continue
        if testcase.get("classname") and seconds >= 0:
            classes[testcase.get("classname")] += seconds
    return dict(classes)


def record(path, measured):
    """Merge this run's class durations into the file at path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            durations, problem = _read(path)
            if problem:
                atomic_files.replace(path, path.with_name(path.name + ".corrupt"))
            durations.update(measured)
            content = json.dumps({"format": FORMAT, "classes": durations}, indent=0, sort_keys=True)
            atomic_files.write_atomically(path, lambda file: file.write(content.encode()))
    except OSError as error:
        warn(
            f"Could not record this run's durations in {path}: {error}. The next "
            "run orders its classes from what the file held before.",
            DurationsFileWarning,
        )


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
    """
    Hold the lock of the durations file at path. The file itself is no place
    for the lock: it is replaced, so the next run would lock the new file
    while this one still held the old.

    Where there is fcntl (Linux, macOS), the lock is flock() on the directory
    the file is in, which leaves nothing behind. Windows can neither open a
    directory nor flock(): msvcrt.locking() locks a file <name>.lock beside
    the durations file, removed when the lock is released; the removal fails,
    harmlessly, while another run has the lock file open (it removes it in
    turn), so the lock file outlives a run only if the run is killed holding
    it. A library such as filelock would need a lock file everywhere, and its
    POSIX lock leaves one behind by design.
    """
    if fcntl is not None:
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(directory, fcntl.LOCK_EX)
            yield
        finally:
            os.close(directory)
        return
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+b") as lock_file:
        lock_file.seek(0)
        while True:
            try:
                # Gives up after ten one-second attempts of its own.
                msvcrt.locking(lock_file.fileno(), msvcrt.LK_LOCK, 1)
                break
            except OSError as error:
                if error.errno != errno.EDEADLOCK:
                    raise
        try:
            yield
        finally:
            lock_file.seek(0)
            msvcrt.locking(lock_file.fileno(), msvcrt.LK_UNLCK, 1)
    try:
        os.unlink(lock_path)
    except OSError:
        # Another run has it open, waiting for the lock; it removes it.
        pass
