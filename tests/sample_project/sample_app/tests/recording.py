"""
What the sample tests leave for the pytest test that ran them, in the
directory named by SAMPLE_RESULTS_DIR: one file per process that ran a test,
worker-<pid>, holding the start method that process reports.
"""

import multiprocessing
import os
import time
from pathlib import Path

# Long enough for a second worker to start on a loaded machine; a run that has
# only one worker fails after it, instead of passing without any overlap.
RENDEZVOUS_SECONDS = 20

_rendezvous_deadline = None


def results_directory():
    try:
        return Path(os.environ["SAMPLE_RESULTS_DIR"])
    except KeyError:
        raise RuntimeError(
            "SAMPLE_RESULTS_DIR is not set: run the sample project through tests/conftest.py"
        ) from None


def record_this_process():
    path = results_directory() / f"worker-{os.getpid()}"
    path.write_text(multiprocessing.get_start_method())


def recorded_pids():
    return {int(path.name.removeprefix("worker-")) for path in results_directory().glob("worker-*")}


def wait_for_another_worker():
    """
    Return once a process other than this one has recorded itself, so that
    the caller's checks overlap with the other worker's tests.

    The deadline is per process: once one test has waited in vain, the
    others fail at once rather than each waiting again.
    """
    global _rendezvous_deadline
    if _rendezvous_deadline is None:
        _rendezvous_deadline = time.monotonic() + RENDEZVOUS_SECONDS
    while len(recorded_pids() - {os.getpid()}) == 0:
        if time.monotonic() > _rendezvous_deadline:
            raise AssertionError(
                f"no other worker ran a test within {RENDEZVOUS_SECONDS} s "
                f"(processes seen: {sorted(recorded_pids())})"
            )
        time.sleep(0.05)


def meet(name):
    """
    Return the pids of both workers once each has called meet(name): a
    barrier for checks that need the other worker at the same point. A test
    class that calls it keeps its worker busy until the other arrives, so two
    such classes always run on different workers.
    """
    (results_directory() / f"meet-{name}-{os.getpid()}").touch()
    deadline = time.monotonic() + RENDEZVOUS_SECONDS
    while len(pids := _met(name)) < 2:
        if time.monotonic() > deadline:
            raise AssertionError(f"no other worker reached {name!r} within {RENDEZVOUS_SECONDS} s")
        time.sleep(0.05)
    return sorted(pids)


def _met(name):
    return {int(path.name.rsplit("-", 1)[1]) for path in results_directory().glob(f"meet-{name}-*")}
