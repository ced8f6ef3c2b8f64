"""
The process groups that end what a worker's tests leave running
(django_overlay/runner/process_groups.py), on real processes. The runs that
use them are in test_robustness.py.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from django_overlay.runner import process_groups

pytestmark = pytest.mark.skipif(not process_groups.SUPPORTED, reason="POSIX process groups")


GROUP = ["sh -c trap '' TERM; sleep 300 & (sleep 300 &); wait", "sleep 300", "sleep 300"]


@pytest.fixture
def group():
    """A session of its own: a shell that ignores SIGTERM, a child and an orphaned grandchild."""
    leader = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; sleep 300 & (sleep 300 &); wait"], start_new_session=True
    )
    # Until the subshell has forked and its child has exec'd sleep, the group
    # holds copies of sh: wait for the settled group.
    give_up = time.monotonic() + 10
    while (
        sorted(process_groups.members(leader.pid).values()) != GROUP and time.monotonic() < give_up
    ):
        time.sleep(0.01)
    yield leader
    process_groups.end_groups([leader.pid])
    leader.wait()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="compares ps with /proc")
def test_ps_lists_the_group_as_proc_does(group):
    """macOS has no /proc: the same members through ps."""
    from_proc = process_groups._members_from_proc(group.pid)

    assert sorted(from_proc.values()) == GROUP
    assert process_groups._members_from_ps(group.pid) == from_proc


def test_a_group_that_ignores_sigterm_is_killed(group):
    process_groups.end_groups([group.pid])

    assert group.wait(timeout=5) == -signal.SIGKILL
    # SIGKILL takes effect a moment after it is sent; zombies aside, which
    # PID 1 may be slow to reap, nothing is left then.
    give_up = time.monotonic() + 5
    while process_groups.members(group.pid) and time.monotonic() < give_up:
        time.sleep(0.01)
    assert process_groups.members(group.pid) == {}


WATCH = """
import os, shutil, signal, subprocess, sys
from multiprocessing.util import spawnv_passfds
from django_overlay.runner import process_groups

def show(left):
    print(left and (left[0], sorted(left[1].values())))

watch = process_groups.SpawnWatch(os.getpgid(0))
watch.look(0)
subprocess.run(["true"], check=True)
watch.look(1)
child = subprocess.Popen(["sleep", "300"])
watch.look(2)
watch.look(3)
show(watch.left_processes())
child.kill()
child.wait()
show(watch.left_processes())
# Started from C, with no audit event: the class is named.
pid = spawnv_passfds(os.fsencode(shutil.which("sleep")), ["sleep", "300"], ())
show(watch.left_processes())
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
"""


def test_a_watch_names_the_tests_that_started_processes():
    # A session of its own: this process's group has others (memcached).
    output = subprocess.run(
        [sys.executable, "-c", WATCH],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    ).stdout

    assert output.splitlines() == [
        "([1, 2], ['sleep 300'])",
        # The child reaped: the class is named, but nothing is left.
        "None",
        # Without os.waitid() (macOS may lack it) a child is seen once reaped.
        "([None], ['sleep 300'])" if hasattr(os, "waitid") else "None",
    ]
