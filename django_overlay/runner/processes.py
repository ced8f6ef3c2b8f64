"""
How many worker processes `--parallel auto` starts: as many as the CPUs this
process may really use, not the machine's.

Upstream takes multiprocessing.cpu_count(), the machine's count: in a
container limited to 2 CPUs on a 64-core host that is 64 workers, each with
its own test databases, sharing 2 CPUs. The count here is, in order:
DJANGO_TEST_PROCESSES (Django's own override); PYTHON_CPU_COUNT (Python's,
which 3.13 reads itself); else the CPUs the process may be scheduled on
(os.process_cpu_count() from 3.13, sched_getaffinity() before), lowered to
the cgroup v2 CPU quota (cpu.max) of the process's cgroup and its parents.
"""

import math
import multiprocessing
import os
import sys
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")

# The count and why, for the runner to say at -v 2: Django calls
# get_max_test_processes() only for --parallel auto.
last_choice = None


def get_max_test_processes():
    """
    django.test.runner.get_max_test_processes, and the test command's
    import of it: see the module's docstring. Under forkserver too, as
    Django 6.0 does (5.2 answers 1).
    """
    global last_choice
    if multiprocessing.get_start_method() not in {"fork", "spawn", "forkserver"}:
        return 1
    last_choice = usable_cpus()
    return last_choice[0]


def usable_cpus(cgroup_root=CGROUP_ROOT, proc_self_cgroup=PROC_SELF_CGROUP):
    """The number of CPUs this process may use, and why, in words."""
    if "DJANGO_TEST_PROCESSES" in os.environ:
        # A value that is not a number is an error, as upstream's.
        count = int(os.environ["DJANGO_TEST_PROCESSES"])
        return count, f"DJANGO_TEST_PROCESSES={count}"
    if python_count := python_cpu_count():
        return python_count, f"PYTHON_CPU_COUNT={python_count}"
    count, reason = schedulable_cpus()
    quota = cgroup_cpu_quota(cgroup_root, proc_self_cgroup)
    if quota is not None and quota[0] < count:
        return quota[0], f"{reason}, limited by the cgroup's CPU quota ({quota[1]})"
    return count, reason


def python_cpu_count():
    """PYTHON_CPU_COUNT or -X cpu_count, where they name a number (Python 3.13 reads them itself)."""
    value = sys._xoptions.get("cpu_count") or os.environ.get("PYTHON_CPU_COUNT")
    try:
        count = int(value)
    except (TypeError, ValueError):
        return None
    return count if count > 0 else None


def schedulable_cpus():
    """The CPUs the process may be scheduled on, and where that was read."""
    if hasattr(os, "process_cpu_count"):
        count, source = os.process_cpu_count(), "os.process_cpu_count()"
    elif hasattr(os, "sched_getaffinity"):
        count, source = len(os.sched_getaffinity(0)), "the process's CPU affinity"
    else:
        count, source = multiprocessing.cpu_count(), "multiprocessing.cpu_count()"
    count = count or 1
    return count, f"{count} CPU{'s' if count > 1 else ''} ({source})"


def cgroup_cpu_quota(cgroup_root, proc_self_cgroup):
    """
    The strictest cgroup v2 CPU quota on the way from the process's cgroup up
    to the root, as (CPUs, the file and its line), or None where there is
    none (cgroup v1, no limit, not Linux). A quota of 1.5 CPUs gives 2
    processes: workers wait on their databases part of the time.
    """
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        return None
    # cgroup v2's line is "0::/path".
    paths = [line[3:] for line in lines if line.startswith("0::")]
    if not paths:
        return None
    directory = cgroup_root / paths[0].lstrip("/")
    strictest = None
    for candidate in (directory, *directory.parents):
        if not candidate.is_relative_to(cgroup_root):
            break
        try:
            line = (candidate / "cpu.max").read_text().strip()
        except OSError:
            continue
        quota, _, period = line.partition(" ")
        if quota == "max":
            continue
        try:
            cpus = max(1, math.ceil(int(quota) / int(period or 100000)))
        except (ValueError, ZeroDivisionError):
            continue
        if strictest is None or cpus < strictest[0]:
            strictest = (cpus, f"{candidate / 'cpu.max'}: {line}")
    return strictest
