"""
Ctrl-C and SIGTERM during a parallel run (session) or the databases' setup
(failed_setup): the run ends at once, as an Interrupted exception, instead
of after the tests under way.

Its own module: the databases' setup, which the pytest plugin's processes
run too, needs only this of the session, whose imports (the pool, the
workers, the protocol) every one of those processes would pay otherwise.
"""

import signal
import threading
from contextlib import contextmanager


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, during a parallel run."""


@contextmanager
def interruptible():
    """
    Ctrl-C and SIGTERM (and Ctrl-Break on Windows) end the parallel run (and
    database setup: failed_setup) at once. unittest's handler, which Django
    installs, would only ask the run to stop after the tests under way, and
    the workers, which ignore Ctrl-C, may be hung. Signal handlers belong to
    the main thread: on another, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
    if hasattr(signal, "SIGBREAK"):
        names[signal.SIGBREAK] = "Ctrl-Break"

    def interrupt(signum, frame):
        raise Interrupted(names[signum])

    previous = {signum: signal.signal(signum, interrupt) for signum in names}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
