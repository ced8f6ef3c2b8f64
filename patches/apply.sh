#!/usr/bin/env bash
# Apply the patch series to the sdist of each Django release line given
# (default: 6.1, the Makefile's default), then run the part of Django's own
# suite the series touches on the patched tree, without the overlay: the
# tree's django/ is first on the import path and django_overlay is never
# imported.
#
#   bash patches/apply.sh [5.2] [6.0] [6.1]
#
# The series' MySQL changes run the same way on the local MariaDB server
# (127.0.0.1:3306, root; see tests/settings/mariadb.py, the settings module
# for Django's suite there), in databases named after
# $DJANGO_OVERLAY_DB_NAME_PREFIX (default: patches_<pid>), which the test
# runner drops at the end.
#
# Then the tests the series adds run again from the patched tree's tests/,
# against the venv's unpatched Django with the overlay installed.
#
# Each line runs with the venv of its Makefile pair (.venv-3.11-5.2,
# .venv-3.12-6.0, .venv-3.12-6.1; made if missing) for Django's dependencies.
# Everything happens in a temporary directory, removed however the run ends.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
# The suite modules the series changes and the ones it affects, on SQLite and
# on MariaDB.
labels=(test_runner backends.sqlite test_utils.test_transactiontestcase)
# 0013 to 0015 (SQLite clones, cache isolation, shared live-server
# connections) also change these.
labels+=(backends.base servers)
# 0017 (one rendering for consecutive CreateModel operations) changes
# Migration.apply(), which every migrations test goes through.
labels+=(migrations)
mariadb_labels=(backends.mysql test_utils.test_transactiontestcase)
# The tests the series adds to Django's suite. The overlay must pass them too,
# on the unpatched release: that is what keeps the two from drifting apart.
series_tests=(
    test_runner.test_parallel.RemoteTestResultTest.test_add_skip_without_start_test
    test_runner.test_parallel.ParallelTestSuiteTest.test_handle_add_subtest_without_message
    test_runner.test_parallel.RemoteTestResultTest.test_unpicklable_error
    test_runner.test_parallel.RemoteTestResultTest.test_unpicklable_subtest_failure
    test_runner.test_parallel.RemoteTestResultTest.test_unpicklable_skip_reason
    test_runner.tests.ConcurrentCloningTests
    test_runner.test_parallel.RemoteTestResultTest.test_init_does_not_register_every_exception_class
    test_runner.test_parallel.RemoteTestResultTest.test_error_class_created_after_result_keeps_its_cause
    test_utils.test_transactiontestcase.FlushOnlyTablesWithRowsTests
)
# 0013 to 0015; 0014's and 0015's tests call what those patches add to
# Django's API, which the overlay provides under its own names (see
# patches/README.md).
series_tests+=(
    backends.sqlite.test_creation.InMemoryCloneTests
)
# 0017.
series_tests+=(
    migrations.test_operations.OperationTests.test_create_models_render_once
    migrations.test_operations.OperationTests.test_create_model_before_referenced_model
)
mariadb_series_tests=(
    backends.mysql.test_creation.DatabaseCreationTests.test_clone_db_copies_in_server
    test_utils.test_transactiontestcase.FlushOnlyTablesWithRowsTests
)
export DJANGO_OVERLAY_DB_NAME_PREFIX=${DJANGO_OVERLAY_DB_NAME_PREFIX:-patches_$$}
settings="$root/tests/settings"

work=$(mktemp -d "${TMPDIR:-/tmp}/django-patches.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Django's runtests.py, in the current directory, run by $python with the
# overlay installed: the venv's Django, unpatched.
with_overlay() {
    "$python" - "$@" <<'PYTHON'
import runpy
import sys

import django_overlay

django_overlay.install()
sys.argv[0] = "runtests.py"
runpy.run_path("runtests.py", run_name="__main__")
PYTHON
}

for line in "${@:-6.1}"; do
    case "$line" in
        5.2) py=3.11 ;;
        6.0|6.1) py=3.12 ;;
        *) echo "$line: choose 5.2, 6.0 or 6.1" >&2; exit 64 ;;
    esac
    printf '\n==== Django %s ====\n' "$line"
    make --no-print-directory venv PY="$py" DJANGO="$line"
    python="$root/.venv-$py-$line/bin/python"
    "$python" -m pip download --quiet --disable-pip-version-check --no-binary :all: \
        --no-deps "django~=$line.0" --dest "$work/$line"
    tar -xzf "$work/$line"/*.tar.gz -C "$work/$line"
    tree=$(find "$work/$line" -mindepth 1 -maxdepth 1 -type d)
    while read -r name; do
        # A release whose code differs where a patch applies has its own
        # version of it in patches/<line>/, as a backport would.
        file="patches/$line/$name"
        [[ -f "$file" ]] || file="patches/$name"
        echo "Applying $file"
        patch --directory "$tree" --strip 1 --forward --batch --quiet < "$file"
    done < patches/series
    (
        cd "$tree/tests"
        export TMPDIR="$work"
        PYTHONPATH="$tree" "$python" runtests.py --parallel 2 --noinput "${labels[@]}"
        printf '\n---- %s on MariaDB ----\n' "${mariadb_labels[*]}"
        PYTHONPATH="$tree:$settings" "$python" runtests.py --settings mariadb \
            --parallel 2 --noinput "${mariadb_labels[@]}"
        printf '\n---- the series tests, unpatched Django %s with the overlay ----\n' "$line"
        with_overlay --parallel 1 --noinput "${series_tests[@]}"
        PYTHONPATH="$settings" with_overlay --settings mariadb --parallel 1 --noinput \
            "${mariadb_series_tests[@]}"
    )
done
