"""Where the overlay keeps what outlives a run: Django's suite, recorded durations."""

import os
from pathlib import Path


def cache_root():
    """$DJANGO_OVERLAY_CACHE, else django-overlay under the XDG cache directory."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(os.environ.get("DJANGO_OVERLAY_CACHE", default / "django-overlay"))
