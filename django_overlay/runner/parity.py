"""
What fork gives a worker for free and spawn and forkserver do not: the
parent's settings, environment variables and warnings filters as they are when
the suite starts.

A fresh interpreter imports the settings module again, so whatever was changed
at run time is lost: a fast password hasher set in a custom runner's
__init__, a mail backend set in its setup_test_environment(), an
override_settings still active. The parent sends every setting it has, and
the worker applies those that differ from its own.

A custom runner's setup_test_environment() is not run again in workers: the
runner object need not be picklable, and its side effects (signal handlers,
files, services) belong to the parent. What workers need of it, its effects
on settings, on os.environ and on the warnings filters (a project's
runtests.py that calls warnings.filterwarnings() at run time), is carried
across here instead.
"""

import os
import pickle
import warnings

from django.conf import settings
from django.test.signals import setting_changed

# Carried per connection by the suite's initial_settings, with test names.
CARRIED_ELSEWHERE = {"DATABASES"}


class UncarriedSettingWarning(RuntimeWarning):
    pass


class UncarriedWarningsFilterWarning(RuntimeWarning):
    pass


def _settings_holder():
    """
    The object the settings live on. Copies are read and written there, not
    through django.conf.settings, which warns about deprecated settings (an
    error in Django's own suite) and rewrites some values as they are read:
    copying a value is not using it.
    """
    if not settings.configured:
        settings._setup()
    return settings._wrapped


def capture_settings():
    """
    Every setting the parent has, where it can be pickled. The others are
    named once, in a warning: workers keep their own values for them.
    """
    carried = {}
    unpicklable = []
    holder = _settings_holder()
    for name in dir(holder):
        if not name.isupper() or name in CARRIED_ELSEWHERE:
            continue
        value = getattr(holder, name)
        try:
            pickle.dumps(value)
        except Exception:
            unpicklable.append(name)
        else:
            carried[name] = value
    if unpicklable:
        warnings.warn(
            "Spawned test workers keep their own value of these settings, whose "
            f"values in this process cannot be pickled: {', '.join(unpicklable)}.",
            UncarriedSettingWarning,
            stacklevel=2,
        )
    return carried


def apply_settings(carried, notify=False):
    """
    Set, in this worker, each carried setting whose value differs here.

    Before django.setup() nothing has read settings yet; afterwards, notify
    sends setting_changed as override_settings does, so that whatever caches
    a setting (password hashers, templates, ...) lets go of the old value.
    """
    holder = _settings_holder()
    for name, value in carried.items():
        try:
            if getattr(holder, name) == value:
                continue
        except Exception:
            # Missing here, or values that cannot be compared: take the parent's.
            pass
        setattr(holder, name, value)
        # django.conf.settings caches what it has read.
        settings.__dict__.pop(name, None)
        if notify:
            setting_changed.send(sender=holder.__class__, setting=name, value=value, enter=True)


def capture_warnings_filters():
    """
    The parent's warnings filters, in order, where they can be pickled; the
    others (a category class defined inside a function) are named once, in a
    warning.
    """
    carried, uncarried = [], []
    for entry in warnings.filters:
        try:
            pickle.dumps(entry)
        except Exception:
            uncarried.append(entry)
        else:
            carried.append(entry)
    if uncarried:
        names = ", ".join(
            f"{action} {category.__qualname__}" for action, _, category, *_ in uncarried
        )
        warnings.warn(
            "Spawned test workers go without these warnings filters, whose categories "
            f"cannot be pickled: {names}.",
            UncarriedWarningsFilterWarning,
            stacklevel=2,
        )
    return carried


def apply_warnings_filters(carried):
    """Make this worker's warnings filters the parent's."""
    # resetwarnings() also makes warn() forget what it decided under the old ones.
    warnings.resetwarnings()
    warnings.filters.extend(carried)


def capture_environment():
    return dict(os.environ)


def apply_environment(environment):
    """Make os.environ the parent's: a forkserver's copy may be older."""
    for name in set(os.environ) - set(environment):
        del os.environ[name]
    for name, value in environment.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
