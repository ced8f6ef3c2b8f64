"""
The durations file: how long each TestCase class took in earlier runs, so
that the next run can start the longest first.

A JSON object {"format": 1, "classes": {"app.tests.SomeTests": seconds}},
merged after every parallel run: classes that ran take their new time, the
others keep theirs. Runs may end at the same moment (two checkouts, CI
jobs), so the file is rewritten under a lock and replaced atomically. A file
that cannot be read is a warning, never a crash; it is kept beside the new
one as <name>.corrupt rather than lost.

JUnit XML files (--junit-xml, a CI's archived results) are a second source:
a class's duration there is the sum of its tests' times, which leaves out its
setUpClass and fixtures, so it is a little shorter than what a parallel run
records; both only ever rank classes against each other.
"""

import fcntl
import hashlib
import json
import os
import sys
import tempfile
import warnings
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
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
    """
    Hold the lock of the directory the durations file is in. A lock file
    beside it would be left behind after the run, and the durations file
    itself is no place for the lock: it is replaced, so the next run would
    lock the new file while this one still held the old.
    """
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
        yield
    finally:
        os.close(directory)


def _write(path, content):
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(content, file, indent=0, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
