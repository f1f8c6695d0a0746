#!/usr/bin/env bash
# Retention under validate-uuid load (PERF.md target: API p99 ≤ 20 ms while 1 M old audit
# events are purged). Not part of scripts/test-all.
#   scripts/bench/retention.sh [sqlite|postgres] [rows, default 1000000] [batch, default 5000]
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/services.sh >/dev/null
exec cargo run --quiet --release -p sessiond-tests --example retention_bench -- "${1:-sqlite}" "${2:-1000000}" "${3:-5000}"
