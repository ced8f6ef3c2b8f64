"""
Where the overlay keeps what outlives a run: Django's suite, recorded
durations, schema templates.
"""

import hashlib
import os
import sys
from pathlib import Path


def cache_root():
    """$DJANGO_OVERLAY_CACHE, else django-overlay under the XDG cache directory."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(os.environ.get("DJANGO_OVERLAY_CACHE", default / "django-overlay"))


# What names the project where sys.argv[0] does not: see named_by().
_command = None


def project_key():
    """
    Names the project and its settings: the command that runs the tests
    (manage.py, runtests.py) and the settings module name it better than the
    working directory does.
    """
    command = _command or os.path.abspath(sys.argv[0])
    project = f"{command}\0{os.environ.get('DJANGO_SETTINGS_MODULE', '')}"
    return hashlib.sha256(project.encode()).hexdigest()[:16]


def named_by(command):
    """
    Name the project by command instead of sys.argv[0], in a process whose
    sys.argv[0] does not name it: pytest's, where it is pytest itself in the
    controller and "-c" in an xdist worker. The pytest plugin names it by
    pytest's rootdir, which the controller and its workers share.
    """
    global _command
    _command = command
