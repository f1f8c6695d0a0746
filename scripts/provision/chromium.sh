#!/usr/bin/env bash
# Debian's Chromium drives the web client's end-to-end tests (scripts/suites/web.sh, through
# playwright-core with executablePath /usr/bin/chromium; no browser is ever downloaded by npm).
# Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib/debian.sh"
debian_install chromium chromium
test -x /usr/bin/chromium
