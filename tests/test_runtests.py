"""
runtests.py --expected-failures, which make django-suite passes: the run's
failures compared with the documented list. Tried on a stand-in for Django's
tests/runtests.py that runs a few tests of its own, not on Django's suite.
And the suite's download, with a stand-in for pip download.
"""

import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

import runtests  # noqa: E402

# What Django's runtests.py does around the run: settings, a DiscoverRunner,
# exit status 1 when anything failed.
FAKE_RUNTESTS = """
import sys

import django
from django.conf import settings

settings.configure(DATABASES={}, INSTALLED_APPS=[])
django.setup()
from django.test.runner import DiscoverRunner

if "--stop-before-running" in sys.argv:
    sys.exit(2)
failures = DiscoverRunner(verbosity=0).run_tests(["fake_tests"])
if failures:
    sys.exit(1)
"""

FAKE_TESTS = """
import unittest


class Checks(unittest.TestCase):
    def test_passes(self):
        pass

    def test_fails(self):
        self.assertEqual(1, 2)

    def test_errors(self):
        raise RuntimeError("broken")

    def test_subtests(self):
        for case in ("bound", "unbound"):
            with self.subTest(case):
                self.assertNotEqual(case, "bound")

    @unittest.expectedFailure
    def test_unexpectedly_passes(self):
        pass
"""

FAILING = {
    "fake_tests.Checks.test_fails",
    "fake_tests.Checks.test_errors",
    "fake_tests.Checks.test_subtests [bound]",
    "fake_tests.Checks.test_unexpectedly_passes",
}


def run_expecting(tmp_path, expected, *arguments):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "runtests.py").write_text(FAKE_RUNTESTS)
    (suite / "fake_tests.py").write_text(FAKE_TESTS)
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path

        sys.path[:0] = [{str(REPOSITORY)!r}, {str(suite)!r}]
        import runtests

        runtests.run_suite_expecting(
            Path({str(suite)!r}), {list(arguments)!r}, {expected!r}, "the list"
        )
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )


def test_the_documented_failures_exit_0(tmp_path):
    run = run_expecting(tmp_path, FAILING)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "The 4 failing test(s) are those listed in the list." in run.stdout


def test_other_failures_exit_1_and_are_named(tmp_path):
    expected = FAILING - {"fake_tests.Checks.test_errors"} | {"fake_tests.Checks.test_gone"}
    run = run_expecting(tmp_path, expected)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.splitlines()[-3:] == [
        "The failing tests differ from the 4 listed in the list:",
        "  failed, not listed: fake_tests.Checks.test_errors",
        "  listed, did not fail: fake_tests.Checks.test_gone",
    ]


def test_a_run_that_ends_before_its_summary_keeps_its_status(tmp_path):
    run = run_expecting(tmp_path, FAILING, "--stop-before-running")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "listed" not in run.stdout


def test_the_list_is_read_between_its_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        f"Text.\n{runtests.EXPECTED_START}\n```text\na.B.test_c\n\n"
        f"setUpClass (d.E)\n```\n{runtests.EXPECTED_END}\nnot.an.id\n"
    )
    assert runtests.read_expected_failures(page) == {"a.B.test_c", "setUpClass (d.E)"}


def test_a_file_without_the_list_is_a_usage_error(tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_text("No list here.\n")
    with pytest.raises(SystemExit) as exit:
        runtests.parse_arguments(["--expected-failures", str(page)])
    assert exit.value.code == 2
    assert f"argument --expected-failures: {page} has no list between" in capsys.readouterr().err


def test_the_documented_list_is_the_pages_twelve():
    listed = runtests.read_expected_failures(REPOSITORY / "docs" / "django-suite.md")
    assert len(listed) == 12
    assert "template_tests.test_loaders.FileSystemLoaderTests.test_permissions_error" in listed
    assert "template_tests.test_loaders.FileSystemLoaderTests.test_notafile_error" not in listed


def test_make_django_suite_compares_with_the_page():
    makefile = (REPOSITORY / "Makefile").read_text()
    recipe = makefile.split("\ndjango-suite: venv\n", 1)[1].split("\n\n", 1)[0]
    assert "--expected-failures docs/django-suite.md" in recipe


def fake_pip_download(content):
    """A stand-in for pip download writing an sdist whose tests/ holds content."""

    def run(command, *args, **kwargs):
        destination = Path(command[command.index("--dest") + 1])
        source = destination / "source" / "django-9.9" / "tests"
        source.mkdir(parents=True)
        (source / "marker.txt").write_text(content)
        with tarfile.open(destination / "django-9.9.tar.gz", "w:gz") as archive:
            archive.add(source.parent, arcname="django-9.9")
        shutil.rmtree(destination / "source")
        return subprocess.CompletedProcess(command, 0)

    return run


def test_the_suite_is_downloaded_into_place(tmp_path, monkeypatch):
    monkeypatch.setattr(runtests.subprocess, "run", fake_pip_download("ours"))
    release_dir = tmp_path / "django-9.9"
    runtests.download_suite("9.9", release_dir)
    assert (release_dir / "tests" / "marker.txt").read_text() == "ours"
    assert [path.name for path in tmp_path.iterdir()] == ["django-9.9"]


def test_a_suite_another_run_downloaded_meanwhile_is_used(tmp_path, monkeypatch):
    """Two first runs at once: the second to finish keeps the first's copy."""
    release_dir = tmp_path / "django-9.9"
    (release_dir / "tests").mkdir(parents=True)
    (release_dir / "tests" / "marker.txt").write_text("theirs")
    monkeypatch.setattr(runtests.subprocess, "run", fake_pip_download("ours"))
    runtests.download_suite("9.9", release_dir)
    assert (release_dir / "tests" / "marker.txt").read_text() == "theirs"
    assert [path.name for path in tmp_path.iterdir()] == ["django-9.9"]
