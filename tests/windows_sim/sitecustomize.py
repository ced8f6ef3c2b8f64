"""
Windows' CPython, as far as the overlay can tell, on Linux: imported at start
by every interpreter that has this directory on PYTHONPATH, spawned workers
included (they inherit the environment).

It takes away what Windows' CPython lacks and the overlay could reach for:
the fcntl module, the signals SIGUSR1, SIGUSR2 and SIGALRM,
faulthandler.register() and unregister(), os.O_DIRECTORY, os.killpg(),
os.getpgid(), os.setsid() and os.fork(); and it makes spawn the only start
method, as it is there. What it cannot imitate: Win32 handles in
multiprocessing's pipes, TerminateProcess, files that cannot be replaced
while open, the 63-handle limit of WaitForMultipleObjects. Those need a real
Windows CPython (the Wine run).
"""

import faulthandler
import multiprocessing.context
import os
import signal
import sys

# An import of fcntl now raises ModuleNotFoundError, as on Windows.
sys.modules["fcntl"] = None

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
