"""
The patch registry: install() replaces exactly what the registry lists for
the running Django line, uninstall() puts back the very same objects, and an
unsupported Django is left untouched.

These tests install the overlay in the pytest process; the autouse fixture
uninstalls it after each one, so no test sees another's patches.
"""

import importlib
import os
import platform
import re
import subprocess
import sys
import types
from pathlib import Path

import django
import pytest

from django_overlay import patches
from django_overlay.versions import SUPPORTED, UnsupportedDjangoVersion

MISSING = object()
REPLACING = [row for row in patches.PATCHES if isinstance(row, patches.Patch)]


@pytest.fixture(autouse=True)
def uninstall_afterwards():
    assert not patches.is_installed(), "an earlier test left the overlay installed"
    yield
    patches.uninstall()


def applies_here(patch):
    return tuple(django.VERSION[:2]) in patch.lines


def namespace_entry(target):
    """What the target's owner itself holds under the name, or MISSING."""
    backend = re.match(r"(django\.db\.backends\.\w+)\.(operations|features):", target)
    if backend:
        # A backend's operations and features modules import its base, which imports them:
        # Django imports it only through the base.
        importlib.import_module(f"{backend[1]}.base")
    owner, name = patches.resolve(target)
    return vars(owner).get(name, MISSING)


def snapshot(registry=REPLACING):
    return {patch.target: namespace_entry(patch.target) for patch in registry}


def assert_same_objects(found, expected):
    changed = [target for target in expected if found[target] is not expected[target]]
    assert changed == []


def test_install_replaces_and_uninstall_restores_every_target():
    assert any(applies_here(patch) for patch in REPLACING)
    before = snapshot()

    patches.install()
    assert patches.is_installed()
    for patch in REPLACING:
        expected = patches.load(patch.replacement) if applies_here(patch) else before[patch.target]
        assert namespace_entry(patch.target) is expected, patch.target

    patches.uninstall()
    assert not patches.is_installed()
    assert_same_objects(snapshot(), before)


def test_install_twice_is_install_once():
    before = snapshot()
    patches.install()
    installed_once = snapshot()
    patches.install()
    assert_same_objects(snapshot(), installed_once)

    # A second install() must not have recorded the replacements as originals.
    patches.uninstall()
    assert_same_objects(snapshot(), before)
    patches.uninstall()
    assert_same_objects(snapshot(), before)


def test_inherited_target_is_absent_again_after_uninstall(monkeypatch):
    module = types.ModuleType("overlay_inherited_target")

    class Base:
        def describe(self):
            return "base"

    class Child(Base):
        pass

    def describe(self):
        return "replacement, wrapping " + patches.original(describe)(self)

    module.Child, module.describe = Child, describe
    target = f"{module.__name__}:Child.describe"
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(patches, "PATCHES", (patches.Patch(target, f"{module.__name__}:describe"),))

    patches.install()
    assert vars(Child)["describe"] is describe
    assert Child().describe() == "replacement, wrapping base"

    patches.uninstall()
    assert "describe" not in vars(Child)
    assert Child().describe() == "base"


def test_failing_install_patches_nothing(monkeypatch):
    broken = patches.Patch(
        "django.test.runner:DiscoverRunner.run_tests", "django_overlay.no_such:thing"
    )
    monkeypatch.setattr(patches, "PATCHES", (*patches.PATCHES, broken))
    before = snapshot()

    with pytest.raises((ImportError, AttributeError)):
        patches.install()
    assert not patches.is_installed()
    assert_same_objects(snapshot(), before)


@pytest.mark.parametrize(
    "version", [(5, 1, 0, "final", 0), (6, 2, 0, "alpha", 0)], ids=["5.1", "6.2"]
)
def test_unsupported_django_is_refused_and_untouched(monkeypatch, version):
    before = snapshot()
    monkeypatch.setattr(django, "VERSION", version)

    with pytest.raises(UnsupportedDjangoVersion) as raised:
        patches.install()
    message = str(raised.value)
    major, minor, micro = version[:3]
    assert f"Django {major}.{minor}.{micro} is installed" in message
    for supported_major, supported_minor in SUPPORTED:
        assert f"{supported_major}.{supported_minor}" in message
    assert "Nothing was patched" in message
    assert not patches.is_installed()
    assert_same_objects(snapshot(), before)


@pytest.mark.parametrize("start_method", [None, "spawn"])
def test_status_lists_every_target_with_versions_and_start_method(tmp_path, start_method):
    environment = {
        name: value for name, value in os.environ.items() if name != "DJANGO_TEST_START_METHOD"
    }
    if start_method:
        environment["DJANGO_TEST_START_METHOD"] = start_method
    status = subprocess.run(
        [sys.executable, "-m", "django_overlay"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()

    assert lines[0] == f"Django {django.get_version()} on Python {platform.python_version()}"
    if start_method:
        assert lines[1].startswith(f"Start method: {start_method} (from the environment;")
    else:
        assert lines[1].startswith("Start method: ") and lines[1].endswith("(platform default)")
    listed = dict(line.split(" -> ", 1) for line in lines[2:])
    assert list(listed) == [patch.target for patch in patches.PATCHES]
    for patch in patches.PATCHES:
        if isinstance(patch, patches.Patch) and applies_here(patch):
            assert listed[patch.target] == patch.replacement
        else:
            assert listed[patch.target].startswith("upstream kept")


def test_install_imports_no_database_driver_and_patches_on_import():
    """
    Installing leaves the backends' modules, and their drivers, to be imported
    when the project uses them, and patches them then: a spawned worker does
    not pay for psycopg, MySQLdb, oracledb, sqlite3, redis or memcached
    clients it never uses.
    """
    script = """
import sys
import django_overlay
from django_overlay import patches
django_overlay.install()
heavy = [
    "psycopg", "MySQLdb", "oracledb", "sqlite3", "redis", "pymemcache",
    "django.db.backends.postgresql.creation", "django.db.backends.sqlite3.creation",
    "django.core.cache.backends.memcached", "django.core.cache.backends.redis",
]
print([name for name in heavy if name in sys.modules])
from django.db.backends.postgresql import creation
print(vars(creation.DatabaseCreation)["_clone_test_db"] is patches.load(
    "django_overlay.backends.postgresql:_clone_test_db"))
from django.db.backends.sqlite3 import creation as sqlite_creation
print(vars(sqlite_creation.DatabaseCreation)["_clone_test_db"] is patches.load(
    "django_overlay.backends.sqlite3:_clone_test_db"))
patches.uninstall()
print(vars(creation.DatabaseCreation)["_clone_test_db"].__module__)
print(vars(sqlite_creation.DatabaseCreation)["_clone_test_db"].__module__)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "[]",
        "True",
        "True",
        "django.db.backends.postgresql.creation",
        "django.db.backends.sqlite3.creation",
    ]


def test_install_leaves_djangos_runner_to_be_imported_and_patches_it_then():
    """
    A pytest process never imports Django's runner, nor then the overlay's;
    where the runner is imported later, the names it took from modules
    patched already are upstream's again after uninstall().
    """
    script = """
import sys
import django_overlay
from django_overlay import patches
django_overlay.install()
import django_overlay.runner.schema_templates
print([name for name in ("django.test.runner", "django_overlay.runner.suite") if name in sys.modules])
from django.test import runner, utils
overlay = patches.load("django_overlay.runner.databases:setup_databases")
print(runner._setup_databases is utils.setup_databases is overlay)
print(patches.original(overlay) is not overlay)
patches.uninstall()
print(runner._setup_databases is utils.setup_databases, utils.setup_databases.__module__)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["[]", "True", "True", "True django.test.utils"]


REPOSITORY = Path(__file__).resolve().parent.parent
TABLE_START = "<!-- python -m django_overlay --markdown -->\n"
TABLE_END = "\n<!-- end of python -m django_overlay --markdown -->"


def test_the_documented_table_is_the_registry():
    page = (REPOSITORY / "docs" / "patches.md").read_text()
    table = page[page.index(TABLE_START) + len(TABLE_START) : page.index(TABLE_END)]
    printed = subprocess.run(
        [sys.executable, "-m", "django_overlay", "--markdown"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert table == printed.stdout.rstrip("\n"), (
        "the patch table of docs/patches.md differs from the registry's: "
        "replace it with the output of python -m django_overlay --markdown"
    )
    assert len(table.splitlines()) == 2 + len(patches.PATCHES)


def test_every_row_is_written_in_full_in_the_registry():
    """grep for a target or a replacement lands on its row."""
    source = Path(patches.__file__).read_text()
    for row in patches.PATCHES:
        names = [row.target] + ([row.replacement] if isinstance(row, patches.Patch) else [])
        for name in names:
            assert f'"{name}"' in source, name


@pytest.mark.parametrize("name", ["django.test.runner.ParallelTestSuite", "django.test.runner"])
def test_a_name_without_its_module_marked_is_refused(name):
    with pytest.raises(ValueError, match="package.module:Name.attribute"):
        patches.Kept(name, "")


def test_upstream_patches_are_in_the_series():
    series = (REPOSITORY / "patches" / "series").read_text().split()
    numbers = {name.split("-", 1)[0] for name in series}
    named = {number for row in REPLACING for number in row.upstream}
    assert named and named <= numbers


def test_wrappers_name_a_replacement_of_their_own_module():
    """
    A replacement finds upstream's object as patches.original(itself): each
    such call names a registered replacement of the module it is in.
    """
    replacements = {patch.replacement for patch in REPLACING}
    package = Path(patches.__file__).parent
    calls = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "patches.py":
            continue
        parts = path.relative_to(package.parent).with_suffix("").parts
        # A package's own code is its __init__.py, named as the package.
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for name in re.findall(r"patches\.original\((\w+)\)", path.read_text()):
            calls.append(f"{module}:{name}")
    assert calls
    assert [call for call in calls if call not in replacements] == []


def test_original_refuses_a_replacement_with_two_different_originals(monkeypatch):
    module = types.ModuleType("overlay_two_originals")

    class First:
        def describe(self):
            return "first"

    class Second:
        def describe(self):
            return "second"

    def describe(self):
        return patches.original(describe)(self)

    module.First, module.Second, module.describe = First, Second, describe
    monkeypatch.setitem(sys.modules, module.__name__, module)
    rows = tuple(
        patches.Patch(f"{module.__name__}:{owner}.describe", f"{module.__name__}:describe")
        for owner in ("First", "Second")
    )
    monkeypatch.setattr(patches, "PATCHES", rows)

    patches.install()
    with pytest.raises(LookupError, match="must have one target"):
        First().describe()
