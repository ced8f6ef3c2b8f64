"""
--reruns: what a parallel run (or a serial one in a worker) does with a test
that failed, errored, or lost its worker, when it may run again.

The session holds back the outcome of such a test: the result never sees it,
so only the last run of a test is counted and decides the exit status. The
test then runs again, alone, as a task of its own, in a fresh worker process
with fresh copies of the databases; its class's setUpClass and tearDownClass
run again around it, as pytest-rerunfailures sets up an item's fixtures
again. A test that passes on a rerun is flaky; one that had run behind
other tests on its worker when it failed, and passes alone in a fresh
worker, may depend on what ran before it, and the order record
(order_record) holds the command that runs that sequence serially.

What is not rerun: expected failures and unexpected successes (an outcome
the test declares), skips, and errors in setUpClass, tearDownClass or module
fixtures (not one test's outcome). A failed subtest fails its test, which
reruns whole.
"""

import time
from collections import deque
from dataclasses import dataclass, field

# Events that make an attempt count as failed, and so worth running again.
RERUN_EVENTS = {"addError", "addFailure", "addSubTest"}


@dataclass
class Attempt:
    """A run of a test whose outcome was held back."""

    error: bool
    type_name: str
    message: str
    traceback: str


@dataclass
class History:
    """A test's attempts so far, and where its first failure happened."""

    attempts: list = field(default_factory=list)
    # Whether other classes had run on its worker before its first failure.
    ran_behind_others: bool = False
    # The held outcome of its latest attempt: (task, events), replayed as the
    # test's outcome if the run ends before the rerun does.
    held: tuple | None = None


def attempts_of(events, describe):
    """The failed outcomes among one run's events, as Attempts (a test may fail several subtests)."""
    found = []
    for event in events:
        if event[0] not in RERUN_EVENTS:
            continue
        err = event[3] if event[0] == "addSubTest" else event[-1]
        exc_type, exc_value, _ = err
        found.append(
            Attempt(
                error=event[0] == "addError",
                type_name=getattr(exc_type, "__qualname__", str(exc_type)),
                message=str(exc_value),
                traceback=describe(err),
            )
        )
    return found


def announce(result, test, attempts, number, limit):
    """Say that a run of test failed and will be rerun, as the result shows outcomes."""
    if getattr(result, "showAll", False):
        kind = "error" if any(attempt.error for attempt in attempts) else "failure"
        result.stream.writeln(
            f"{result.getDescription(test)} ... RERUN ({kind}; rerun {number} of --reruns {limit})"
        )
        result.stream.flush()
    elif getattr(result, "dots", False):
        result.stream.write("R")
        result.stream.flush()


class Reruns:
    def __init__(self, limit, delay):
        self.limit = limit
        self.delay = delay
        self.histories = {}
        # (when it may start, test): reruns waiting for a fresh worker.
        self.waiting = deque()
        # Tests whose last run passed after failing: flaky, or order-dependent.
        self.passed_again = []
        self.failed_every_time = []

    def may_rerun(self, test):
        return len(self.histories.get(test, History()).attempts) < self.limit

    def hold(self, test, task, events, attempts, ran_behind_others):
        history = self.histories.setdefault(test, History(ran_behind_others=ran_behind_others))
        history.attempts.append(attempts)
        history.held = (task, events)
        return len(history.attempts)

    def queue(self, tests):
        """After their class ended (or lost its worker): rerun each, once --reruns-delay passed."""
        due = time.monotonic() + self.delay
        self.waiting.extend((due, test) for test in tests)

    def next_due(self):
        """The test whose rerun may start now, taken from the queue; None if none."""
        if self.waiting and self.waiting[0][0] <= time.monotonic():
            return self.waiting.popleft()[1]
        return None

    def final(self, test, failed):
        """The test's outcome, which the result is about to get, is its last run's."""
        history = self.histories.get(test)
        if history is None:
            return None
        history.held = None
        (self.failed_every_time if failed else self.passed_again).append(test)
        return history

    def unfinished(self):
        """The held outcomes of tests whose rerun did not end: the run stopped first."""
        self.waiting.clear()
        for history in self.histories.values():
            if history.held is not None:
                held, history.held = history.held, None
                yield held

    def summary(self, command_for):
        """The lines of the run's report about its reruns; none if nothing was rerun."""
        if not self.histories:
            return []
        lines = [f"Reruns (--reruns {self.limit}):"]
        for test in self.passed_again:
            history = self.histories[test]
            runs = len(history.attempts)
            failures = f"{runs} failed run{'s' if runs > 1 else ''}"
            if history.ran_behind_others:
                lines.append(
                    f"  FLAKY OR ORDER-DEPENDENT {test.id()}: passed on rerun {runs}, alone "
                    f"in a fresh worker, after {failures} behind other classes; whether what "
                    f"ran before it makes it fail, this runs that sequence serially:\n"
                    f"    {command_for(test)}"
                )
            else:
                lines.append(f"  FLAKY {test.id()}: passed on rerun {runs}, after {failures}")
        for test in self.failed_every_time:
            runs = len(self.histories[test].attempts) + 1
            lines.append(f"  FAILED {test.id()}: failed all {runs} runs")
        return lines
