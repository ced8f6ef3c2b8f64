"""
Wall time of a suite configured at run time by its own runner, under spawn
against fork, with the overlay and with upstream Django, side by side.

The suite is the sample project's password-hashing workload run by
sample_project.runner.ProjectRunner, which sets a fast (MD5) hasher in its
__init__, as many projects do. Forked workers inherit that setting; upstream's
spawned workers do not, and hash with PBKDF2. Runs are interleaved so that
the machine's noise falls on all four alike; medians are reported.

    python bench/spawn_vs_fork.py [--runs 5] [--classes 16]   # 20 tests a class

Target (issue "spawned workers in the parent's state"): overlay spawn/fork
<= 1.5.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MANAGE_PY = Path(__file__).resolve().parent.parent / "tests" / "sample_project" / "manage.py"


def run_once(start_method, with_overlay, classes):
    environment = {
        **os.environ,
        "SAMPLE_TEST_RUNNER": "sample_project.runner.ProjectRunner",
        "SAMPLE_HASHING_TESTS": str(classes),
        "SAMPLE_START_METHOD": start_method,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if not with_overlay:
        environment["SAMPLE_WITHOUT_OVERLAY"] = "1"
    command = [
        sys.executable,
        str(MANAGE_PY),
        "test",
        "sample_app.tests.test_hashing",
        "--parallel",
        "2",
        "--noinput",
    ]
    with tempfile.TemporaryDirectory() as cwd:
        started = time.perf_counter()
        process = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--classes", type=int, default=16, help="test classes in the suite")
    options = parser.parse_args()
    cases = [
        (label, with_overlay, start_method)
        for label, with_overlay in (("upstream", False), ("overlay", True))
        for start_method in ("fork", "spawn")
    ]
    times = {case: [] for case in cases}
    for _ in range(options.runs):
        for case in cases:
            label, with_overlay, start_method = case
            times[case].append(run_once(start_method, with_overlay, options.classes))
    for label, with_overlay in (("upstream", False), ("overlay", True)):
        fork = statistics.median(times[(label, with_overlay, "fork")])
        spawn = statistics.median(times[(label, with_overlay, "spawn")])
        print(
            f"{label} classes={options.classes} runs={options.runs} "
            f"fork={fork:.2f}s spawn={spawn:.2f}s ratio={spawn / fork:.2f}"
        )


if __name__ == "__main__":
    main()
