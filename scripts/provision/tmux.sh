#!/usr/bin/env bash
# tmux drives the console's end-to-end test (tui/tests/tmux_e2e.rs): install it when missing.
set -euo pipefail
if command -v tmux >/dev/null 2>&1; then
  exit 0
fi
echo "installing tmux"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq tmux
command -v tmux >/dev/null
