#!/usr/bin/env bash
# Rewrite a release line's patches as one `git format-patch` series, after a
# patch was edited by hand: the series is applied as commits (git am) to the
# line's sdist tree, and the patches the line takes from its own directory
# (patches/ for 6.1, patches/<line>/ for the others) are written back from
# `git format-patch --zero-commit`, with their [PATCH n/m] numbers, diffstats
# and index lines as git makes them. Author, date and message are kept.
#
#   bash patches/format.sh [5.2] [6.0] [6.1]
#
# A patch keeps its file name: after a new subject, rename it by hand (and in
# series). A patch a line takes from the 6.1 series is not written back for
# that line: to give the line its own version, copy it into patches/<line>/
# first.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/django-format.XXXXXX")
trap 'rm -rf "$work"' EXIT

for line in "${@:-6.1}"; do
    case "$line" in
        5.2) py=3.11 ;;
        6.0|6.1) py=3.12 ;;
        *) echo "$line: choose 5.2, 6.0 or 6.1" >&2; exit 64 ;;
    esac
    own=patches/$line
    [[ $line == 6.1 ]] && own=patches
    make --no-print-directory venv PY="$py" DJANGO="$line"
    "$root/.venv-$py-$line/bin/python" -m pip download --quiet --disable-pip-version-check \
        --no-binary :all: --no-deps "django~=$line.0" --dest "$work/$line"
    # Owned by us, or git refuses the tree.
    tar --no-same-owner -xzf "$work/$line"/*.tar.gz -C "$work/$line"
    tree=$(find "$work/$line" -mindepth 1 -maxdepth 1 -type d)
    git -C "$tree" init --quiet
    git -C "$tree" add --all
    git -C "$tree" -c user.name=base -c user.email=base@invalid commit --quiet -m base
    files=()
    while read -r name; do
        file="patches/$line/$name"
        [[ -f "$file" ]] || file="patches/$name"
        files+=("$root/$file")
    done < patches/series
    GIT_COMMITTER_NAME="django-overlay project" GIT_COMMITTER_EMAIL=overlay@invalid \
        git -C "$tree" am --quiet "${files[@]}"
    git -C "$tree" format-patch --quiet --zero-commit -o "$work/$line-out" "HEAD~${#files[@]}"
    # format-patch names each file after its subject: match them by number.
    for file in "${files[@]}"; do
        [[ $(dirname "$file") == "$root/$own" ]] || continue
        number=$(basename "$file" | cut -c1-4)
        cp "$work/$line-out/$number"-*.patch "$file"
        echo "Wrote ${file#"$root"/}"
    done
done
