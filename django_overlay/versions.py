"""Which Django releases the overlay knows how to patch."""

import django

# Each supported release line, with the oldest Python it is supported on here.
SUPPORTED = {
    (5, 2): (3, 11),
    (6, 0): (3, 12),
    (6, 1): (3, 12),
}


class UnsupportedDjangoVersion(RuntimeError):
    pass


def django_line(version=None):
    """Return the running (or given) Django's (major, minor)."""
    version = django.VERSION if version is None else version
    return tuple(version[:2])


def check_supported(version=None):
    """
    Refuse to patch a Django release whose internals the overlay has not been
    checked against: patching the wrong code would fail in ways far harder to
    understand than this error.
    """
    line = django_line(version)
    if line not in SUPPORTED:
        names = ", ".join("{}.{}".format(*supported) for supported in sorted(SUPPORTED))
        found = ".".join(str(part) for part in (version or django.VERSION)[:3])
        raise UnsupportedDjangoVersion(
            f"django_overlay supports Django {names}; Django {found} is installed. "
            "Nothing was patched."
        )
    return line
