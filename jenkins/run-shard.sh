#!/usr/bin/env bash
# One shard of Django's own suite with the overlay, for a cell of the Jenkins
# matrix (jenkins/Jenkinsfile); .ci/run runs it too, on SQLite.
#
#   SHARD=2/4 DB=postgresql bash jenkins/run-shard.sh [LABEL...]
#
# Runs runtests.py --start-method spawn --parallel $PARALLEL --shard $SHARD
# and writes JUnit XML to $RESULTS_DIR/junit-<db>-py<PY>-django<DJANGO>-<k>of<n>.xml.
# The shard is balanced by the class times in the JUnit XML files under
# $DURATIONS_FROM (a directory of an earlier build's results), if it exists;
# every shard of a cell must be given the same ones. Labels, if any, narrow
# the suite (all shards of a cell must be given the same labels).
#
# Environment: SHARD (K/N, required), DB (sqlite, postgresql, mariadb, mysql,
# oracle; default sqlite), PY and DJANGO (as for make), PARALLEL (default 2),
# RESULTS_DIR (default results), DURATIONS_FROM.
set -euo pipefail

cd "$(dirname "$0")/.."

: "${SHARD:?set SHARD=K/N}"
DB=${DB:-sqlite}
PY=${PY:-3.12}
DJANGO=${DJANGO:-6.1}
PARALLEL=${PARALLEL:-2}
RESULTS_DIR=${RESULTS_DIR:-results}
python=".venv-$PY-$DJANGO/bin/python"

case "$DB" in
    sqlite) settings=() ;;
    postgresql|mariadb|oracle) settings=(--settings "$DB") ;;
    # Django's MySQL backend, and our MariaDB settings, serve both servers.
    mysql) settings=(--settings mariadb) ;;
    *) echo "DB=$DB: choose sqlite, postgresql, mariadb, mysql or oracle" >&2; exit 64 ;;
esac

durations=()
if [[ -n "${DURATIONS_FROM:-}" && -d "$DURATIONS_FROM" ]]; then
    durations=(--durations-from-junit "$DURATIONS_FROM")
fi

make venv PY="$PY" DJANGO="$DJANGO"
mkdir -p "$RESULTS_DIR"
report="$RESULTS_DIR/junit-$DB-py$PY-django$DJANGO-${SHARD/\//of}.xml"
# runtests.py exits 1 when tests fail: Jenkins' junit step reports them, so
# the shard's script still fails, but only after the report is written.
"$python" runtests.py --start-method spawn --parallel "$PARALLEL" --noinput "${settings[@]}" \
    --shard "$SHARD" --junit-xml "$report" "${durations[@]}" "$@"
