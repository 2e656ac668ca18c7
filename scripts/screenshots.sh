#!/bin/sh
# screenshots.sh: renews docs/screenshots/*.png from the real system: the
# browser tests run the real simulator and daemon and, with
# UPDATE_SCREENSHOTS=1, save the panel in its states (light, dark, German,
# faults, UNKNOWN, a phone) on the way.
#
#   scripts/screenshots.sh [BUILD]      (default: build)
set -eu

cd "$(dirname "$0")/.."
build=${1:-build}
[ -x "$build/massaged" ] || { echo "screenshots: build first (make BUILD=$build tests)" >&2; exit 1; }
cd tests/browser
[ -d node_modules ] || npm ci --no-audit --no-fund --silent
MASSAGED_BUILD=$build UPDATE_SCREENSHOTS=1 node --test --test-concurrency=1 \
    panel.test.mjs room.test.mjs
ls -l ../../docs/screenshots
