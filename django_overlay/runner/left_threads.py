"""
Which test left the thread that kept its worker from exiting.

A worker told to stop at the end of the run returns from its loop, and
Python then waits for every thread that is not a daemon; one that a test left
waiting for ever keeps the worker alive until the pool kills it. The warning
that says so names the test that started the thread, at no cost per test: an
audit hook notes each thread started (Python 3.12 and later raise an audit
event for it) with the test the worker is running then, which the worker
keeps in memory it shares with the parent anyway; at the end of each class,
a thread that was not noted (Python 3.11 raises no event; setUpClass runs
between tests) is put down to the class. The threads there are before the
first task are the worker's own setup's.
"""

import sys
import threading
import weakref

# threading.Thread.start() raises the first on Python 3.12, the second on 3.13.
THREAD_EVENTS = frozenset({"_thread.start_new_thread", "_thread.start_joinable_thread"})


class WorkerKilledAtExitWarning(RuntimeWarning):
    """A worker did not exit at the end of the run and was killed."""


class ThreadWatch:
    """In a worker: who started each thread that is not a daemon."""

    def __init__(self, running_test):
        # Index in the task of the test running now, or None.
        self.running_test = running_test
        self.task = None
        # Thread -> (task number, index of the test or None for the class),
        # or None for one no test started (the worker's setup's).
        self.starters = weakref.WeakKeyDictionary(dict.fromkeys(threading.enumerate()))
        sys.addaudithook(self._audit)

    def _audit(self, event, args):
        if event in THREAD_EVENTS:
            # The thread's _bootstrap method; a thread started with _thread
            # directly is not waited for at exit.
            thread = getattr(args[0], "__self__", None)
            if isinstance(thread, threading.Thread) and not thread.daemon:
                # Between tasks only a thread left running starts one.
                in_task = self.task is not None
                self.starters[thread] = (self.task, self.running_test()) if in_task else None

    def task_started(self, number):
        self.task = number

    def task_ended(self):
        for thread in threading.enumerate():
            if not thread.daemon and thread not in self.starters:
                self.starters[thread] = (self.task, None)
        self.task = None

    def left_threads(self):
        """(name, starter) of each thread Python will wait for before the worker exits."""
        return [
            (thread.name, self.starters.get(thread))
            for thread in threading.enumerate()
            if not thread.daemon and thread is not threading.current_thread()
        ]
