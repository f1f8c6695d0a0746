#!/usr/bin/env bash
# Several daemons as one service (issue 20): three `sessiond` behind HAProxy on PostgreSQL +
# Redis + moto S3, traffic through the balancer during a rolling restart and a SIGKILL
# (driver: tests/examples/multi_e2e.rs; the three share an audit.hmac_key, and `sessionctl audit
# verify` checks their one chain at the end), then the deployment files: the HAProxy config, the
# Prometheus alert rules (promtool) and the systemd unit (systemd-analyze, when present).
# Needs: scripts/provision/{haproxy,prometheus,moto}.sh; PostgreSQL and Redis (scripts/services.sh).
# Bounded: the driver is killed after 6 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SESSIOND_TEST_TOOLS=${SESSIOND_TEST_TOOLS:-$PWD/target/test-tools}

passed=0
failed=0
check() { # check "what" command...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $what"; else failed=$((failed + 1)); echo "FAIL $what"; fi
}

for tool in haproxy promtool; do
  command -v "$tool" >/dev/null || { echo "FAIL $tool is missing: run scripts/provision/*.sh"; exit 1; }
done

export SESSIOND_FRONT=127.0.0.1:1 SESSIOND_1=127.0.0.1:2 SESSIOND_2=127.0.0.1:3 SESSIOND_3=127.0.0.1:4
check "deploy/haproxy/haproxy.cfg is valid" haproxy -c -q -f deploy/haproxy/haproxy.cfg
unset SESSIOND_FRONT SESSIOND_1 SESSIOND_2 SESSIOND_3
check "deploy/prometheus/alerts.yml (promtool check rules)" promtool check rules deploy/prometheus/alerts.yml
check "deploy/prometheus/alerts_test.yml (promtool test rules)" promtool test rules deploy/prometheus/alerts_test.yml
check "deploy/prometheus/prometheus.yml (promtool check config)" promtool check config --syntax-only deploy/prometheus/prometheus.yml
verify_unit() { # any output of `systemd-analyze verify` (unknown key, bad value) is a failure
  local dir out
  dir=$(mktemp -d)
  # `verify` wants ExecStart's binary to exist: check a copy pointing at this build.
  sed "s#/usr/local/bin/sessiond#$PWD/target/debug/sessiond#" deploy/sessiond.service >"$dir/sessiond.service"
  out=$(systemd-analyze verify "$dir/sessiond.service" 2>&1) || true
  rm -rf "$dir"
  [ -z "$out" ] || { echo "$out"; return 1; }
}
# sessiond and sessionctl as test-all's `cargo test` built them (a no-op after it; see conformance.sh).
cargo test --quiet --workspace --all-targets --no-run
if command -v systemd-analyze >/dev/null 2>&1; then
  check "deploy/sessiond.service (systemd-analyze verify)" verify_unit
else
  echo "note: systemd-analyze is not installed; deploy/sessiond.service is not verified"
fi

cargo build --quiet -p sessiond-tests --example multi_e2e
if timeout --kill-after=10 360 target/debug/examples/multi_e2e; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL multi-instance end-to-end (tests/examples/multi_e2e.rs)"
fi
echo "multi suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
