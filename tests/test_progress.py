"""
--progress on a pseudo-terminal, serial and parallel: what the screen holds
at the end of the run (the raw stream rendered by pyte, a terminal emulator)
has every line the run wrote, once, and nothing of the display; and off a
terminal, plain lines.

Before, the display drew only in parallel runs, and over the lines unittest
and the workers wrote to the terminal behind its back: some were lost from
the screen, and copies of the display were left in their place.
"""

import fcntl
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pyte
import pytest

from conftest import MANAGE_PY, RUN_TIMEOUT, kill_process_tree

ROBUSTNESS = "sample_app.tests.test_robustness"
COLUMNS, ROWS = 160, 400
PASSING_TESTS = [
    f"PassingTests{letter}.{test}"
    for letter in "ABCDEF"
    for test in ("test_database_is_clean", "test_passes")
]
NOISY_TESTS = [
    f"NoisyTests.{test}"
    for test in ("test_a_before", "test_fails", "test_writes_to_its_descriptors", "test_z_after")
]
# How a run is made serial or parallel.
RUNS = {
    "serial": [],
    "parallel-spawn": ["--parallel", "2", "--start-method", "spawn"],
    "parallel-fork": ["--parallel", "2", "--start-method", "fork"],
}
# A line of the display: the bar, or what a worker (or the run) is running.
DISPLAY_LINE = re.compile(r"^(tests .*\d+/\d+|worker \d+: |running: )")


def run_on_terminal(sample, arguments, cases):
    """
    Run manage.py test on a pseudo-terminal of COLUMNS x ROWS, its stdin,
    stdout and stderr; return its exit status and the raw bytes it wrote.
    """
    environment = {
        name: value
        for name, value in sample.base_environment().items()
        if name not in {"COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM"}
    }
    directory = Path(tempfile.mkdtemp(prefix="terminal-", dir=sample.root))
    environment.update(
        TERM="xterm-256color",
        TMPDIR=str(directory),
        SAMPLE_RESULTS_DIR=str(directory),
        DJANGO_OVERLAY_CACHE=str(directory / "overlay-cache"),
        SAMPLE_ROBUSTNESS=cases,
    )
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    process = subprocess.Popen(
        [sys.executable, str(MANAGE_PY), "test", ROBUSTNESS, *arguments, "--noinput"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=directory,
        env=environment,
        start_new_session=True,
    )
    os.close(terminal)
    raw = bytearray()
    give_up = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < give_up:
            if not select.select([controller], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                # EIO: every process that had the terminal open has closed it.
                break
            if not chunk:
                break
            raw += chunk
        else:
            kill_process_tree(process)
            pytest.fail(f"the run did not finish within {RUN_TIMEOUT} s:\n{raw.decode()}")
        returncode = process.wait(timeout=RUN_TIMEOUT)
    finally:
        os.close(controller)
        shutil.rmtree(directory, ignore_errors=True)
    return returncode, bytes(raw)


def screen_lines(raw):
    """What a terminal shows once it has been sent raw, line by line."""
    screen = pyte.Screen(COLUMNS, ROWS)
    pyte.ByteStream(screen).feed(raw)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def result_lines(lines):
    """Class.test -> how many -v 2 result lines ("test (id) ... ") the screen has for it."""
    counts = {}
    for line in lines:
        if match := re.match(rf"^(\w+) \({ROBUSTNESS}\.(\w+)\.\w+\) \.\.\. ", line):
            name = f"{match[2]}.{match[1]}"
            counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.mark.parametrize("run", RUNS)
def test_progress_on_a_terminal_loses_no_line_and_leaves_no_frame(sample, run):
    returncode, raw = run_on_terminal(sample, ["-v", "2", "--progress", *RUNS[run]], "noisy")
    lines = screen_lines(raw)
    shown = "\n".join(lines)

    assert returncode == 1, shown
    # The display was drawn...
    assert re.search(rb"(worker 1|running): \S", raw), raw
    # ... and left nothing behind.
    assert [line for line in lines if DISPLAY_LINE.match(line)] == [], shown
    # Every test's -v 2 line, once.
    assert result_lines(lines) == {test: 1 for test in PASSING_TESTS + NOISY_TESTS}, shown
    # What the test wrote behind unittest's back, once each.
    for written in ("written to descriptor 2 by", "printed by", "printed to stderr by"):
        assert len(re.findall(rf"noisy: {written} \d+", shown)) == 1, shown
    # The failure's report, whole.
    assert re.search(
        rf"^FAIL: test_fails \({ROBUSTNESS}\.NoisyTests\.test_fails\)\n-+\n"
        # Python 3.13 underlines a frame rebuilt from a worker's traceback
        # with a line of spaces only, which the screen shows empty.
        r"Traceback \(most recent call last\):\n(?:(?:  .*)?\n)+"
        r"AssertionError: noisy: this test fails, on purpose\n\n-+\nRan 16 tests in [\d.]+s\n\n"
        r"FAILED \(failures=1\)",
        shown,
        re.M,
    ), shown


@pytest.mark.parametrize("run", RUNS)
def test_progress_keeps_the_dots_on_one_line(sample, run):
    """Without -v 2, the dots line is shown in the display until it ends."""
    returncode, raw = run_on_terminal(sample, ["--progress", *RUNS[run]], "")
    lines = screen_lines(raw)
    shown = "\n".join(lines)

    assert returncode == 0, shown
    assert re.search(rb"(worker 1|running): \S", raw), raw
    assert "." * len(PASSING_TESTS) in lines, shown
    assert [line for line in lines if DISPLAY_LINE.match(line)] == [], shown
    assert "OK" in lines, shown


@pytest.mark.parametrize("run", RUNS)
def test_progress_off_a_terminal_is_plain_lines(sample, run):
    arguments = ["--parallel", "2"] if run != "serial" else []
    start_method = run.removeprefix("parallel-") if run != "serial" else None
    result = sample.run(
        ROBUSTNESS,
        "--progress",
        *arguments,
        start_method=start_method,
        env={"SAMPLE_ROBUSTNESS": "noisy"},
    )

    assert result.returncode == 1, result.output
    assert re.search(r"^\[progress\] 0/16 tests, no failures$", result.stderr, re.M), result.output
    assert re.search(
        r"^\[progress\] 16/16 tests, 1 failed, about 0 s left$", result.stderr, re.M
    ), result.output
    # Only the display's own lines: nothing of a terminal's.
    assert "\x1b" not in result.stderr, result.output
