"""
What a worker's RemoteTestResult costs, and what it still sends: tblib
registers each recorded exception instead of every exception class at every
TestCase class; and any graph of exceptions reaches the report, bounded.
"""

import pickle
import re
import sys
import threading
import types
import unittest

import pytest
import tblib.pickling_support
from django.test.runner import RemoteTestResult
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_overlay import patches
from django_overlay.runner import outcomes


@pytest.fixture(params=["overlay", "upstream"])
def installed(request):
    """The overlay installed, or not; the upstream case is expected to fail."""
    if request.param == "overlay":
        patches.install()
    else:
        request.applymarker(pytest.mark.xfail(strict=True, reason="upstream"))
    yield
    patches.uninstall()


@pytest.fixture
def classes_walked(monkeypatch):
    """How many times tblib walks every exception class."""
    walks = []
    walk = tblib.pickling_support._get_subclasses

    def counted(cls):
        walks.append(cls)
        return walk(cls)

    monkeypatch.setattr(tblib.pickling_support, "_get_subclasses", counted)
    return walks


def test_a_result_does_not_register_every_exception_class(installed, classes_walked):
    # Once per TestCase class in a worker, upstream's install() walked the
    # ~8,500 exception classes of Django's imported suite (about 10 ms).
    RemoteTestResult()

    assert classes_walked == []


def test_an_exception_defined_late_keeps_its_cause(installed, monkeypatch):
    result = RemoteTestResult()
    # Defined after the result, as in a test module imported later in the
    # worker's life: nothing registered it with tblib yet.
    module = types.ModuleType("late_errors")
    exec("class LateError(Exception):\n    pass", module.__dict__)
    monkeypatch.setitem(sys.modules, "late_errors", module)
    try:
        try:
            raise KeyError("the cause")
        except KeyError as cause:
            raise module.LateError("the error") from cause
    except module.LateError:
        exc_info = sys.exc_info()

    result.addError(Test(), exc_info)
    _name, _index, (_type, error, _tb) = pickle.loads(pickle.dumps(result.events[-1]))

    assert type(error) is module.LateError
    assert repr(error.__cause__) == "KeyError('the cause')"


class Test:
    def id(self):
        return "app.tests.Test.test"


# Exceptions of every kind the stand-in path must handle, for the fuzzing below.


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str")


class Unreducible(Exception):
    def __reduce__(self):
        raise SystemExit("no reduce")


class NeedsTwoArguments(Exception):
    def __init__(self, first, second):
        super().__init__(f"{first} and {second}")


class HoldsALambda(AssertionError):
    def __init__(self, message):
        super().__init__(message)
        self.callback = lambda: None


def local_exception_class():
    class Local(Exception):
        pass

    return Local


EXCEPTION_KINDS = {
    "plain": lambda number: ValueError(number),
    "holding a lock": lambda number: error_with(threading.Lock(), number),
    "unprintable": lambda number: Unprintable(number),
    "unreducible": lambda number: Unreducible(number),
    "needing two arguments": lambda number: NeedsTwoArguments(number, number),
    "failure holding a lambda": lambda number: HoldsALambda(number),
    "of a local class": lambda number: local_exception_class()(number),
}


def error_with(attribute, number):
    error = KeyError(number)
    error.attribute = attribute
    return error


@st.composite
def exception_graphs(draw):
    """
    An exception whose causes, contexts and group members make any graph:
    cycles, an exception linked from several places, groups in groups, and
    sometimes a long chain of causes below it all.
    """
    kinds = draw(st.lists(st.sampled_from(sorted(EXCEPTION_KINDS)), min_size=1, max_size=10))
    exceptions = [EXCEPTION_KINDS[kind](number) for number, kind in enumerate(kinds)]
    for number in range(draw(st.integers(0, 3))):
        members = draw(st.lists(st.sampled_from(exceptions), min_size=1, max_size=20))
        exceptions.append(ExceptionGroup(f"group {number}", members))
    chain_length = draw(st.sampled_from([0, 0, 30, 1500]))
    previous = None
    for number in range(chain_length):
        link = ValueError(f"link {number}")
        link.__cause__ = previous
        previous = link
    picks = st.none() | st.sampled_from([*exceptions, previous] if previous else exceptions)
    for exception in exceptions:
        exception.__cause__ = draw(picks)
        exception.__context__ = draw(picks)
        exception.__suppress_context__ = draw(st.booleans())
    top = draw(st.sampled_from(exceptions))
    if draw(st.booleans()):
        # With a real traceback, as a test's error has.
        try:
            raise top
        except BaseException:
            pass
    return top


# A report keeps 10 links of a chain at each end, and one that says how many
# were elided between.
LINKS_SHOWN = 2 * 10 + 1


class Reported(unittest.TestCase):
    def test(self):
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exception_graphs())
def test_any_exception_graph_reaches_the_report(exception):
    """
    Whatever the graph, the event pickles and unpickles, and the parent's
    result formats it, showing at most LINKS_SHOWN links and members:
    bounded, never aborting.
    """
    event = outcomes.picklable_event(
        ("addError", 0, (type(exception), exception, exception.__traceback__))
    )
    _name, _index, exc_info = pickle.loads(pickle.dumps(event))
    result = unittest.TestResult()
    result.addError(Reported("test"), exc_info)
    [(_test, report)] = result.errors

    separators = (
        report.count("The above exception was the direct cause")
        + report.count("During handling of the above exception")
        + len(re.findall(r"^ *\+-+ \d+ -+$", report, re.M))
    )
    assert separators <= LINKS_SHOWN, report
