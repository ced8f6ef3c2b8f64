"""
Choose the multiprocessing start method for a test run.

Django decides how to create and reach worker databases by asking
multiprocessing.get_start_method(), so the method is set as the process-wide
default rather than kept in a private context: every part of the run, the
overlay's and Django's, then agrees on it.

What a start method needs of the platform is here too: fork on macOS is
warned about, and forkserver's socket is kept within the length a Unix
socket's path may have.
"""

import multiprocessing
import os
import sys
import tempfile
import warnings
from multiprocessing import util

ENVIRONMENT_VARIABLE = "DJANGO_TEST_START_METHOD"
FORK_ON_MACOS = (
    "The fork start method on macOS: system frameworks and the Objective-C "
    "runtime are not fork-safe, so a worker may crash or hang, which is why "
    "Python starts processes with spawn there. Use --start-method spawn (the "
    "default) unless your tests need fork and run well with it."
)
# sun_path's size, the longest path a Unix socket may have: 108 bytes on
# Linux, 104 on macOS and the BSDs. Python raises "AF_UNIX path too long" past
# it, counting the terminating NUL on macOS.
SOCKET_PATH_LIMIT = 108 if sys.platform.startswith("linux") else 104
# What multiprocessing adds to the temporary directory for forkserver's
# socket: a private directory of its own and the socket in it,
# /pymp-XXXXXXXX/listener-XXXXXXXX.
FORKSERVER_SOCKET_NAME = len("/pymp-12345678/listener-12345678")
# Where forkserver's socket goes when TMPDIR is too long: the usual short
# temporary directories, which Python 3.14 falls back to as well.
SHORT_TEMPORARY_DIRECTORIES = ("/tmp", "/var/tmp")


def valid_start_method(name):
    """Return name if this platform can start processes with it."""
    available = multiprocessing.get_all_start_methods()
    if name not in available:
        raise ValueError(f"invalid start method {name!r}: choose from {', '.join(available)}")
    return name


def requested_start_method(option=None):
    """The start method asked for by the command line, else the environment."""
    if option:
        return valid_start_method(option)
    from_environment = os.environ.get(ENVIRONMENT_VARIABLE)
    if from_environment:
        try:
            return valid_start_method(from_environment)
        except ValueError as error:
            raise ValueError(f"{ENVIRONMENT_VARIABLE}: {error}") from None
    return None


def starts_fresh():
    """
    Whether worker processes begin as new interpreters (spawn, forkserver)
    rather than as forks of the parent: what they cannot inherit must be
    handed to them.
    """
    return multiprocessing.get_start_method() in {"forkserver", "spawn"}


def apply_start_method(name):
    """
    Make name the start method of every process this run creates. fork on
    macOS is a warning rather than a refusal: it was asked for by name;
    projects ran their parallel tests on macOS with fork for years (Django
    ticket #31169's workaround, with OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES);
    and a refusal would need a second option to say the first was meant.
    A warnings filter silences it.
    """
    name = valid_start_method(name)
    if name == "fork" and sys.platform == "darwin":
        warnings.warn(FORK_ON_MACOS, RuntimeWarning, stacklevel=2)
    multiprocessing.set_start_method(name, force=True)


def keep_forkserver_socket_short():
    """
    Under forkserver, before the fork server starts: if TMPDIR is too long
    for the server's socket, have multiprocessing make its private directory
    (mode 0700, removed when the run exits) in a short temporary directory
    instead. Only that directory moves; everything else stays under TMPDIR.
    """
    if multiprocessing.get_start_method() != "forkserver":
        return
    if len(os.fsencode(tempfile.gettempdir())) + FORKSERVER_SOCKET_NAME < SOCKET_PATH_LIMIT:
        return
    for short in SHORT_TEMPORARY_DIRECTORIES:
        if os.path.isdir(short) and os.access(short, os.W_OK | os.X_OK):
            break
    else:
        # Python's own error will say what is wrong.
        return
    chosen, tempfile.tempdir = tempfile.tempdir, short
    try:
        # Made once per process, and kept: the socket's directory from now on.
        util.get_temp_dir()
    finally:
        tempfile.tempdir = chosen


def argument_type(value):
    """argparse type for --start-method: a clear usage error for a bad value."""
    import argparse

    try:
        return valid_start_method(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
