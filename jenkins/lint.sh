#!/usr/bin/env bash
# Lint jenkins/Jenkinsfile offline with npm-groovy-lint (from the npm
# registry; it runs CodeNarc on the machine's Java). Installed once into the
# cache directory, outside the repository:
# ${DJANGO_OVERLAY_CACHE:-${XDG_CACHE_HOME:-~/.cache}/django-overlay}/tools/npm-groovy-lint.
set -euo pipefail

cd "$(dirname "$0")/.."

cache=${DJANGO_OVERLAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/django-overlay}
tool="$cache/tools/npm-groovy-lint"
version=16
if [[ ! -x "$tool/node_modules/.bin/npm-groovy-lint" ]]; then
    mkdir -p "$tool"
    npm install --no-audit --no-fund --prefix "$tool" "npm-groovy-lint@$version"
fi
# --failon warning: a warning fails CI as an error does; --noserver: no
# CodeNarc server left running after the lint.
# The JVM the linter starts would leave /tmp/hsperfdata_$USER behind.
export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:+$JAVA_TOOL_OPTIONS }-XX:-UsePerfData"
"$tool/node_modules/.bin/npm-groovy-lint" --noserver --failon warning \
    --config jenkins/.groovylintrc.json jenkins/Jenkinsfile
