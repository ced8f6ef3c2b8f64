"""
What a newcomer meets first: the wheel that ``pip install`` builds, and
``python -m django_overlay`` on the command line.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
# What a working checkout has that the repository does not.
NOT_IN_THE_REPOSITORY = shutil.ignore_patterns(
    ".git", ".venv-*", "__pycache__", ".pytest_cache", ".ruff_cache"
)


def command(*arguments, **options):
    return subprocess.run(
        [sys.executable, "-m", "django_overlay", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        **options,
    )


def test_help_says_what_the_command_does_and_prints_nothing_else():
    run = command("--help")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: python -m django_overlay [-h] [--markdown]")
    assert "--markdown" in run.stdout
    assert "Django" in run.stdout and " -> " not in run.stdout


def test_unknown_option_is_a_usage_error():
    run = command("--no-such-option")
    assert run.returncode == 2
    assert "unrecognized arguments: --no-such-option" in run.stderr


def test_closed_pipe_ends_without_a_traceback():
    """As ``python -m django_overlay | head -1`` when head has already exited."""
    process = subprocess.Popen(
        [sys.executable, "-m", "django_overlay"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Closed before the command writes anything: importing Django takes longer.
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 1
    assert stderr == ""


def test_building_the_wheel_leaves_the_checkout_as_it_was(tmp_path):
    """What ``pip install .`` does first; setuptools left build/ and an .egg-info."""
    checkout = tmp_path / "checkout"
    shutil.copytree(CHECKOUT, checkout, ignore=NOT_IN_THE_REPOSITORY)
    before = sorted(checkout.rglob("*"))
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            tmp_path / "wheels",
            checkout,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert sorted(checkout.rglob("*")) == before
    (wheel,) = (tmp_path / "wheels").iterdir()
    assert wheel.name.startswith("django_test_overlay-0.")
    assert "django_overlay/__main__.py" in zipfile.ZipFile(wheel).namelist()
