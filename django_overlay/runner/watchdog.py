"""
In a worker process: the deadline of each step (a test, or a class's setup or
teardown) under --timeout. When a step passes it, faulthandler writes the
stacks of the worker's threads into a file the parent reads, and ends the
worker.

faulthandler.dump_traceback_later() is the one mechanism every platform has
(Windows has no SIGUSR1 for faulthandler.register()), and its watchdog is a C
thread that needs no GIL, so it also catches a test stuck in C code. Arming
it starts that thread, about 75 us, which twice a test would more than double
the runner's cost for fast tests; so a Python thread arms it only for a step
that is still running when it next looks (every ARM_AFTER_SECONDS), and
disarms it when the step ends. A step that takes the GIL for good within its
first ARM_AFTER_SECONDS is never armed: the parent kills its worker a grace
period after the deadline all the same, without stacks.
"""

import faulthandler
import re
import threading
import time

ARM_AFTER_SECONDS = 0.1
# dump_traceback_later() wants a positive delay.
SHORTEST_DELAY = 0.001


def header(thread_id):
    """First line of the stacks file: which thread runs the tests."""
    return f"Tests run in thread 0x{thread_id:x}\n"


class StepWatchdog:
    def __init__(self, step_started, timeout, stacks_path):
        """step_started() is when the current step began (time.monotonic()), or 0."""
        self.step_started = step_started
        self.timeout = timeout
        # Kept open for the worker's life: faulthandler writes to its descriptor.
        self.stacks = open(stacks_path, "w")
        self.stacks.write(header(threading.get_ident()))
        self.stacks.flush()
        self.thread = threading.Thread(
            target=self.watch, name="django-overlay-step-deadline", daemon=True
        )
        self.thread.start()

    def watch(self):
        armed_for = seen = None
        while True:
            time.sleep(ARM_AFTER_SECONDS)
            step = self.step_started()
            if armed_for is not None and step != armed_for:
                faulthandler.cancel_dump_traceback_later()
                armed_for = None
            if step and step == seen and armed_for is None:
                armed_for = self.arm(step)
            seen = step

    def arm(self, step):
        delay = max(step + self.timeout - time.monotonic(), SHORTEST_DELAY)
        faulthandler.dump_traceback_later(delay, exit=True, file=self.stacks)
        if self.step_started() != step:
            # The step ended while it was being armed.
            faulthandler.cancel_dump_traceback_later()
            return None
        return step


def read_stacks(path):
    """
    In the parent: the stacks a worker's watchdog wrote, or None if it wrote
    none. The thread that ran the tests is labelled "Current thread", as
    faulthandler labels the thread a signal interrupted; its "Timeout" line
    goes, since the report says how long the step ran.
    """
    try:
        with open(path, errors="replace") as file:
            first, *dump = file.readlines()
    except (FileNotFoundError, ValueError):
        return None
    if dump and dump[0].startswith("Timeout ("):
        dump = dump[1:]
    if not "".join(dump).strip():
        return None
    tests_thread = int(first.rstrip().rpartition("0x")[2], 16)
    return "".join(
        f"Current thread{line.removeprefix('Thread')}" if _thread_of(line) == tests_thread else line
        for line in dump
    )


def _thread_of(line):
    """The thread a line like "Thread 0x00007f12... (most recent call first):" heads."""
    if match := re.match(r"Thread 0x([0-9a-fA-F]+) ", line):
        return int(match[1], 16)
    return None
