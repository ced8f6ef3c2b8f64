"""
The worker pool's portable parts, in one process: waiting on more handles
than Windows' WaitForMultipleObjects() takes, naming Windows exit codes, and
reading the stacks a worker's watchdog wrote.
"""

import multiprocessing
import threading

from django_overlay.runner import pool
from django_overlay.runner.watchdog import header, read_stacks


def test_wait_in_batches_finds_a_handle_beyond_the_first_batch(monkeypatch):
    """As on Windows before Python 3.13, with batches of two instead of 63."""
    monkeypatch.setattr(pool, "WAIT_BATCH", 2)
    pipes = [multiprocessing.Pipe(duplex=False) for _ in range(5)]
    readers = [reader for reader, _ in pipes]
    assert pool.wait_for_any(readers, timeout=0.05) == []

    pipes[4][1].send("last batch")
    assert pool.wait_for_any(readers, timeout=1) == [readers[4]]

    threading.Timer(0.2, pipes[2][1].send, ["later"]).start()
    assert readers[2] in pool.wait_for_any(readers[:4], timeout=5)


def test_windows_exit_codes_are_named():
    assert pool.describe_exit(0xC0000005) == "exit code 0xC0000005: access violation"
    assert pool.describe_exit(0xC00000FD) == "exit code 0xC00000FD: stack overflow"
    assert pool.describe_exit(3) == "exit code 3"
    assert pool.describe_exit(-9) == "killed by SIGKILL"


def test_stacks_name_the_thread_that_ran_the_tests(tmp_path):
    path = tmp_path / "worker-1.txt"
    path.write_text(
        header(0x7F00AB)
        + "Timeout (0:00:03)!\n"
        + 'Thread 0x0000000000001234 (most recent call first):\n  File "a.py", line 1 in wait\n\n'
        + 'Thread 0x00000000007f00ab (most recent call first):\n  File "t.py", line 9 in test_hangs\n'
    )

    assert read_stacks(path) == (
        'Thread 0x0000000000001234 (most recent call first):\n  File "a.py", line 1 in wait\n\n'
        'Current thread 0x00000000007f00ab (most recent call first):\n  File "t.py", line 9 in test_hangs\n'
    )


def test_no_stacks_when_the_watchdog_did_not_fire(tmp_path):
    path = tmp_path / "worker-1.txt"
    path.write_text(header(0x7F00AB))

    assert read_stacks(path) is None
    assert read_stacks(tmp_path / "missing.txt") is None
