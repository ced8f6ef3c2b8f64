"""
Windows' CPython, as far as the overlay can tell, on Linux: imported at start
by every interpreter that has this directory on PYTHONPATH, spawned workers
included (they inherit the environment).

It takes away what Windows' CPython lacks and the overlay could reach for:
the fcntl module, the signals SIGUSR1, SIGUSR2 and SIGALRM,
faulthandler.register() and unregister(), os.O_DIRECTORY, os.killpg(),
os.getpgid(), os.setsid() and os.fork(); and it makes spawn the only start
method, as it is there. In their place it puts msvcrt.locking(), on top of
the fcntl it hides, for the durations file's lock (on Linux a lock file can
be removed while another process has it open, which Windows forbids, so
concurrent runs are not exclusive here as they are there). What it cannot
imitate: Win32 handles in
multiprocessing's pipes, TerminateProcess, files that cannot be replaced
while open, the 63-handle limit of WaitForMultipleObjects. Those need a real
Windows CPython (the Wine run).
"""

import faulthandler
import fcntl
import multiprocessing.context
import os
import signal
# Before msvcrt exists: subprocess takes it for a sign of Windows.
import subprocess  # noqa: F401
import sys
import time
import types

# An import of fcntl now raises ModuleNotFoundError, as on Windows.
sys.modules["fcntl"] = None


def _locking(fd, mode, nbytes):
    """msvcrt.locking(): LK_LOCK tries for ten seconds, then raises EDEADLOCK."""
    start = os.lseek(fd, 0, os.SEEK_CUR)
    if mode == msvcrt.LK_UNLCK:
        fcntl.lockf(fd, fcntl.LOCK_UN, nbytes, start)
        return
    for _ in range(10):
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, nbytes, start)
            return
        except BlockingIOError:
            time.sleep(1)
    raise OSError(36, "Resource deadlock avoided")


msvcrt = types.ModuleType("msvcrt")
msvcrt.LK_UNLCK, msvcrt.LK_LOCK = 0, 1
msvcrt.locking = _locking
sys.modules["msvcrt"] = msvcrt

for module, names in [
    (signal, ("SIGUSR1", "SIGUSR2", "SIGALRM")),
    (faulthandler, ("register", "unregister")),
    (os, ("O_DIRECTORY", "killpg", "getpgid", "setsid", "fork")),
]:
    for name in names:
        if hasattr(module, name):
            delattr(module, name)

# Windows has spawn only: the default, and the only context there is.
_contexts = multiprocessing.context._concrete_contexts
for _name in ("fork", "forkserver"):
    _contexts.pop(_name, None)
multiprocessing.context._default_context._default_context = _contexts["spawn"]
multiprocessing.get_all_start_methods = lambda: ["spawn"]
