"""
Test outcomes that always reach the parent: picklable as they are recorded,
and put back together in the parent.

One exception that cannot be pickled (a class local to a function, an
attribute holding a lock) aborts upstream's run with MaybeEncodingError.
Here a RemoteTestResult replaces whatever would not survive the trip with a
stand-in (stand_ins.py). How the events travel, test by test, is the
worker's side (worker.py).
"""

from unittest.case import _subtest_msg_sentinel

from django.test.runner import DummyList, RemoteTestResult

from .. import patches
from .stand_ins import DetachedSubTest, describe, picklable_exc_info, survives_pickling

# Events that carry an exc_info tuple, and its position after the event name.
EXC_INFO_AT = {"addError": -1, "addFailure": -1, "addSubTest": 2, "addExpectedFailure": -1}


# Events that carry objects from the test; the others carry numbers only.
CARRYING_OBJECTS = {*EXC_INFO_AT, "addSkip"}


def picklable_event(event):
    """The event, with any part that would not reach the parent replaced."""
    if event[0] not in CARRYING_OBJECTS:
        return event
    name, *arguments = event
    if name in EXC_INFO_AT:
        position = EXC_INFO_AT[name]
        arguments[position] = picklable_exc_info(arguments[position])
    if name == "addSubTest" and not survives_pickling(arguments[1]):
        arguments[1] = DetachedSubTest.from_subtest(arguments[1])
    if name == "addSkip" and not survives_pickling(arguments[1]):
        arguments[1] = describe(arguments[1])
    return (name, *arguments)


class PicklableEvents(list):
    """
    RemoteTestResult's events list, which makes each event picklable as it is
    recorded (patches/0003 does it in RemoteTestResult's add* methods).
    """

    def append(self, event):
        super().append(picklable_event(event))


def init_remote_result(self, *args, **kwargs):
    """
    RemoteTestResult.__init__: any RemoteTestResult records picklable events,
    the worker's (EventStream) and one a test or a custom runner makes.

    Upstream's also calls tblib's install() with no arguments, which registers
    every exception class imported so far, once for each TestCase class: 10
    ms a class once Django's suite is imported, and up to 60 ms in a worker
    that has run most of it (docs/benchmarks.md). Here tblib is told about
    each exception when its outcome is recorded (stand_ins.plain_graph).
    """
    super(RemoteTestResult, self).__init__(*args, **kwargs)
    # Upstream's stand-ins for the lists of outcomes: the events hold them.
    ignored = DummyList()
    self.failures = self.errors = self.skipped = ignored
    self.expectedFailures = self.unexpectedSuccesses = ignored
    self.events = PicklableEvents()


def attach_subtest(event, test):
    """In the parent: give a detached subtest back its test case."""
    if event[0] == "addSubTest" and isinstance(event[2], DetachedSubTest):
        return (event[0], event[1], event[2].attach(test), *event[3:])
    return event


def restore_subtest_sentinel(event):
    """
    In the parent: unittest tells a subtest without a message by identity
    with a sentinel, which pickling replaced by a new object (the report
    would read "[<object object at 0x...>]"); put it back (patches/0002).
    """
    if event[0] == "addSubTest" and type(getattr(event[2], "_message", None)) is object:
        event[2]._message = _subtest_msg_sentinel
    return event


def check_picklable(self, test, err):
    """
    RemoteTestResult.check_picklable: nothing to check, since the events
    list (PicklableEvents) makes every outcome picklable, rather than
    aborting the run.
    """


def check_subtest_picklable(self, test, subtest):
    """RemoteTestResult.check_subtest_picklable: see check_picklable."""


def add_skip(self, test, reason):
    """
    RemoteTestResult.addSkip. An event names its test by index, testsRun - 1,
    but Python 3.12+ skips a test marked @skip (or in a class marked so)
    without startTest(), so testsRun stays behind: the skip, and every event
    of the class's later tests, would go to the test before. A skip that
    does not follow its own test's startTest() counts the test here.
    """
    if not self.events or self.events[-1][0] == "stopTest":
        self.testsRun += 1
    patches.original(add_skip)(self, test, reason)


def crash_error(description, error_class):
    """exc_info for a test that its worker did not live to finish."""
    return (error_class, error_class(description), None)


class WorkerCrashError(Exception):
    """Reported for the test a worker was running when it died."""


class TestTimedOut(AssertionError):
    """Reported, as a failure, for the test a worker was running past --timeout."""


class RunInterrupted(Exception):
    """Reported when Ctrl-C or SIGTERM ended a parallel run."""
