#!/usr/bin/env bash
# promtool and prometheus (Debian's `prometheus` package): the multi-instance suite checks the
# alert rules in deploy/prometheus/ with `promtool check rules`, and daemon/tests/metrics_format.rs
# checks /metrics with `promtool check metrics` and has a `prometheus` scrape it (each started by
# the test on its own port; the package's prometheus service is not used by any test).
# Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib/debian.sh"
debian_install promtool prometheus
debian_install prometheus prometheus
