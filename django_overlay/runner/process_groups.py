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
/proc entry (or running ps), milliseconds. So the worker lists its group
only after a class during which a process was started: an audit hook
(sys.addaudithook) notes Python's calls that start one (subprocess.Popen,
os.fork, os.posix_spawn, os.system), which names the test that made them at
the cost of an attribute read per test. What starts a process from C (a C
extension's fork(), multiprocessing's spawn) raises no audit event: at the
end of each class the worker also asks whether it has a child it did not
have before (waitid() with WNOWAIT, which reaps nothing) or has reaped one
(the children's resource usage grew), and then names the class. What
setUpClass starts is named with the class's first test.

Windows has no process groups: there the parent makes a job object for each
worker (job_objects.py), which the worker joins first thing, and ends the
job as it would end the group; the job counts the processes that were ever
in it, which tells a class that started one from C, as waitid() does on
POSIX. A process started with CREATE_BREAKAWAY_FROM_JOB leaves the job, as
one that calls setsid() leaves the group: neither is named nor ended.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POSIX = hasattr(os, "setsid") and hasattr(os, "killpg")
WINDOWS = sys.platform == "win32"
SUPPORTED = POSIX or WINDOWS
if POSIX:
    import resource
if WINDOWS:
    from .job_objects import Job, command_line
# How long a group has after SIGTERM before SIGKILL.
TERMINATE_SECONDS = 0.5
POLL_SECONDS = 0.01
PROC = Path("/proc")
# Longest command line a warning quotes.
COMMAND_CHARS = 80
# The audit events of Python's calls that start a process (os.popen and
# os.spawn*() go through subprocess.Popen and os.fork).
SPAWN_EVENTS = frozenset(
    {"os.fork", "os.forkpty", "os.posix_spawn", "os.system", "subprocess.Popen"}
    # Windows' own: multiprocessing's spawn, and os.spawn*() and os.startfile(),
    # which do not go through subprocess there.
    | {"_winapi.CreateProcess", "os.spawn", "os.startfile"}
)


class LeftProcessesWarning(RuntimeWarning):
    """A test left processes running, which the run ended."""


def new_group():
    """In the parent, before a worker starts: the job it is to join (Windows), or None."""
    return Job() if WINDOWS else None


def start_own_group(job):
    """
    In a worker, given what new_group() made: a group of its own (a new
    session on POSIX, the job on Windows), or None where there is none.
    """
    if WINDOWS:
        try:
            job.join()
        except OSError as error:
            raise OSError(
                f"The worker could not join the job object that ends the processes "
                f"its tests leave: {error}"
            ) from error
        return job
    if not POSIX:
        return None
    os.setsid()
    return os.getpid()


def group_of(process, job):
    """In the parent: the group of a worker that has started."""
    if WINDOWS:
        return job
    return process.pid if POSIX else None


class SpawnWatch:
    """
    In a worker: during which tests a process was started, and at the end of
    each task, which processes were left in the group.
    """

    def __init__(self, group):
        self.group = group
        self.spawned = False
        # What _started_since() compares with.
        self.usage = self.had_children = self.count = None
        self._started_since()
        # Indexes in the task of the tests during which a process was
        # started (the first test's include setUpClass); None for the class
        # as a whole.
        self.starters = []
        # Processes named already, which are not named again.
        self.reported = set()
        sys.addaudithook(self._audit)

    def _audit(self, event, args):
        if event in SPAWN_EVENTS:
            self.spawned = True

    def look(self, index):
        """At the end of a test (index None: of the class)."""
        if self.spawned:
            self.spawned = False
            if index not in self.starters:
                self.starters.append(index)

    def left_processes(self):
        """
        At the end of a task: (the starters, pid -> command line) of the
        processes it left that were not named yet, or None.
        """
        self.look(None)
        # A process started from C raises no audit event: the class as a
        # whole is named for one started since the last task.
        if self._started_since() and not self.starters:
            self.starters.append(None)
        starters, self.starters = self.starters, []
        if not starters:
            return None
        left = members(self.group, exclude={os.getpid(), *self.reported})
        self.reported.update(left)
        return (starters, left) if left else None

    def _started_since(self):
        """
        Whether a process was started since the last call, from C too: on
        Windows the job counts every process that was in it; on POSIX a child
        appeared (waitid() sees one not reaped yet) or was reaped (the
        children's resource usage grew).
        """
        if WINDOWS:
            count = self.group.processes_started()
            started, self.count = count != self.count, count
            return started
        usage, has_children = self._children_usage(), self._has_children()
        started = usage != self.usage or (has_children and not self.had_children)
        self.usage, self.had_children = usage, has_children
        return started

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
    if WINDOWS:
        if group is None:
            return {}
        return {pid: command_line(pid) for pid in group.pids() if pid not in exclude}
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
    """
    SIGTERM to each group, then SIGKILL to those still there a moment later.
    On Windows each job's processes are ended at once: TerminateProcess is
    all there is, a console's Ctrl-Break goes to a console process group, which
    a test's processes need not be in.
    """
    if WINDOWS:
        for job in groups:
            job.end()
        return
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
