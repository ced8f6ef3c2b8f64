"""``python -m django_overlay``: what the overlay would patch here, and how."""

import argparse
import multiprocessing
import os
import platform
import sys

import django

from . import patches
from .start_method import requested_start_method
from .versions import UnsupportedDjangoVersion, check_supported


def parse_arguments(arguments):
    parser = argparse.ArgumentParser(
        prog="python -m django_overlay",
        description=(
            "Print the installed Django and Python, the multiprocessing start method a "
            "parallel test run would use, and each target of the overlay's patch registry "
            "with what is in force for it on this Django."
        ),
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print the whole registry as docs/patches.md's Markdown table instead",
    )
    return parser.parse_args(arguments)


def main(arguments=None):
    options = parse_arguments(arguments)
    if options.markdown:
        print(patches.markdown_table())
        return 0
    print(f"Django {django.get_version()} on Python {platform.python_version()}")
    try:
        check_supported()
    except UnsupportedDjangoVersion as error:
        print(error, file=sys.stderr)
        return 1
    try:
        chosen = requested_start_method()
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    default = multiprocessing.get_start_method()
    if chosen:
        print(f"Start method: {chosen} (from the environment; platform default {default})")
    else:
        print(f"Start method: {default} (platform default)")
    for target, in_force in patches.status():
        print(f"{target} -> {in_force}")
    return 0


def run():
    """
    main(), for a reader that may stop early (``| head``): a closed pipe ends
    the command quietly, as it ends other command-line tools, rather than in a
    traceback.
    """
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit, into the same closed pipe:
        # point it at /dev/null so that this flush has nowhere to fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


if __name__ == "__main__":
    sys.exit(run())
