"""
On/off options that an environment variable can turn on too
(--isolate-cache and DJANGO_TEST_ISOLATE_CACHE, --reuse-schema and
DJANGO_TEST_REUSE_SCHEMA): one rule for what the variable may hold.
"""

import os

from django.core.management import CommandError


def requested(option, variable):
    """
    Whether the option, or the variable set to 1, asks for the switch; unset,
    empty or 0 leave it off, and anything else is an error rather than a guess.
    """
    if option:
        return True
    value = os.environ.get(variable, "")
    if value not in {"", "0", "1"}:
        raise CommandError(f"{variable}={value!r}: expected 1 or 0")
    return value == "1"
