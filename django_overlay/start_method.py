"""
Choose the multiprocessing start method for a test run.

Django decides how to create and reach worker databases by asking
multiprocessing.get_start_method(), so the method is set as the process-wide
default rather than kept in a private context: every part of the run, the
overlay's and Django's, then agrees on it.
"""

import multiprocessing
import os

ENVIRONMENT_VARIABLE = "DJANGO_TEST_START_METHOD"


def valid_start_method(name):
    """Return name if this platform can start processes with it."""
    available = multiprocessing.get_all_start_methods()
    if name not in available:
        raise ValueError(
            f"invalid start method {name!r}: choose from {', '.join(available)}"
        )
    return name


def requested_start_method(option=None):
    """The start method asked for by the command line, else the environment."""
    if option:
        return valid_start_method(option)
    from_environment = os.environ.get(ENVIRONMENT_VARIABLE)
    if from_environment:
        try:
            return valid_start_method(from_environment)
        except ValueError as error:
            raise ValueError(f"{ENVIRONMENT_VARIABLE}: {error}") from None
    return None


def apply_start_method(name):
    """Make name the start method of every process this run creates."""
    multiprocessing.set_start_method(valid_start_method(name), force=True)


def argument_type(value):
    """argparse type for --start-method: a clear usage error for a bad value."""
    import argparse

    try:
        return valid_start_method(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
