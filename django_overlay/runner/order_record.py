"""
What ran before each failing test of a parallel run, on the same worker.

A worker runs one TestCase class after another in one process, with the same
database clones: a class that leaves state behind (a module global, a cache
entry, rows a TransactionTestCase did not clean up, a mocked object never
restored) can make a later class fail on that worker only, and the same
test passes when run alone. For every test that failed or errored, the run
records the classes its worker had run before it, in order, since the
worker started (a replacement starts afresh), and a command that runs that
sequence serially, in that order: the way to tell an order-dependent failure
from a plain one.
"""

import shlex
import sys
from pathlib import Path

from . import atomic_files
from .notices import warn

# Options of the test command that would change the order of a serial rerun,
# make it parallel or leave out some of its tests: whether each may take a
# value (--parallel [N|auto], --shuffle [SEED]; both optional).
ORDER_OPTIONS = {
    "--parallel": True,
    "--shuffle": True,
    "--reverse": False,
    "-r": False,
    "--failed": False,
}
# Options left out with the value they always take: a serial rerun of the
# sequence must show the failure, not run it again until it passes.
RERUN_OPTIONS = {"--reruns", "--reruns-delay"}


class OrderRecordWarning(UserWarning):
    pass


class OrderRecord:
    def __init__(self, test_labels):
        self.test_labels = set(test_labels)
        # Worker -> labels of the classes it was given, in order.
        self.history = {}
        # Failing test id -> (worker's description, labels run before its class).
        self.failures = {}

    def dispatched(self, worker, task):
        self.history.setdefault(worker, []).append(task.label)

    def failed(self, worker, task, test):
        if test.id() in self.failures:
            return
        self.failures[test.id()] = (repr(worker), self.ran_before(worker, task))

    def write(self, path):
        """
        The record, into path; False, and no file, when no test failed. A
        record that cannot be written is a warning: the run's summary follows.
        """
        path = Path(path)
        try:
            if not self.failures:
                # An earlier run's record would pass for this one's.
                path.unlink(missing_ok=True)
                return False
            text = "\n".join(self.sections())
            atomic_files.write_atomically(path, lambda file: file.write(text.encode()))
        except OSError as error:
            warn(
                f"Could not write the order of the failing tests' workers to {path}: {error}",
                OrderRecordWarning,
            )
            return False
        return True

    def ran_before(self, worker, task):
        """Labels of the classes worker ran before task's class."""
        earlier = self.history.get(worker, [])
        # The class itself was appended when it was dispatched.
        return earlier[: len(earlier) - 1 - earlier[::-1].index(task.label)]

    def command(self, test_id, prefix=None):
        """The command that reruns, serially, what ran before test_id's failure, then it."""
        _worker, before = self.failures[test_id]
        return shlex.join([*(prefix or self.rerun_prefix()), *before, test_id])

    def sections(self):
        prefix = self.rerun_prefix()
        for test_id, (worker, before) in sorted(self.failures.items()):
            ran = (
                "".join(f"  {label}\n" for label in before) or "  (nothing: its class came first)\n"
            )
            command = self.command(test_id, prefix)
            yield (
                f"{test_id}\nfailed on {worker}, after:\n{ran}"
                f"The same sequence, serially:\n  {command}\n"
            )

    def rerun_prefix(self):
        """This run's command without its test labels and order options, serial."""
        arguments, kept, index = sys.argv[1:], [], 0
        while index < len(arguments):
            argument = arguments[index]
            index += 1
            name, equals, _value = argument.partition("=")
            if name in RERUN_OPTIONS:
                if not equals:
                    index += 1
            elif name in ORDER_OPTIONS:
                following = arguments[index] if index < len(arguments) else ""
                if (
                    ORDER_OPTIONS[name]
                    and not equals
                    and (following.isdigit() or following == "auto")
                ):
                    index += 1
            elif argument not in self.test_labels:
                kept.append(argument)
        return [sys.executable, sys.argv[0], *kept, "--parallel", "1"]
