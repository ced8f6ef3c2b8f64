"""
The last check before the overlay drops or overwrites anything on a database
server.

The overlay makes and removes test databases, users and tablespaces of its
own: the ones Django's test settings name, and one per parallel worker named
after them with the worker's number. A bug, or settings that make a derived
name collide with a real one (main user ``app_1``, test user ``app``), must
not cost anyone a real database: every DROP goes through check_derived()
first, which raises rather than lets a name through that it cannot trace back
to the test settings.
"""

import re

WORKER_SUFFIX = re.compile(r"_[1-9][0-9]*")


class NotATestName(Exception):
    """A name the overlay was about to drop or overwrite is not a test name."""


def check_derived(kind, name, test_names, protected=(), *, ignore_case=False):
    """
    Raise NotATestName unless name is one of test_names, the names the test
    settings give, or one of them followed by a worker suffix (_1, _2, ...),
    and is none of protected, the names of the real (non-test) databases and
    users. ignore_case is for servers that fold unquoted names (Oracle).
    """
    fold = str.upper if ignore_case else str
    bases = [fold(test_name) for test_name in test_names if test_name]
    folded = fold(name or "")
    if folded in {fold(real) for real in protected if real}:
        raise NotATestName(
            f"Refusing to drop or overwrite the {kind} {name!r}: the settings "
            "use it for the real database, not for tests. Nothing was dropped; "
            "give the TEST settings of your DATABASES names of their own."
        )
    derived = folded and any(
        folded == base
        or (folded.startswith(base) and WORKER_SUFFIX.fullmatch(folded[len(base) :]))
        for base in bases
    )
    if not derived:
        raise NotATestName(
            f"Refusing to drop or overwrite the {kind} {name!r}: the test settings "
            f"name {', '.join(map(repr, bases)) or 'none'}, and a worker's is one "
            "of those followed by _<worker number>. Nothing was dropped."
        )
