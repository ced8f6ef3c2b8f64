"""
The last check before the overlay drops or overwrites anything on a database
server.

The overlay makes and removes test databases, users and tablespaces of its
own: the ones Django's test settings name, and one per parallel worker named
after them with the worker's number. A bug, or settings that make a derived
name collide with a real one (main user ``app_1``, test user ``app``), must
not cost anyone a real database: every DROP goes through check_derived()
first, which raises rather than lets a name through that it cannot trace back
to the test settings. For PostgreSQL, MySQL and SQLite databases,
check_test_database() does the same with the names recorded when setup began:
a test NAME equal to a real one is refused before anything is created.

A SQLite NAME is a file, which many strings reach: through a symlinked
directory (macOS's /tmp and /var are links into /private), a relative path, a
``file:`` URI, or another case on a case-insensitive file system (APFS and
NTFS by default). Upstream removes the test database's file before
making it, and a clone's before copying onto it, so SQLite's names, and those
of any backend that answers test_databases_are_files (backends/base.py), are
compared as files, never as strings.

The schema templates of --reuse-schema (runner/schema_templates.py) are named
so that nothing else is: on a server ``test_<NAME>_schema_<12 hex digits>``
(cut short to fit), built under that name followed by
``_<process id>``; for SQLite a file of that form in the schema directory of
the overlay's cache. check_template() refuses any other name, and a real
database's.
"""

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..paths import cache_root

WORKER_SUFFIX = re.compile(r"_[1-9][0-9]*")
# A template, one being built (with its builder's process id), or a spare
# copy of one (schema_templates.make_spare()).
TEMPLATE = re.compile(r"(?P<prefix>.+)_schema_[0-9a-f]{12}(?:_[1-9][0-9]*|_spare[0-9]+)?")
TEMPLATE_FILE = re.compile(r"(?P<alias>.+)_schema_[0-9a-f]{12}(?:_[1-9][0-9]*)?\.sqlite3")


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
        refuse_real(kind, name)
    derived = folded and any(
        folded == base or (folded.startswith(base) and WORKER_SUFFIX.fullmatch(folded[len(base) :]))
        for base in bases
    )
    if not derived:
        raise NotATestName(
            f"Refusing to drop or overwrite the {kind} {name!r}: the test settings "
            f"name {', '.join(map(repr, bases)) or 'none'}, and a worker's is one "
            "of those followed by _<worker number>. Nothing was dropped."
        )


def refuse_real(kind, name, spelled=None):
    also = f" (as {spelled!r}, the same file)" if spelled is not None else ""
    raise NotATestName(
        f"Refusing to drop or overwrite the {kind} {name!r}: the settings "
        f"use it{also} for the real database, not for tests. Nothing was dropped; "
        "give the TEST settings of your DATABASES names of their own."
    )


def sqlite_path(name):
    """The file a SQLite NAME opens: Django connects with uri=True."""
    name = os.fspath(name)
    if name.startswith("file:"):
        return unquote(urlsplit(name).path)
    return name


def same_file(first, second):
    """
    Whether two SQLite NAMEs open the same file: the file's identity where
    both exist, which sees through links, relative paths and case-insensitive
    file systems; else the path each resolves to, in the platform's case
    (folded on Windows), for a file that does not exist yet.
    """
    first, second = sqlite_path(first), sqlite_path(second)
    try:
        return os.path.samefile(first, second)
    except OSError:
        # One of them is missing, or cannot be looked at.
        return os.path.normcase(os.path.realpath(first)) == os.path.normcase(
            os.path.realpath(second)
        )


def check_not_a_real_file(name, real_names):
    """Raise NotATestName if the SQLite NAME is the file of a real database's NAME."""
    for real in real_names:
        if real and not _in_memory_name(real) and same_file(name, real):
            refuse_real("database", name, None if os.fspath(real) == os.fspath(name) else real)


def _in_memory_name(name):
    # As Django's DatabaseCreation.is_in_memory_db() reads a NAME.
    return isinstance(name, str) and (name == ":memory:" or "mode=memory" in name)


# alias -> NAME as the settings gave it before any test database replaced it
# there, which is then the only place upstream kept it; and alias -> the test
# databases' names derived from it. Recorded by the overlay's
# setup_databases(), each time it runs: a test may run it again inside a run
# (Django's own suite does), deriving a test name from the test database's.
_real_names = {}
_test_names = {}


def remember_real_names(databases):
    """Record each alias's NAME, from DATABASES as it is before setup."""
    for alias, settings_dict in databases.items():
        _real_names.setdefault(alias, settings_dict.get("NAME"))


def remember_test_name(alias, test_name):
    _test_names.setdefault(alias, set()).add(test_name)


def template_prefix(real_name, max_length):
    """
    What a server's schema templates of the database real_name are named
    after: the test database Django names after it by default, cut short so
    that "_schema_", 12 digits, "_" and a process id fit in max_length.
    """
    return f"test_{real_name}"[: max_length - len("_schema_") - 12 - 8]


def template_directory():
    """Where SQLite's schema templates are kept."""
    return cache_root() / "schemas"


def check_template(connection, name):
    """
    Raise NotATestName unless name is one of the alias's schema templates (or
    one being built, or a spare copy of one) and is no real database's NAME.
    """
    real_names = list(_real_names.values())
    if connection.features.test_databases_are_files:
        check_not_a_real_file(name, real_names)
        path = Path(sqlite_path(name))
        matched = TEMPLATE_FILE.fullmatch(path.name)
        inside = Path(os.path.realpath(path)).is_relative_to(os.path.realpath(template_directory()))
        if matched and matched["alias"] == connection.alias and inside:
            return
    else:
        _check_quoting(connection, name)
        if name in real_names:
            refuse_real("database", name)
        matched = TEMPLATE.fullmatch(name or "")
        real_name = _real_names.get(connection.alias, connection.settings_dict["NAME"])
        prefix = template_prefix(real_name, connection.ops.max_name_length())
        if matched and matched["prefix"] == prefix:
            return
    raise NotATestName(
        f"Refusing to drop or overwrite {name!r}: it is not named as a schema template "
        f"of the alias '{connection.alias}'. Nothing was dropped."
    )


def _check_quoting(connection, name):
    quote = connection.ops.quote_name("")[:1]
    if quote in str(name):
        raise NotATestName(
            f"Refusing to create or drop the database {name!r}: its name contains "
            f"{quote}, which the {connection.vendor} backend's quoting does not "
            "escape. Nothing was dropped; choose a test database name without it."
        )


def check_test_database(connection, name):
    """
    Raise NotATestName unless name is the alias's test database, a worker's
    clone of it, or one of its schema templates on a server (which are
    copied to and from as test databases are), and is neither a real
    database's NAME nor a name that the backend's quoting cannot keep in one
    piece, and so would turn into another name, or into SQL, in the
    statement.
    """
    # A file's name is its path, never put into SQL.
    if not connection.features.test_databases_are_files:
        _check_quoting(connection, name)
        try:
            _check_test_name(connection, name)
        except NotATestName:
            if not TEMPLATE.fullmatch(name or ""):
                raise
            check_template(connection, name)
        return
    _check_test_name(connection, name)


def _check_test_name(connection, name):
    test_names = _test_names.get(connection.alias, {connection.settings_dict["NAME"]})
    real_names = list(_real_names.values())
    if connection.features.test_databases_are_files:
        check_not_a_real_file(name, real_names)
        # Compared as files above; below, only whether name derives from a
        # test name, which the overlay spells itself.
        real_names = []
        # A file's clones are named <root>_<worker><extension>: compare roots.
        for extension in {os.path.splitext(test_name)[1] for test_name in test_names} - {""}:
            if str(name).endswith(extension):
                name = str(name)[: -len(extension)]
                test_names = [test_name.removesuffix(extension) for test_name in test_names]
                break
    check_derived("database", name, test_names, real_names)
