"""
Each worker's descendants end with it.

A test may start processes that outlive it: a server it never stops, a
`sleep` it forgot, a daemon that forks twice. They hold the run's stdout and
stderr, so `manage.py test | cat` would not end until they do, and under
spawn they keep multiprocessing's resource tracker alive as well. On POSIX
each worker starts a session of its own (setsid(), which also makes it the
leader of a process group of the same number), and everything a test starts
is in that group unless it leaves it on purpose. The parent ends the group
when the worker is lost and when the run ends: SIGTERM, which lets a child
remove what it created, then SIGKILL to what is still there a moment later.
A new session rather than only a new process group: a worker in a
background group of the terminal would be stopped (SIGTTIN, SIGTTOU) when a
test's child reads from it or changes its modes; without a controlling
terminal there is nothing to stop it.

Telling which test left processes must cost next to nothing for the tests
that leave none: listing a group's members means reading every process's
/proc entry (or running ps), milliseconds. So the worker looks only where a
process may have been started: after each test it asks whether it has a
child it did not have at the last look (waitid() with WNOWAIT, which reaps
nothing) or has reaped one since (the children's resource usage grew: a
double fork's middle process was waited for). Only after a class in which
that happened does it list its group; what it finds is named, with the tests
that started processes, in a warning. What setUpClass starts is counted with
the class's first test: one look per test, not two.

Windows has no process groups to kill: there a worker's descendants are left
to end on their own (docs/platforms.md).
"""

import os
import signal
import subprocess
import time
from pathlib import Path

SUPPORTED = hasattr(os, "setsid") and hasattr(os, "killpg")
if SUPPORTED:
    # POSIX's, as is all this module does.
    import resource
# How long a group has after SIGTERM before SIGKILL.
TERMINATE_SECONDS = 0.5
POLL_SECONDS = 0.01
PROC = Path("/proc")
# Longest command line a warning quotes.
COMMAND_CHARS = 80


class LeftProcessesWarning(RuntimeWarning):
    """A test left processes running, which the run ended."""


def start_own_group():
    """In a worker: a session and process group of its own; its number, or None."""
    if not SUPPORTED:
        return None
    os.setsid()
    return os.getpid()


class SpawnWatch:
    """
    In a worker: after which tests a process may have been started, and at
    the end of each task, which processes were left in the group.
    """

    def __init__(self, group):
        self.group = group
        self.usage = self._children_usage()
        self.had_children = False
        # Indexes in the task of the tests during which a process may have
        # been started (the first test's include setUpClass); None for
        # tearDownClass.
        self.starters = []
        # Processes named already, which are not named again.
        self.reported = set()

    def look(self, index):
        """At the end of a test (index None: of the class)."""
        usage = self._children_usage()
        reaped, self.usage = usage != self.usage, usage
        # A child that has been there since an earlier look is not this
        # test's doing.
        has_children = self._has_children()
        started, self.had_children = has_children and not self.had_children, has_children
        if (reaped or started) and index not in self.starters:
            self.starters.append(index)

    def left_processes(self):
        """
        At the end of a task: (the starters, pid -> command line) of the
        processes it left that were not named yet, or None.
        """
        self.look(None)
        starters, self.starters = self.starters, []
        if not starters:
            return None
        left = members(self.group, exclude={os.getpid(), *self.reported})
        self.reported.update(left)
        return (starters, left) if left else None

    @staticmethod
    def _children_usage():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_minflt, usage.ru_utime, usage.ru_stime, usage.ru_nvcsw

    @staticmethod
    def _has_children():
        if not hasattr(os, "waitid"):
            # Only children already reaped are seen, then.
            return False
        try:
            os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return True


def members(group, exclude=()):
    """pid -> command line of each live process in the group, but those in exclude."""
    if group is None or not _signal(group, 0):
        return {}
    if PROC.is_dir():
        found = _members_from_proc(group)
    else:
        found = _members_from_ps(group)
    return {pid: command for pid, command in found.items() if pid not in exclude}


def _members_from_proc(group):
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            # The command name in parentheses may hold spaces and parentheses.
            state, _, pgrp = stat[stat.rindex(b")") + 2 :].split()[:3]
            if int(pgrp) != group or state == b"Z":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
        except (OSError, ValueError):
            # It ended meanwhile.
            continue
        found[int(entry.name)] = command.decode(errors="replace")
    return found


def _members_from_ps(group):
    with subprocess.Popen(
        ["ps", "-A", "-o", "pid=,pgid=,stat=,command="], stdout=subprocess.PIPE, text=True
    ) as lister:
        output, _ = lister.communicate()
    found = {}
    for line in output.splitlines():
        pid, pgid, state, *command = line.split(None, 3)
        if int(pgid) == group and not state.startswith("Z") and int(pid) != lister.pid:
            found[int(pid)] = " ".join(command)
    return found


def describe(processes):
    return ", ".join(
        f"pid {pid} ({command[:COMMAND_CHARS] or '?'})"
        for pid, command in sorted(processes.items())
    )


def end_groups(groups):
    """SIGTERM to each group, then SIGKILL to those still there a moment later."""
    remaining = [group for group in groups if _signal(group, signal.SIGTERM)]
    give_up = time.monotonic() + TERMINATE_SECONDS
    while remaining and time.monotonic() < give_up:
        time.sleep(POLL_SECONDS)
        remaining = [group for group in remaining if _signal(group, 0)]
    for group in remaining:
        _signal(group, signal.SIGKILL)


def _signal(group, signum):
    """Send the group a signal; False if it has no process left."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        # A member changed its user (a setuid program): it is not ours to end.
        return False
    return True
