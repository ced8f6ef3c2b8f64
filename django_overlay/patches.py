"""
The patch registry: what the overlay replaces in Django, with what, and on
which Django release lines.

install(), uninstall() and status() all read the one table below, so the list
printed by ``python -m django_overlay`` is, by construction, what install()
does. Replacements are named by dotted path and imported only at install time
(or when their target's module is, see Patch.when_imported), which keeps this
module importable before Django is configured.
"""

import importlib
import importlib.util
from dataclasses import dataclass

import wrapt

from .versions import SUPPORTED, check_supported, django_line

ALL_LINES = frozenset(SUPPORTED)


@dataclass(frozen=True)
class Patch:
    target: str
    """Dotted path of the Django object that is replaced."""

    replacement: str | None
    """Dotted path of what replaces it; None where upstream is kept."""

    lines: frozenset = ALL_LINES
    """Django release lines on which the replacement applies."""

    note: str = ""
    """Why upstream is kept, or why the patch is limited to some lines."""

    package: str | None = None
    """The third-party package the target is in, if any: skipped where it is not installed."""

    when_imported: bool = False
    """
    Patched when the target's module is imported rather than by install():
    the module imports a database driver or a cache client that the project
    may not use, and that every spawned worker would import again for nothing.
    """

    @property
    def module(self):
        """
        The module the target is in: its dotted path up to the first class
        (the registry's classes are capitalised, its modules are not), or up
        to its last name where the target is a module's own function.
        """
        parts = self.target.split(".")
        for position, part in enumerate(parts):
            if part[0].isupper():
                return ".".join(parts[:position])
        return ".".join(parts[:-1])

    def installed(self):
        return self.package is None or importlib.util.find_spec(self.package) is not None

    def applies(self, line):
        return self.replacement is not None and line in self.lines and self.installed()


RUNNER = "django.test.runner"
UTILS = "django.test.utils"
SQLITE = "django.db.backends.sqlite3.creation.DatabaseCreation"
POSTGRESQL = "django.db.backends.postgresql.creation.DatabaseCreation"
MYSQL = "django.db.backends.mysql.creation.DatabaseCreation"
ORACLE = "django.db.backends.oracle.creation.DatabaseCreation"
ORACLE_FEATURES = "django.db.backends.oracle.features.DatabaseFeatures"
SHARED = "django_overlay.shared_connections"
CACHES = "django_overlay.caches"
REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"
MEMCACHED_CACHE = "django.core.cache.backends.memcached.BaseMemcachedCache"
DJANGO_REDIS = "django_redis.client"
FILE_BASED_CACHE = "django.core.cache.backends.filebased.FileBasedCache"
FLUSH = "django_overlay.flush"
BASE_OPERATIONS = "django.db.backends.base.operations.BaseDatabaseOperations"
POSTGRESQL_OPERATIONS = "django.db.backends.postgresql.operations.DatabaseOperations"
MYSQL_OPERATIONS = "django.db.backends.mysql.operations.DatabaseOperations"
SQLITE_OPERATIONS = "django.db.backends.sqlite3.operations.DatabaseOperations"
ORACLE_OPERATIONS = "django.db.backends.oracle.operations.DatabaseOperations"

PATCHES = (
    Patch(f"{RUNNER}.ParallelTestSuite", "django_overlay.runner.suite.ParallelTestSuite"),
    Patch(
        f"{RUNNER}.DiscoverRunner.parallel_test_suite",
        "django_overlay.runner.suite.ParallelTestSuite",
    ),
    Patch(
        f"{RUNNER}.DiscoverRunner.add_arguments",
        "django_overlay.runner.discover.add_arguments",
    ),
    Patch(f"{RUNNER}.DiscoverRunner.__init__", "django_overlay.runner.discover.init"),
    Patch(f"{UTILS}.setup_databases", "django_overlay.runner.databases.setup_databases"),
    Patch(f"{RUNNER}._setup_databases", "django_overlay.runner.databases.setup_databases"),
    Patch(f"{UTILS}.teardown_databases", "django_overlay.runner.databases.teardown_databases"),
    Patch(
        f"{RUNNER}._teardown_databases", "django_overlay.runner.databases.teardown_databases"
    ),
    Patch(
        f"{RUNNER}.DiscoverRunner.build_suite", "django_overlay.runner.discover.build_suite"
    ),
    Patch(
        f"{RUNNER}.DiscoverRunner.get_resultclass",
        "django_overlay.runner.discover.get_resultclass",
    ),
    Patch(
        f"{RUNNER}.RemoteTestResult.__init__",
        "django_overlay.runner.outcomes.init_remote_result",
    ),
    Patch(
        f"{RUNNER}.RemoteTestResult.check_picklable",
        "django_overlay.runner.outcomes.check_picklable",
    ),
    Patch(f"{RUNNER}.RemoteTestResult.addSkip", "django_overlay.runner.outcomes.add_skip"),
    Patch(
        f"{RUNNER}.RemoteTestResult.check_subtest_picklable",
        "django_overlay.runner.outcomes.check_subtest_picklable",
    ),
    Patch(
        f"{RUNNER}.get_max_test_processes",
        "django_overlay.runner.discover.get_max_test_processes",
        lines=frozenset({(5, 2)}),
        note="Django 5.2 runs one process under forkserver; 6.0 fixed it",
    ),
    Patch(
        "django.core.management.commands.test.get_max_test_processes",
        "django_overlay.runner.discover.get_max_test_processes",
        lines=frozenset({(5, 2)}),
        note="Django 5.2 runs one process under forkserver; 6.0 fixed it",
    ),
    Patch(
        f"{SQLITE}.get_test_db_clone_settings",
        "django_overlay.backends.sqlite3.get_test_db_clone_settings",
    ),
    Patch(f"{SQLITE}._clone_test_db", "django_overlay.backends.sqlite3._clone_test_db"),
    Patch(
        f"{SQLITE}.setup_worker_connection",
        "django_overlay.backends.sqlite3.setup_worker_connection",
    ),
    Patch(
        f"{SQLITE}._destroy_test_db", "django_overlay.backends.sqlite3._destroy_test_db"
    ),
    Patch(
        f"{POSTGRESQL}._clone_test_db",
        "django_overlay.backends.postgresql._clone_test_db",
        when_imported=True,
    ),
    Patch(
        f"{POSTGRESQL}.get_test_db_clone_settings",
        None,
        note="upstream's test_<name>_<worker> naming is kept",
    ),
    Patch(
        f"{MYSQL}._clone_test_db",
        None,
        note="upstream's creates (or, with --keepdb, keeps) the empty clone for _clone_db",
    ),
    Patch(f"{MYSQL}._clone_db", "django_overlay.backends.mysql._clone_db", when_imported=True),
    Patch(
        f"{MYSQL}.get_test_db_clone_settings",
        None,
        note="upstream's test_<name>_<worker> naming is kept",
    ),
    Patch(
        f"{ORACLE_FEATURES}.can_clone_databases",
        "django_overlay.backends.oracle.can_clone_databases",
        when_imported=True,
    ),
    Patch(
        f"{ORACLE}.get_test_db_clone_settings",
        "django_overlay.backends.oracle.get_test_db_clone_settings",
        when_imported=True,
    ),
    Patch(
        f"{ORACLE}._clone_test_db",
        "django_overlay.backends.oracle._clone_test_db",
        when_imported=True,
    ),
    Patch(
        f"{ORACLE}.destroy_test_db",
        "django_overlay.backends.oracle.destroy_test_db",
        when_imported=True,
    ),
    Patch("django.db.utils.ConnectionHandler.__getitem__", f"{SHARED}.connection_handler_getitem"),
    Patch("django.db.transaction.Atomic.__enter__", f"{SHARED}.atomic_enter"),
    Patch("django.db.transaction.Atomic.__exit__", f"{SHARED}.atomic_exit"),
    Patch(
        f"{RUNNER}.DiscoverRunner.setup_test_environment",
        f"{CACHES}.setup_test_environment",
    ),
    Patch(
        f"{RUNNER}.DiscoverRunner.teardown_test_environment",
        f"{CACHES}.teardown_test_environment",
    ),
    Patch(
        "django.test.testcases.SimpleTestCase._setup_and_call",
        f"{CACHES}._setup_and_call",
    ),
    Patch(
        f"{REDIS_CACHE}.make_and_validate_key",
        f"{CACHES}.redis_make_and_validate_key",
    ),
    Patch(f"{REDIS_CACHE}.clear", f"{CACHES}.redis_clear"),
    Patch(
        f"{MEMCACHED_CACHE}.make_and_validate_key",
        f"{CACHES}.memcached_make_and_validate_key",
    ),
    Patch(f"{MEMCACHED_CACHE}.clear", f"{CACHES}.memcached_clear"),
    Patch(
        f"{DJANGO_REDIS}.default.DefaultClient.make_key",
        f"{CACHES}.django_redis_make_key",
        package="django_redis",
        when_imported=True,
    ),
    Patch(
        f"{DJANGO_REDIS}.default.DefaultClient.make_pattern",
        f"{CACHES}.django_redis_make_pattern",
        package="django_redis",
        when_imported=True,
    ),
    Patch(
        f"{DJANGO_REDIS}.default.DefaultClient.clear",
        f"{CACHES}.django_redis_clear",
        package="django_redis",
        when_imported=True,
    ),
    Patch(
        f"{DJANGO_REDIS}.sharded.ShardClient.clear",
        f"{CACHES}.django_redis_sharded_clear",
        package="django_redis",
        when_imported=True,
    ),
    Patch(f"{FILE_BASED_CACHE}._key_to_file", f"{CACHES}.file_key_to_file"),
    Patch(f"{FILE_BASED_CACHE}._createdir", f"{CACHES}.file_createdir"),
    Patch(f"{FILE_BASED_CACHE}._list_cache_files", f"{CACHES}.file_list_cache_files"),
    Patch("django.core.management.commands.flush.Command.handle", f"{FLUSH}.handle"),
    # Names the overlay's flush asks the backends (they are new: uninstall()
    # removes them again).
    Patch(f"{BASE_OPERATIONS}.tables_flushed", f"{FLUSH}.base.tables_flushed"),
    Patch(f"{BASE_OPERATIONS}.sql_flush_with_rows", f"{FLUSH}.base.sql_flush_with_rows"),
    Patch(f"{BASE_OPERATIONS}.delete_triggers_sql", f"{FLUSH}.base.delete_triggers_sql"),
    Patch(
        f"{POSTGRESQL_OPERATIONS}.tables_flushed",
        f"{FLUSH}.postgresql.tables_flushed",
        when_imported=True,
    ),
    Patch(
        f"{POSTGRESQL_OPERATIONS}.sql_flush_with_rows",
        f"{FLUSH}.postgresql.sql_flush_with_rows",
        when_imported=True,
    ),
    Patch(
        f"{MYSQL_OPERATIONS}.delete_triggers_sql",
        f"{FLUSH}.mysql.delete_triggers_sql",
        when_imported=True,
    ),
    # When imported: the module imports its backend's base, which imports it.
    Patch(
        f"{SQLITE_OPERATIONS}.tables_flushed", f"{FLUSH}.sqlite3.tables_flushed", when_imported=True
    ),
    Patch(
        f"{SQLITE_OPERATIONS}.delete_triggers_sql",
        f"{FLUSH}.sqlite3.delete_triggers_sql",
        when_imported=True,
    ),
    Patch(
        f"{ORACLE_OPERATIONS}.tables_flushed", f"{FLUSH}.oracle.tables_flushed", when_imported=True
    ),
    Patch(
        f"{ORACLE_OPERATIONS}.sql_flush_with_rows",
        f"{FLUSH}.oracle.sql_flush_with_rows",
        when_imported=True,
    ),
    Patch(
        "django.core.cache.backends.locmem.LocMemCache",
        None,
        note="one store per process already: each worker has its own",
    ),
    Patch(
        "django.core.cache.backends.db.DatabaseCache",
        None,
        note="lives in the worker's own database clone; workers check the cache table",
    ),
    Patch(
        "django.utils.autoreload.iter_modules_and_files",
        None,
        note="upstream already watches __mp_main__ by its file on every supported line",
    ),
)

_MISSING = object()
# target -> the object found in its owner's namespace before install(), or
# _MISSING where the target was inherited rather than defined there.
_originals = {}
# The install() in force, if any; the import hooks of an earlier one, which
# cannot be unregistered, see that it is over and do nothing.
_installation = None


def resolve(dotted_path):
    """
    Return (owner, attribute name) for a dotted path: the longest prefix that
    imports as a module, then attributes down to the last name's owner.
    """
    parts = dotted_path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            owner = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if module_name == missing or module_name.startswith(missing + "."):
                continue
            # The module exists but needs something that is missing.
            raise
        try:
            for name in parts[split:-1]:
                owner = getattr(owner, name)
        except AttributeError as error:
            raise ImportError(f"cannot resolve {dotted_path!r}: {error}") from None
        return owner, parts[-1]
    raise ImportError(f"cannot resolve {dotted_path!r}")


def load(dotted_path):
    owner, name = resolve(dotted_path)
    return vars(owner)[name] if isinstance(owner, type) else getattr(owner, name)


def active_patches(line=None):
    line = django_line() if line is None else line
    return [patch for patch in PATCHES if patch.applies(line)]


def is_installed():
    return _installation is not None


def install():
    """
    Apply every patch for the running Django release, or none.

    Everything is resolved before anything is replaced, so an unsupported
    release or an import error leaves Django untouched. Patches marked
    when_imported wait for their module (at once if it is imported already);
    each module's are resolved together before any is applied. Calling it
    again is a no-op.
    """
    global _installation
    if is_installed():
        return
    line = check_supported()
    at_once, on_import = [], {}
    for patch in active_patches(line):
        if patch.when_imported:
            on_import.setdefault(patch.module, []).append(patch)
        else:
            at_once.append(patch)
    installation = _installation = object()
    try:
        _apply(installation, at_once)
        for module_name, module_patches in on_import.items():
            wrapt.register_post_import_hook(
                lambda module, patches=module_patches: _apply(installation, patches),
                module_name,
            )
    except BaseException:
        uninstall()
        raise


def _apply(installation, module_patches):
    if installation is not _installation:
        return
    plan = []
    for patch in module_patches:
        owner, name = resolve(patch.target)
        plan.append((patch.target, owner, name, load(patch.replacement)))
    for target, owner, name, replacement in plan:
        _originals[target] = (owner, name, vars(owner).get(name, _MISSING))
        setattr(owner, name, replacement)


def uninstall():
    """
    Put back exactly the objects install() replaced. Modules imported after
    this are left as upstream has them.
    """
    global _installation
    _installation = None
    for target in reversed(list(_originals)):
        owner, name, original = _originals.pop(target)
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)


def original(target):
    """The object install() replaced at target, for replacements that wrap it."""
    owner, name, found = _originals[target]
    if found is _MISSING:
        # Inherited: the original is whatever the owner's bases provide.
        return getattr(super(owner, owner), name)
    return found


def status(line=None):
    """One (target, what is in force) pair per registry entry."""
    line = django_line() if line is None else line
    rows = []
    for patch in PATCHES:
        if patch.applies(line):
            rows.append((patch.target, patch.replacement))
        elif not patch.installed():
            rows.append((patch.target, f"not patched: {patch.package} is not installed"))
        elif patch.replacement is None:
            rows.append((patch.target, f"upstream kept: {patch.note}"))
        else:
            rows.append((patch.target, f"upstream kept on this release: {patch.note}"))
    return rows
