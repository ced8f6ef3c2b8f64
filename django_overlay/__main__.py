"""``python -m django_overlay``: what the overlay would patch here, and how."""

import multiprocessing
import platform
import sys

import django

from . import patches
from .start_method import requested_start_method
from .versions import UnsupportedDjangoVersion, check_supported


def main():
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


if __name__ == "__main__":
    sys.exit(main())
