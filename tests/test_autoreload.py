"""
The autoreloader watches a spawned process's main module, which
multiprocessing names __mp_main__ and gives no __spec__, by its file.

Upstream already does this on every supported line, so the registry keeps
upstream's iter_modules_and_files; these tests hold both to that.
"""

import types

import pytest
from django.utils import autoreload

from django_overlay import patches

TARGET = "django.utils.autoreload:iter_modules_and_files"
UPSTREAM = autoreload.iter_modules_and_files


@pytest.fixture
def overlay_installed():
    patches.install()
    autoreload.iter_modules_and_files.cache_clear()
    yield
    patches.uninstall()
    autoreload.iter_modules_and_files.cache_clear()


@pytest.fixture
def script(tmp_path):
    """A manage.py reached through a symlinked directory, as __file__ may be."""
    real = tmp_path / "project"
    real.mkdir()
    (real / "manage.py").write_text("")
    (tmp_path / "link").symlink_to(real)
    return tmp_path / "link" / "manage.py"


def module_without_spec(name, file):
    module = types.ModuleType(name)
    module.__spec__ = None
    module.__file__ = str(file)
    return module


def test_registry_keeps_upstream():
    (entry,) = [patch for patch in patches.PATCHES if patch.target == TARGET]
    assert isinstance(entry, patches.Kept)
    assert entry.note


def test_mp_main_is_watched_by_its_resolved_file(overlay_installed, script):
    assert autoreload.iter_modules_and_files is UPSTREAM
    module = module_without_spec("__mp_main__", script)
    watched = autoreload.iter_modules_and_files((module,), frozenset())
    assert watched == frozenset({script.resolve()})


def test_other_module_without_spec_is_not_watched(overlay_installed, script):
    # Only the main modules are taken by __file__: this is what makes
    # __mp_main__ a special case at all.
    module = module_without_spec("sample_module", script)
    assert autoreload.iter_modules_and_files((module,), frozenset()) == frozenset()
