#!/usr/bin/env bash
# promtool (Debian's `prometheus` package): the multi-instance suite checks the alert rules in
# deploy/prometheus/ with `promtool check rules`. Idempotent. The package's prometheus service
# is not used by any test.
set -euo pipefail
. "$(dirname "$0")/lib/debian.sh"
debian_install promtool prometheus
