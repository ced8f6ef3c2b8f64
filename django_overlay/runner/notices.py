"""
Warnings the parent issues while a run is under way or ending: what a test
left behind (session.py), and records that could not be written (the order
of the failing tests' workers, the failed tests, the durations, the JUnit
report). Each says what was not done, and the run's summary follows it.

A filter may make such a warning an error (Django's own runtests.py does so
for every RuntimeWarning, `-W error` for all of them). Raised there, it would
end the run before its summary, so it is printed as that error instead, and
the run goes on.
"""

import sys
import warnings


def warn(message, category):
    """warnings.warn(), for the caller's caller, never raising."""
    try:
        warnings.warn(message, category, stacklevel=3)
    except category as error:
        print(f"{category.__name__} (an error by the warnings filter): {error}", file=sys.stderr)
