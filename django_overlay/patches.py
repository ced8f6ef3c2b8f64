"""
The patch registry: what the overlay replaces in Django, with what, and on
which Django release lines.

install(), uninstall() and status() all read the one table below, so the list
printed by ``python -m django_overlay`` is, by construction, what install()
does, and the table of docs/patches.md is printed from it (``--markdown``).
Replacements are named, not imported, and imported only at install time (or
when their target's module is, see Patch.when_imported), which keeps this
module importable before Django is configured.
"""

import importlib
import importlib.util
from dataclasses import dataclass

import wrapt

from .versions import SUPPORTED, check_supported, django_line


def _check_name(name):
    module, colon, attributes = name.partition(":")
    if not (module and colon and attributes) or ":" in attributes:
        raise ValueError(f"{name!r} is not written as 'package.module:Name.attribute'")


@dataclass(frozen=True)
class Patch:
    """Upstream's object at target is replaced by the object at replacement."""

    target: str
    """The Django object that is replaced, written in full: "module:Qualified.name"."""

    replacement: str
    """What replaces it, written the same way."""

    upstream: tuple[str, ...] = ()
    """The patches in patches/ (by number, "0003") that propose the same change to Django."""

    fixed_in: tuple[int, int] | None = None
    """The Django release line that fixed it: the replacement applies to earlier lines only."""

    note: str = ""
    """What fixed_in fixed, where it is set."""

    package: str | None = None
    """The third-party package the target is in, if any: skipped where it is not installed."""

    when_imported: bool = False
    """
    Patched when the target's module is imported rather than by install():
    the module imports a database driver or a cache client that the project
    may not use, and that every spawned worker would import again for nothing;
    or it is Django's test runner or a management command, which pytest
    processes never import (nor, then, the overlay's runner).
    """

    def __post_init__(self):
        _check_name(self.target)
        _check_name(self.replacement)

    @property
    def module(self):
        return self.target.partition(":")[0]

    @property
    def lines(self):
        """The supported Django release lines on which the replacement applies."""
        return frozenset(
            line for line in SUPPORTED if self.fixed_in is None or line < self.fixed_in
        )

    def installed(self):
        return self.package is None or importlib.util.find_spec(self.package) is not None

    def applies(self, line):
        return line in self.lines and self.installed()


@dataclass(frozen=True)
class Kept:
    """Upstream's object at target is kept on purpose: a reader looking for a patch finds why."""

    target: str
    """Written as Patch.target is."""

    note: str
    """Why upstream's object is kept."""

    def __post_init__(self):
        _check_name(self.target)


# How to write a row:
# - Write every target and replacement in full, "package.module:Name.attribute":
#   the module up to the colon, the attributes inside it after, as in entry
#   points and pkgutil.resolve_name(). No prefix constants: grep for a target
#   finds its row (grep's "." matches the colon, so its dotted name does too).
# - Patch(target, replacement) replaces upstream's object; upstream= names the
#   patches/ that propose the change to Django; fixed_in= the Django line that
#   fixed it, with a note saying what; package= and when_imported= for targets
#   in optional packages and in modules that import a driver.
# - Kept(target, note) where upstream's object is kept on purpose.
# - A replacement that wraps upstream's object finds it as
#   patches.original(<the replacement itself>), never by restating its target.
# - Then update docs/patches.md's table: python -m django_overlay --markdown.
PATCHES = (
    Patch(
        "django.test.runner:ParallelTestSuite",
        "django_overlay.runner.suite:ParallelTestSuite",
        upstream=("0002", "0003", "0008", "0009", "0010", "0011", "0016"),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:DiscoverRunner.parallel_test_suite",
        "django_overlay.runner.suite:ParallelTestSuite",
        upstream=("0002", "0003", "0008", "0009", "0010", "0011", "0016"),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:DiscoverRunner.add_arguments",
        "django_overlay.runner.discover:add_arguments",
        upstream=("0016",),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:DiscoverRunner.__init__",
        "django_overlay.runner.discover:init",
        upstream=("0016",),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:DiscoverRunner.setup_databases",
        "django_overlay.runner.discover:setup_databases",
        when_imported=True,
    ),
    Patch(
        "django.test.utils:setup_databases",
        "django_overlay.runner.databases:setup_databases",
        upstream=("0005", "0007"),
    ),
    Patch(
        "django.test.runner:_setup_databases",
        "django_overlay.runner.databases:setup_databases",
        upstream=("0005", "0007"),
        when_imported=True,
    ),
    Patch(
        "django.test.utils:teardown_databases",
        "django_overlay.runner.databases:teardown_databases",
        upstream=("0005",),
    ),
    Patch(
        "django.test.runner:_teardown_databases",
        "django_overlay.runner.databases:teardown_databases",
        upstream=("0005",),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:DiscoverRunner.build_suite",
        "django_overlay.runner.discover:build_suite",
        upstream=("0016",),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:DiscoverRunner.get_resultclass",
        "django_overlay.runner.discover:get_resultclass",
        when_imported=True,
    ),
    Patch(
        "django.test.runner:RemoteTestResult.__init__",
        "django_overlay.runner.outcomes:init_remote_result",
        upstream=("0003", "0006"),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:RemoteTestResult.check_picklable",
        "django_overlay.runner.outcomes:check_picklable",
        upstream=("0003",),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:RemoteTestResult.addSkip",
        "django_overlay.runner.outcomes:add_skip",
        upstream=("0001",),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:RemoteTestResult.check_subtest_picklable",
        "django_overlay.runner.outcomes:check_subtest_picklable",
        upstream=("0003",),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:get_max_test_processes",
        "django_overlay.runner.processes:get_max_test_processes",
        when_imported=True,
    ),
    Patch(
        "django.core.management.commands.test:get_max_test_processes",
        "django_overlay.runner.processes:get_max_test_processes",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation.get_test_db_clone_settings",
        "django_overlay.backends.sqlite3:get_test_db_clone_settings",
        upstream=("0013",),
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation._clone_test_db",
        "django_overlay.backends.sqlite3:_clone_test_db",
        upstream=("0013",),
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation.setup_worker_connection",
        "django_overlay.backends.sqlite3:setup_worker_connection",
        upstream=("0013",),
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation._destroy_test_db",
        "django_overlay.backends.sqlite3:_destroy_test_db",
        upstream=("0013",),
        when_imported=True,
    ),
    Patch(
        "django.db.backends.postgresql.creation:DatabaseCreation._clone_test_db",
        "django_overlay.backends.postgresql:_clone_test_db",
        when_imported=True,
    ),
    Kept(
        "django.db.backends.postgresql.creation:DatabaseCreation.get_test_db_clone_settings",
        "upstream's `test_<name>_<worker>` naming is kept",
    ),
    Kept(
        "django.db.backends.mysql.creation:DatabaseCreation._clone_test_db",
        "upstream's creates (or, with `--keepdb`, keeps) the empty clone for `_clone_db`",
    ),
    Patch(
        "django.db.backends.mysql.creation:DatabaseCreation._clone_db",
        "django_overlay.backends.mysql:_clone_db",
        upstream=("0004",),
        when_imported=True,
    ),
    Kept(
        "django.db.backends.mysql.creation:DatabaseCreation.get_test_db_clone_settings",
        "upstream's `test_<name>_<worker>` naming is kept",
    ),
    Patch(
        "django.db.backends.oracle.features:DatabaseFeatures.can_clone_databases",
        "django_overlay.backends.oracle:can_clone_databases",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.oracle.creation:DatabaseCreation.get_test_db_clone_settings",
        "django_overlay.backends.oracle:get_test_db_clone_settings",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.oracle.creation:DatabaseCreation._clone_test_db",
        "django_overlay.backends.oracle:_clone_test_db",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.oracle.creation:DatabaseCreation.destroy_test_db",
        "django_overlay.backends.oracle:destroy_test_db",
        when_imported=True,
    ),
    # Names the runner asks the backends how to make, copy and drop test
    # databases with (they are new: uninstall() removes them again).
    Patch(
        "django.db.backends.base.features:BaseDatabaseFeatures.can_clone_databases_concurrently",
        "django_overlay.backends.base:can_clone_databases_concurrently",
        upstream=("0005",),
    ),
    Patch(
        "django.db.backends.base.features:BaseDatabaseFeatures.can_copy_test_databases",
        "django_overlay.backends.base:can_copy_test_databases",
    ),
    Patch(
        "django.db.backends.base.features:BaseDatabaseFeatures.drops_test_databases_together",
        "django_overlay.backends.base:drops_test_databases_together",
    ),
    Patch(
        "django.db.backends.base.features:BaseDatabaseFeatures.test_databases_are_files",
        "django_overlay.backends.base:test_databases_are_files",
    ),
    Patch(
        "django.db.backends.base.creation:BaseDatabaseCreation.close_test_db_connections",
        "django_overlay.backends.base:close_test_db_connections",
        upstream=("0005",),
    ),
    Patch(
        "django.db.backends.base.creation:BaseDatabaseCreation.test_db_exists",
        "django_overlay.backends.base:test_db_exists",
    ),
    Patch(
        "django.db.backends.base.creation:BaseDatabaseCreation.is_test_db_in_memory",
        "django_overlay.backends.base:is_test_db_in_memory",
    ),
    Patch(
        "django.db.backends.base.creation:BaseDatabaseCreation.copy_test_db",
        "django_overlay.backends.base:copy_test_db",
    ),
    Patch(
        "django.db.backends.base.creation:BaseDatabaseCreation.test_db_columns_sql",
        "django_overlay.backends.base:test_db_columns_sql",
    ),
    Patch(
        "django.db.backends.base.creation:BaseDatabaseCreation.schema_template_store",
        "django_overlay.backends.base:schema_template_store",
    ),
    Patch(
        "django.db.backends.base.creation:BaseDatabaseCreation.worker_handover",
        "django_overlay.backends.base:worker_handover",
    ),
    Patch(
        "django.db.backends.base.creation:BaseDatabaseCreation.take_worker_handover",
        "django_overlay.backends.base:take_worker_handover",
    ),
    Patch(
        "django.db.backends.postgresql.features:DatabaseFeatures.can_clone_databases_concurrently",
        "django_overlay.backends.postgresql:can_clone_databases_concurrently",
        upstream=("0005",),
        when_imported=True,
    ),
    Patch(
        "django.db.backends.postgresql.features:DatabaseFeatures.can_copy_test_databases",
        "django_overlay.backends.postgresql:can_copy_test_databases",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.postgresql.features:DatabaseFeatures.drops_test_databases_together",
        "django_overlay.backends.postgresql:drops_test_databases_together",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.postgresql.creation:DatabaseCreation.close_test_db_connections",
        "django_overlay.backends.postgresql:close_test_db_connections",
        upstream=("0005",),
        when_imported=True,
    ),
    Patch(
        "django.db.backends.postgresql.creation:DatabaseCreation.test_db_exists",
        "django_overlay.backends.postgresql:test_db_exists",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.postgresql.creation:DatabaseCreation.copy_test_db",
        "django_overlay.backends.postgresql:copy_test_db",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.postgresql.creation:DatabaseCreation.test_db_columns_sql",
        "django_overlay.backends.postgresql:test_db_columns_sql",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.postgresql.creation:DatabaseCreation.schema_template_store",
        "django_overlay.backends.postgresql:schema_template_store",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.mysql.features:DatabaseFeatures.can_clone_databases_concurrently",
        "django_overlay.backends.mysql:can_clone_databases_concurrently",
        upstream=("0005",),
        when_imported=True,
    ),
    Patch(
        "django.db.backends.mysql.features:DatabaseFeatures.can_copy_test_databases",
        "django_overlay.backends.mysql:can_copy_test_databases",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.mysql.creation:DatabaseCreation.copy_test_db",
        "django_overlay.backends.mysql:copy_test_db",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.mysql.creation:DatabaseCreation.test_db_columns_sql",
        "django_overlay.backends.mysql:test_db_columns_sql",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.mysql.creation:DatabaseCreation.schema_template_store",
        "django_overlay.backends.mysql:schema_template_store",
        when_imported=True,
    ),
    # When imported: the module imports its backend's base, which imports it.
    Patch(
        "django.db.backends.sqlite3.features:DatabaseFeatures.can_clone_databases_concurrently",
        "django_overlay.backends.sqlite3:can_clone_databases_concurrently",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.features:DatabaseFeatures.can_copy_test_databases",
        "django_overlay.backends.sqlite3:can_copy_test_databases",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.features:DatabaseFeatures.test_databases_are_files",
        "django_overlay.backends.sqlite3:test_databases_are_files",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation.test_db_exists",
        "django_overlay.backends.sqlite3:test_db_exists",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation.is_test_db_in_memory",
        "django_overlay.backends.sqlite3:is_test_db_in_memory",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation.copy_test_db",
        "django_overlay.backends.sqlite3:copy_test_db",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation.test_db_columns_sql",
        "django_overlay.backends.sqlite3:test_db_columns_sql",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation.schema_template_store",
        "django_overlay.backends.sqlite3:schema_template_store",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation.worker_handover",
        "django_overlay.backends.sqlite3:worker_handover",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.creation:DatabaseCreation.take_worker_handover",
        "django_overlay.backends.sqlite3:take_worker_handover",
        when_imported=True,
    ),
    Patch(
        "django.db.utils:ConnectionHandler.__getitem__",
        "django_overlay.connection_sharing:connection_handler_getitem",
        upstream=("0015",),
    ),
    Patch(
        "django.db.transaction:Atomic.__enter__",
        "django_overlay.connection_sharing:atomic_enter",
        upstream=("0015",),
    ),
    Patch(
        "django.db.transaction:Atomic.__exit__",
        "django_overlay.connection_sharing:atomic_exit",
        upstream=("0015",),
    ),
    Patch(
        "django.test.runner:DiscoverRunner.setup_test_environment",
        "django_overlay.caches.run:setup_test_environment",
        upstream=("0014",),
        when_imported=True,
    ),
    Patch(
        "django.test.runner:DiscoverRunner.teardown_test_environment",
        "django_overlay.caches.run:teardown_test_environment",
        upstream=("0014",),
        when_imported=True,
    ),
    Patch(
        "django.test.testcases:SimpleTestCase._setup_and_call",
        "django_overlay.caches.clearing:_setup_and_call",
    ),
    Patch(
        "django.core.cache.backends.redis:RedisCache.make_and_validate_key",
        "django_overlay.caches.redis:make_and_validate_key",
        upstream=("0014",),
        when_imported=True,
    ),
    Patch(
        "django.core.cache.backends.redis:RedisCache.clear",
        "django_overlay.caches.redis:clear",
        when_imported=True,
    ),
    Patch(
        "django.core.cache.backends.memcached:BaseMemcachedCache.make_and_validate_key",
        "django_overlay.caches.memcached:make_and_validate_key",
        upstream=("0014",),
        when_imported=True,
    ),
    Patch(
        "django.core.cache.backends.memcached:BaseMemcachedCache.clear",
        "django_overlay.caches.memcached:clear",
        when_imported=True,
    ),
    Patch(
        "django_redis.client.default:DefaultClient.make_key",
        "django_overlay.caches.redis:django_redis_make_key",
        package="django_redis",
        when_imported=True,
    ),
    Patch(
        "django_redis.client.default:DefaultClient.make_pattern",
        "django_overlay.caches.redis:django_redis_make_pattern",
        package="django_redis",
        when_imported=True,
    ),
    Patch(
        "django_redis.client.default:DefaultClient.clear",
        "django_overlay.caches.redis:django_redis_clear",
        package="django_redis",
        when_imported=True,
    ),
    Patch(
        "django_redis.client.sharded:ShardClient.clear",
        "django_overlay.caches.redis:django_redis_sharded_clear",
        package="django_redis",
        when_imported=True,
    ),
    Patch(
        "django.core.cache.backends.filebased:FileBasedCache._key_to_file",
        "django_overlay.caches.filebased:key_to_file",
        upstream=("0014",),
    ),
    Patch(
        "django.core.cache.backends.filebased:FileBasedCache._createdir",
        "django_overlay.caches.filebased:createdir",
        upstream=("0014",),
    ),
    Patch(
        "django.core.cache.backends.filebased:FileBasedCache._list_cache_files",
        "django_overlay.caches.filebased:list_cache_files",
        upstream=("0014",),
    ),
    Patch(
        "django.core.management.commands.flush:Command.handle",
        "django_overlay.flush:handle",
        upstream=("0012",),
        when_imported=True,
    ),
    # Names the overlay's flush asks the backends (they are new: uninstall()
    # removes them again).
    Patch(
        "django.db.backends.base.operations:BaseDatabaseOperations.existing_table_names",
        "django_overlay.flush.base:existing_table_names",
    ),
    Patch(
        "django.db.backends.base.operations:BaseDatabaseOperations.tables_flushed",
        "django_overlay.flush.base:tables_flushed",
        upstream=("0012",),
    ),
    Patch(
        "django.db.backends.base.operations:BaseDatabaseOperations.sql_flush_with_rows",
        "django_overlay.flush.base:sql_flush_with_rows",
    ),
    Patch(
        "django.db.backends.base.operations:BaseDatabaseOperations.rows_probe_sql",
        "django_overlay.flush.base:rows_probe_sql",
    ),
    Patch(
        "django.db.backends.base.operations:BaseDatabaseOperations.delete_triggers_sql",
        "django_overlay.flush.base:delete_triggers_sql",
    ),
    Patch(
        "django.db.backends.postgresql.operations:DatabaseOperations.tables_flushed",
        "django_overlay.flush.postgresql:tables_flushed",
        upstream=("0012",),
        when_imported=True,
    ),
    Patch(
        "django.db.backends.postgresql.operations:DatabaseOperations.sql_flush_with_rows",
        "django_overlay.flush.postgresql:sql_flush_with_rows",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.mysql.operations:DatabaseOperations.existing_table_names",
        "django_overlay.flush.mysql:existing_table_names",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.mysql.operations:DatabaseOperations.rows_probe_sql",
        "django_overlay.flush.mysql:rows_probe_sql",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.mysql.operations:DatabaseOperations.delete_triggers_sql",
        "django_overlay.flush.mysql:delete_triggers_sql",
        when_imported=True,
    ),
    # When imported: the module imports its backend's base, which imports it.
    Patch(
        "django.db.backends.sqlite3.operations:DatabaseOperations.tables_flushed",
        "django_overlay.flush.sqlite3:tables_flushed",
        upstream=("0012",),
        when_imported=True,
    ),
    Patch(
        "django.db.backends.sqlite3.operations:DatabaseOperations.delete_triggers_sql",
        "django_overlay.flush.sqlite3:delete_triggers_sql",
        when_imported=True,
    ),
    Patch(
        "django.db.backends.oracle.operations:DatabaseOperations.tables_flushed",
        "django_overlay.flush.oracle:tables_flushed",
        upstream=("0012",),
        when_imported=True,
    ),
    Patch(
        "django.db.backends.oracle.operations:DatabaseOperations.sql_flush_with_rows",
        "django_overlay.flush.oracle:sql_flush_with_rows",
        when_imported=True,
    ),
    Patch(
        "django.db.migrations.migration:Migration.apply",
        "django_overlay.migration_rendering:apply",
        upstream=("0017",),
    ),
    Kept(
        "django.core.cache.backends.locmem:LocMemCache",
        "one store per process already: each worker has its own",
    ),
    Kept(
        "django.core.cache.backends.db:DatabaseCache",
        "lives in the worker's own database clone; workers check the cache table",
    ),
    Kept(
        "django.utils.autoreload:iter_modules_and_files",
        "upstream already watches `__mp_main__` by its file on every supported line",
    ),
)

_MISSING = object()
# target -> (owner, name, the object found in the owner's namespace before
# install(), or _MISSING where the target was inherited rather than defined there).
_originals = {}
# replacement object -> the targets install() put it at, for original().
_targets_of = {}
# The install() in force, if any; the import hooks of an earlier one, which
# cannot be unregistered, see that it is over and do nothing.
_installation = None


def resolve(name):
    """Return (owner, attribute name) for "package.module:Name.attribute"."""
    _check_name(name)
    module_name, _, attributes = name.partition(":")
    *path, attribute = attributes.split(".")
    owner = importlib.import_module(module_name)
    try:
        for part in path:
            owner = getattr(owner, part)
    except AttributeError as error:
        raise ImportError(f"cannot resolve {name!r}: {error}") from None
    return owner, attribute


def load(name):
    owner, attribute = resolve(name)
    return vars(owner)[attribute] if isinstance(owner, type) else getattr(owner, attribute)


def active_patches(line=None):
    line = django_line() if line is None else line
    return [row for row in PATCHES if isinstance(row, Patch) and row.applies(line)]


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
        found = vars(owner).get(name, _MISSING)
        if found is replacement and replacement in _targets_of:
            # A module patched when imported took the name from one patched
            # already (django.test.runner's _setup_databases from
            # django.test.utils): upstream's object is the one replaced there.
            found = _originals[_targets_of[replacement][0]][2]
        _originals[target] = (owner, name, found)
        _targets_of.setdefault(replacement, []).append(target)
        setattr(owner, name, replacement)


def uninstall():
    """
    Put back exactly the objects install() replaced. Modules imported after
    this are left as upstream has them.
    """
    global _installation
    _installation = None
    _targets_of.clear()
    for target in reversed(list(_originals)):
        owner, name, original = _originals.pop(target)
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)


def original(replacement):
    """
    The object install() replaced with replacement, for a replacement that
    wraps it: ``patches.original(atomic_enter)(self)``. The replacement names
    itself; which target that is, only the registry says.
    """
    first, *others = targets = _targets_of[replacement]
    found = _original_at(first)
    if any(_original_at(other) is not found for other in others):
        raise LookupError(
            f"{replacement!r} replaced different objects at {', '.join(targets)}: "
            "a replacement that wraps upstream's object must have one target"
        )
    return found


def _original_at(target):
    owner, name, found = _originals[target]
    if found is _MISSING:
        # Inherited: the original is whatever the owner's bases provide.
        return getattr(super(owner, owner), name)
    return found


def status(line=None):
    """One (target, what is in force) pair per registry row."""
    line = django_line() if line is None else line
    rows = []
    for row in PATCHES:
        if isinstance(row, Kept):
            rows.append((row.target, f"upstream kept: {row.note}"))
        elif row.applies(line):
            rows.append((row.target, row.replacement))
        elif not row.installed():
            rows.append((row.target, f"not patched: {row.package} is not installed"))
        else:
            fixed = ".".join(map(str, row.fixed_in))
            rows.append(
                (row.target, f"upstream kept on this release: {row.note}; Django {fixed} fixed it")
            )
    return rows


def markdown_table():
    """
    The registry as docs/patches.md's table: every row, whatever this Django and
    the installed packages are.
    """
    lines = [
        "| Django target | In force | Upstream | Note |",
        "|---|---|---|---|",
    ]
    for row in PATCHES:
        if isinstance(row, Kept):
            in_force, upstream, notes = "upstream kept", "", [row.note]
        else:
            in_force = f"`{row.replacement}`"
            upstream = ", ".join(f"patches/{number}" for number in row.upstream)
            notes = [row.note] if row.note else []
            if row.fixed_in:
                upstream = "fixed in Django {}.{}".format(*row.fixed_in)
            if row.package:
                notes.append(f"skipped where {row.package} is not installed")
        note = "; ".join(notes).replace("|", "\\|")
        lines.append(f"| `{row.target}` | {in_force} | {upstream} | {note} |")
    return "\n".join(lines)
