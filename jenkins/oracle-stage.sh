#!/usr/bin/env bash
# The Jenkins stage for Oracle: start Oracle Free (gvenzl/oracle-free) in a
# container, wait until it accepts connections, then run the part of Django's
# suite that exercises the parallel runner (make django-subset: runtests.py
# --start-method spawn --parallel 2 on the Makefile's SUBSET) with
# tests/settings/oracle.py. The only place the overlay's Oracle support runs
# against a real server.
#
#   bash jenkins/oracle-stage.sh            # the stage
#   bash jenkins/oracle-stage.sh --dry-run  # everything up to the container
#
# --dry-run builds the venv, checks that python-oracledb is in it and that the
# overlay patches Oracle's cloning, loads Django's suite with the Oracle
# settings, reports whether a Docker daemon answers, and prints the commands
# the stage would run; it starts nothing. Without a Docker daemon the stage
# itself stops before starting anything, with exit status 2.
#
# Environment: PY and DJANGO (as for make; default 3.12 and 6.1),
# ORACLE_IMAGE (default gvenzl/oracle-free:23-slim), ORACLE_PORT (host port,
# default 1521: the Data Pump strategy's loopback link uses the same address
# inside the container, so keep it), ORACLE_READY_TIMEOUT (seconds, default
# 900), DJANGO_OVERLAY_ORACLE_CLONE_STRATEGY (migrate or datapump).
set -euo pipefail

cd "$(dirname "$0")/.."

dry_run=false
case "${1:-}" in
    "") ;;
    --dry-run) dry_run=true ;;
    *) echo "usage: $0 [--dry-run]" >&2; exit 64 ;;
esac

PY=${PY:-3.12}
DJANGO=${DJANGO:-6.1}
image=${ORACLE_IMAGE:-gvenzl/oracle-free:23-slim}
port=${ORACLE_PORT:-1521}
ready_timeout=${ORACLE_READY_TIMEOUT:-900}
strategy=${DJANGO_OVERLAY_ORACLE_CLONE_STRATEGY:-migrate}
python=".venv-$PY-$DJANGO/bin/python"
# One container per run, so that concurrent stages on one agent do not meet.
container="django-overlay-oracle-$$"

case "$strategy" in
    migrate|datapump) ;;
    *) echo "DJANGO_OVERLAY_ORACLE_CLONE_STRATEGY=$strategy: choose migrate or datapump" >&2; exit 64 ;;
esac

make venv PY="$PY" DJANGO="$DJANGO"
"$python" -c 'import oracledb; print("python-oracledb", oracledb.__version__)'
patched=$("$python" -m django_overlay)
if ! grep -q '_clone_test_db -> django_overlay.backends.oracle' <<<"$patched"; then
    echo "The overlay does not patch Oracle's _clone_test_db on Django $DJANGO." >&2
    exit 1
fi
echo "The overlay patches Oracle's cloning on Django $DJANGO."

if docker info >/dev/null 2>&1; then
    docker_state="reachable"
else
    docker_state="not reachable"
fi

# The password of SYSTEM in a container that lives as long as this stage; it
# starts with letters, as an unquoted Oracle password must.
password="Ov$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
run_container=(
    docker run --detach --name "$container" --publish "127.0.0.1:$port:1521"
    --env ORACLE_PASSWORD="$password" "$image"
)
run_subset=(make django-subset DB=oracle PY="$PY" DJANGO="$DJANGO")

if $dry_run; then
    # What runtests.py does before Django's runtests.py connects: fetch the
    # suite and its Oracle requirements, load the settings; then the runner
    # must keep its two processes rather than fall back to one.
    "$python" - <<'EOF'
import importlib
import os

import django

import django_overlay
import runtests

suite = runtests.find_suite(django.get_version())
runtests.set_import_path(suite, "oracle")
runtests.install_requirements(suite, importlib.import_module("oracle"))
django_overlay.install()
os.environ["DJANGO_SETTINGS_MODULE"] = "oracle"
django.setup()
from django.test.runner import DiscoverRunner

assert DiscoverRunner(parallel=2).parallel == 2, "the runner fell back to one process"
print("Django's suite and tests/settings/oracle.py load; the runner keeps --parallel 2.")
EOF
    echo "Docker daemon: $docker_state."
    echo "Would run: ${run_container[*]//$password/<generated>}"
    echo "Would wait up to $ready_timeout s for: DATABASE IS READY TO USE!"
    echo "Would run: DJANGO_OVERLAY_ORACLE_DSN=127.0.0.1:$port/FREEPDB1 DJANGO_OVERLAY_ORACLE_CLONE_STRATEGY=$strategy ${run_subset[*]}"
    echo "Would remove the container: docker rm --force $container"
    exit 0
fi

if [ "$docker_state" != "reachable" ]; then
    echo "No Docker daemon answers (docker info failed): this stage needs one to run $image." >&2
    exit 2
fi

trap 'docker rm --force "$container" >/dev/null 2>&1 || true' EXIT
"${run_container[@]}" >/dev/null
echo "Started $image as $container; waiting for the database..."
waited=0
until docker logs "$container" 2>&1 | grep -q "DATABASE IS READY TO USE!"; do
    if [ "$(docker inspect --format '{{.State.Running}}' "$container")" != "true" ]; then
        docker logs --tail 50 "$container" >&2
        echo "The Oracle container stopped before the database was ready." >&2
        exit 1
    fi
    if [ "$waited" -ge "$ready_timeout" ]; then
        docker logs --tail 50 "$container" >&2
        echo "The database was not ready after $ready_timeout s." >&2
        exit 1
    fi
    sleep 5
    waited=$((waited + 5))
done
echo "Oracle is ready after about $waited s."

DJANGO_OVERLAY_ORACLE_DSN="127.0.0.1:$port/FREEPDB1" \
DJANGO_OVERLAY_ORACLE_USER=system \
DJANGO_OVERLAY_ORACLE_PASSWORD="$password" \
DJANGO_OVERLAY_ORACLE_CLONE_STRATEGY="$strategy" \
    "${run_subset[@]}"
