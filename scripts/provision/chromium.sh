#!/usr/bin/env bash
# Debian's Chromium drives the web client's end-to-end tests (scripts/suites/web.sh, through
# playwright-core with executablePath /usr/bin/chromium; no browser is ever downloaded by npm).
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "installing chromium"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
fi
if ! $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null; then
  # A stale package list: refresh once and try again.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
fi
test -x /usr/bin/chromium
