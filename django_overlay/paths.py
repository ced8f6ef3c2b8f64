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


def project_key():
    """
    Names the project and its settings: the command that runs the tests
    (manage.py, runtests.py) and the settings module name it better than the
    working directory does.
    """
    project = f"{os.path.abspath(sys.argv[0])}\0{os.environ.get('DJANGO_SETTINGS_MODULE', '')}"
    return hashlib.sha256(project.encode()).hexdigest()[:16]
