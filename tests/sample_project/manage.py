#!/usr/bin/env python
"""
manage.py of the sample project that tests/ runs as a subprocess.

It installs django_overlay before Django is set up, as a project using the
overlay would. SAMPLE_WITHOUT_OVERLAY=1 runs upstream Django instead, so that a
test can show what goes wrong without the overlay.

SAMPLE_START_METHOD sets the start method before Django runs, the way a
project does on its own (or Python 3.14 does by default with forkserver).
Upstream has no --start-method, so without the overlay this is how tests
choose one.
"""

import multiprocessing
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample_project.settings")
    if start_method := os.environ.get("SAMPLE_START_METHOD"):
        multiprocessing.set_start_method(start_method)
    if os.environ.get("SAMPLE_WITHOUT_OVERLAY") != "1":
        import django_overlay

        django_overlay.install()

    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
