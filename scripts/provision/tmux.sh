#!/usr/bin/env bash
# tmux drives the console's end-to-end test (tui/tests/tmux_e2e.rs): install it when missing.
set -euo pipefail
. "$(dirname "$0")/lib/debian.sh"
debian_install tmux tmux
