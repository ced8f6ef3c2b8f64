"""
The record of the tests that failed in a project's previous run, which
--failed runs again, as pytest's --last-failed does.

It lives beside the durations file (<durations file>.failed.json), so it is
per project and settings like that file, and moves with --durations-file. A
JSON object {"format": 1, "failed": [labels]}, each label a test's id, or a
class or module label for what failed around its tests:

- a test that failed, errored, or succeeded unexpectedly, or one of whose
  subtests failed: its id;
- a test whose worker died or was stopped by --timeout under it: its id
  (the run reports it as an error or a failure on that test);
- setUpClass or tearDownClass that failed, or a worker lost in them: the
  class, so that all its tests run again; setUpModule and tearDownModule:
  the module;
- a test module that could not be imported: the label it was loaded by,
  and the id of unittest's stand-in for it, which stays the same while the
  module is broken.

Errors that belong to no test (a worker lost between two classes, a
parallel run stopped by --max-worker-restarts or Ctrl-C) add nothing. Every
run that is not a shard replaces the record with its own failures, so that
running --failed again runs only what still fails; the tests it did not get
to run (a run stopped early: --failfast, Ctrl-C, --max-worker-restarts)
keep their entry if they had one, so an interrupted --failed run forgets
nothing; a skipped test counts as run. The file is replaced atomically
(atomic_files); a record that cannot be read is a message and a full run,
never a crash.
"""

import json
import re
import unittest
from pathlib import Path

from django.test.utils import iter_test_cases

from . import atomic_files
from .notices import warn

FORMAT = 1
# How many of the selected tests the start of a --failed run names.
LISTED = 30
# unittest's name for an error in class or module fixtures:
# "setUpClass (app.tests.SomeTests)", "tearDownModule (app.tests)".
FIXTURE_ERROR = re.compile(r"^\w+ \((?P<label>[\w.]+)\)$")


class FailedTestsRecordWarning(UserWarning):
    pass


def path_beside(durations_path):
    return Path(durations_path).with_suffix(".failed.json")


def read(path):
    """The labels recorded at path, or None, and what is wrong with the file, if anything."""
    try:
        content = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return None, f"cannot read it ({error})"
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        return None, f"it is not a format-{FORMAT} record of failed tests"
    labels = content.get("failed")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        return None, "its failed tests are not a list of names"
    return set(labels), None


def labels_naming(test_id, labels):
    """The labels that name test_id: itself, or a module or class it is in."""
    name = test_id
    while name:
        if name in labels:
            yield name
        name = name.rpartition(".")[0]


def failed_labels(test):
    """The labels that run test again, or nothing for an error outside any test."""
    if isinstance(test, unittest.case._SubTest):
        return {test.test_case.id()}
    if isinstance(test, unittest.suite._ErrorHolder):
        fixture = FIXTURE_ERROR.match(test.description)
        return {fixture["label"]} if fixture else set()
    if isinstance(test, unittest.loader._FailedTest):
        return {test.id(), test._testMethodName}
    return {test.id()}


def select(runner, path, tests):
    """
    The tests to run for --failed, and what to say about them: those the
    record names, or all of them when it names none of them.
    """
    labels, problem = read(path)
    everything = f"running all {len(tests)} tests found"
    if problem:
        runner.log(
            f"--failed: cannot use the record of failed tests {path}: {problem}; "
            f"{everything}. This run's failures replace it."
        )
        return tests
    if labels is None:
        runner.log(f"--failed: no earlier run recorded its failed tests in {path}; {everything}.")
        return tests
    if not labels:
        runner.log(f"--failed: no test failed in the previous run ({path}); {everything}.")
        return tests
    selected = [test for test in tests if any(labels_naming(test.id(), labels))]
    if not selected:
        runner.log(
            f"--failed: none of the tests found is among the {len(labels)} recorded as "
            f"failed in {path}; {everything}."
        )
        return tests
    names = "".join(f"\n  {test.id()}" for test in selected[:LISTED])
    if len(selected) > LISTED:
        names += f"\n  and {len(selected) - LISTED} more (recorded in {path})"
    runner.log(
        f"--failed: running the {len(selected)} of the {len(tests)} tests found that "
        f"failed in the previous run:{names}"
    )
    return selected


class FailedTestsRecord:
    """What a run learns about its tests, written to the record when it ends."""

    def __init__(self, path, suite):
        self.path = Path(path)
        self.test_ids = [test.id() for test in iter_test_cases(suite)]
        self.started = set()
        self.failed = set()

    def result_class(self, resultclass):
        """resultclass, reporting to this record too."""
        return type(resultclass.__name__, (RecordsFailedTests, resultclass), {"record": self})

    def write(self):
        previous, _ = read(self.path)
        failed = set(self.failed)
        if previous:
            for test_id in self.test_ids:
                if test_id not in self.started:
                    failed.update(labels_naming(test_id, previous))
        content = json.dumps({"format": FORMAT, "failed": sorted(failed)}, indent=0)
        try:
            atomic_files.write_atomically(self.path, lambda file: file.write(content.encode()))
        except OSError as error:
            warn(
                f"Could not record this run's failed tests in {self.path}: {error}. "
                "--failed runs what the file held before.",
                FailedTestsRecordWarning,
            )


class RecordsFailedTests:
    """Mixed into the run's result class: tells the record what started and what failed."""

    record = None

    def startTest(self, test):
        self.record.started.add(test.id())
        super().startTest(test)

    def addSkip(self, test, reason):
        # Python 3.12+ skips the tests of a class marked @skip without
        # starting them: skipped, they ran as far as the record cares.
        self.record.started.add(test.id())
        super().addSkip(test, reason)

    def addError(self, test, err):
        self.record.failed.update(failed_labels(test))
        super().addError(test, err)

    def addFailure(self, test, err):
        self.record.failed.update(failed_labels(test))
        super().addFailure(test, err)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.record.failed.update(failed_labels(test))
        super().addSubTest(test, subtest, err)

    def addUnexpectedSuccess(self, test):
        self.record.failed.update(failed_labels(test))
        super().addUnexpectedSuccess(test)

    def stopTestRun(self):
        super().stopTestRun()
        self.record.write()
