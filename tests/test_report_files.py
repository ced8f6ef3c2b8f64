"""
The files a run writes for others (the durations file, --junit-xml): their
modes follow the umask (tempfile.mkstemp made them 0600 whatever it was), a
file that cannot be written is a warning and the run's summary still follows
(it was lost with the exception), and os.replace() is tried again while the
target is held open, as Windows refuses to replace it then.
"""

import os
import re
import stat

import pytest

from django_overlay.runner import atomic_files
from test_robustness import run_cases


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_modes_follow_the_umask(sample, tmp_path, umask_027):
    durations_file = tmp_path / "durations.json"
    report = tmp_path / "junit.xml"

    run = run_cases(sample, [], "--durations-file", str(durations_file), "--junit-xml", str(report))

    run.assert_succeeded()
    assert stat.S_IMODE(durations_file.stat().st_mode) == 0o640
    assert stat.S_IMODE(report.stat().st_mode) == 0o640
    failed_tests = tmp_path / "durations.failed.json"
    assert stat.S_IMODE(failed_tests.stat().st_mode) == 0o640


def test_files_that_cannot_be_written_are_warnings(sample, tmp_path):
    not_a_directory = tmp_path / "not-a-directory"
    not_a_directory.write_text("")
    durations_file = not_a_directory / "durations.json"
    report = not_a_directory / "junit.xml"

    run = run_cases(sample, [], "--durations-file", str(durations_file), "--junit-xml", str(report))

    run.assert_succeeded()
    assert f"Could not record this run's durations in {durations_file}: " in run.stderr
    assert f"Could not write the JUnit XML report {report}: " in run.stderr
    failed_tests = not_a_directory / "durations.failed.json"
    assert f"Could not record this run's failed tests in {failed_tests}: " in run.stderr
    assert re.search(r"^Ran \d+ tests in .*\n\nOK$", run.stderr, re.M), run.output


def test_replace_is_tried_again_while_the_target_is_held(tmp_path, monkeypatch):
    source, target = tmp_path / "new", tmp_path / "target"
    source.write_text("new")
    target.write_text("old")
    real_replace, refusals = os.replace, []

    def held_twice(*arguments):
        if len(refusals) < 2:
            refusals.append(arguments)
            raise PermissionError(13, "The process cannot access the file")
        real_replace(*arguments)

    monkeypatch.setattr(atomic_files.os, "replace", held_twice)
    monkeypatch.setattr(atomic_files, "REPLACE_PAUSE_SECONDS", 0)
    atomic_files.replace(source, target)

    assert len(refusals) == 2
    assert target.read_text() == "new"


def test_replace_gives_up_on_a_target_held_for_good(tmp_path, monkeypatch):
    def held(*arguments):
        raise PermissionError(13, "The process cannot access the file")

    monkeypatch.setattr(atomic_files.os, "replace", held)
    monkeypatch.setattr(atomic_files, "REPLACE_PAUSE_SECONDS", 0)
    with pytest.raises(PermissionError):
        atomic_files.replace(tmp_path / "new", tmp_path / "target")
