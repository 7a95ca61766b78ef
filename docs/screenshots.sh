#!/usr/bin/env bash
# The README's screenshots of the leaderboard and of one report, from the runs in EXPORTS
# (default: the reference set, reference/; or a runs folder `zoo run --all` filled), with headless
# Chromium and no network.
#   docs/screenshots.sh [EXPORTS]
set -euo pipefail
cd "$(dirname "$0")/.."
exports="$(cd "${1:-reference}" && pwd)"
chromium="${CHROMIUM:-chromium}"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT

shot() {  # shot OUTPUT.png WIDTH,HEIGHT PAGE
    "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
        --user-data-dir="$profile" --window-size="$2" --screenshot="$1" "file://$exports/$3" 2>/dev/null
    echo "$1"
}

shot docs/leaderboard.png 1280,560 index.html
shot docs/report.png 1280,1640 mnist_mlp_rmsprop/report.html
