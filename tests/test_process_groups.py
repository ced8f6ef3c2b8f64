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


@pytest.fixture
def group():
    """A session of its own: a shell that ignores SIGTERM, a child and an orphaned grandchild."""
    leader = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; sleep 300 & (sleep 300 &); wait"], start_new_session=True
    )
    give_up = time.monotonic() + 10
    while len(process_groups.members(leader.pid)) < 3 and time.monotonic() < give_up:
        time.sleep(0.01)
    yield leader
    process_groups.end_groups([leader.pid])
    leader.wait()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="compares ps with /proc")
def test_ps_lists_the_group_as_proc_does(group):
    """macOS has no /proc: the same members through ps."""
    from_proc = process_groups._members_from_proc(group.pid)

    assert sorted(from_proc.values()) == [
        "sh -c trap '' TERM; sleep 300 & (sleep 300 &); wait",
        "sleep 300",
        "sleep 300",
    ]
    assert process_groups._members_from_ps(group.pid) == from_proc


def test_a_group_that_ignores_sigterm_is_killed(group):
    process_groups.end_groups([group.pid])

    assert group.wait(timeout=5) == -signal.SIGKILL
    # Zombies aside, which PID 1 may be slow to reap.
    assert process_groups.members(group.pid) == {}


WATCH = """
import os, subprocess
from django_overlay.runner import process_groups

watch = process_groups.SpawnWatch(os.getpgid(0))
watch.look(0)
subprocess.run(["sh", "-c", "true"], check=True)
watch.look(1)
child = subprocess.Popen(["sleep", "300"])
watch.look(2)
# Still there: not the next test's doing.
watch.look(3)
child.kill()
child.wait()
watch.look(4)
print(watch.starters)
"""


def test_a_watch_sees_children_started_and_reaped_and_nothing_else():
    # In a process of its own: this one may have children already (memcached).
    output = subprocess.run(
        [sys.executable, "-c", WATCH], capture_output=True, text=True, check=True
    ).stdout

    # Without os.waitid() (macOS may lack it) a child is seen once reaped.
    assert output.strip() == ("[1, 2, 4]" if hasattr(os, "waitid") else "[1, 4]")
