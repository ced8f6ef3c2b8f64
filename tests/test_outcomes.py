"""
What a worker's RemoteTestResult costs, and what it still sends: tblib
registers each recorded exception instead of every exception class at every
TestCase class.
"""

import pickle
import sys
import types

import pytest
import tblib.pickling_support
from django.test.runner import RemoteTestResult

from django_overlay import patches


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
