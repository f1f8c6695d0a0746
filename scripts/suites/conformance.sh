#!/usr/bin/env bash
# API conformance: schemathesis 4 (scripts/provision/schemathesis.sh) against a running debug
# daemon, once on SQLite and once on PostgreSQL (a database of its own, dropped afterwards).
# Every check (`--checks all`), 100 examples per operation, every phase including the stateful
# one, rate limiting off. Any finding fails the suite. Bounded: each run is killed after
# $CONFORMANCE_MAX_SECS (default 180) seconds and that counts as a failure.
#
#   scripts/suites/conformance.sh            both databases
#   scripts/suites/conformance.sh sqlite     one of them (sqlite | postgres)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
tools=${SESSIOND_TEST_TOOLS:-$root/target/test-tools}
st="$tools/schemathesis/bin/st"
max_secs=${CONFORMANCE_MAX_SECS:-180}
examples=${CONFORMANCE_EXAMPLES:-100}
pg_admin=${SESSIOND_TEST_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}

if [ ! -x "$st" ]; then
  echo "conformance: schemathesis missing at $st (run scripts/provision/schemathesis.sh)" >&2
  exit 1
fi
command -v psql >/dev/null || { echo "conformance: psql missing" >&2; exit 1; }

echo "conformance: building target/debug/sessiond"
# The same build as test-all's `cargo test` (a no-op after it): `cargo build -p sessiond` alone
# resolves other features for shared dependencies and rebuilt them (76 s of CI on 2 cores).
cargo test --quiet --workspace --all-targets --no-run
bin="$root/target/debug/sessiond"

work=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-conformance.XXXXXX")
daemon_pid=""
pg_db=""
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  if [ -n "$pg_db" ]; then psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Start the daemon on an ephemeral port; set $addr once it says it is ready.
addr=""
start_daemon() {
  local db_url=$1 dir=$2
  mkdir -p "$dir/objects"
  (
    cd "$dir"
    exec env SESSIOND_SERVER__LISTEN=127.0.0.1:0 \
      SESSIOND_DATABASE__URL="$db_url" \
      SESSIOND_STORAGE__BACKEND=fs \
      SESSIOND_STORAGE__FS__ROOT="$dir/objects" \
      SESSIOND_RATE_LIMIT__ENABLED=false \
      SESSIOND_JOBS__ENABLED=false \
      SESSIOND_EMAIL__ENABLED=false \
      SESSIOND_LOG__FORMAT=text \
      SESSIOND_LOG__LEVEL=info \
      NO_COLOR=1 \
      "$bin" serve
  ) >"$dir/daemon.log" 2>&1 &
  daemon_pid=$!
  local i
  addr=""
  for i in $(seq 1 300); do   # up to 30 s
    addr=$(sed -n 's/.*sessiond ready.*listen=\([0-9.:]*\).*/\1/p; s/.*listen=\([0-9.:]*\).*sessiond ready.*/\1/p' "$dir/daemon.log" | head -n1)
    [ -n "$addr" ] && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    echo "conformance: the daemon did not become ready" >&2
    cat "$dir/daemon.log" >&2
    return 1
  fi
}

stop_daemon() {
  kill "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=""
}

run_one() {
  local kind=$1 dir="$work/$1" db_url
  mkdir -p "$dir"
  case $kind in
    sqlite) db_url="sqlite://$dir/sessiond.db?mode=rwc" ;;
    postgres)
      pg_db="sessiond_conformance_$$_$RANDOM"
      psql -q "$pg_admin" -c "CREATE DATABASE $pg_db" >/dev/null
      db_url="${pg_admin%/*}/$pg_db"
      ;;
    *) echo "conformance: unknown database $kind" >&2; return 2 ;;
  esac
  start_daemon "$db_url" "$dir" || return 1
  echo "conformance: $kind daemon at $addr; schemathesis (${examples} examples, at most ${max_secs}s)"
  local started=$SECONDS rc=0
  # Run from the scratch directory: schemathesis keeps a cache of past failures in its working
  # directory (.schemathesis/), and every run here starts from nothing.
  (cd "$dir" && SCHEMATHESIS_HOOKS="$root/scripts/suites/conformance/hooks.py" \
    timeout --kill-after=10 "$max_secs" "$st" --config-file "$root/scripts/suites/conformance/schemathesis.toml" \
    run "http://$addr/api/openapi.json" \
    --checks all \
    --max-examples "$examples" \
    --phases examples,coverage,fuzzing,stateful \
    --workers 1 \
    --seed "${CONFORMANCE_SEED:-16}" \
    --request-timeout 10 \
    --suppress-health-check too_slow,filter_too_much \
    --report junit --report-dir "$dir/report" \
    --generation-database none \
    --no-color) || rc=$?
  echo "conformance: $kind finished in $((SECONDS - started))s (exit $rc)"
  stop_daemon
  if [ "$kind" = postgres ]; then
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null
    pg_db=""
  fi
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "conformance: $kind run exceeded ${max_secs}s" >&2
    mkdir -p "$root/target/conformance"
    cp -r "$dir/report" "$dir/daemon.log" "$root/target/conformance/" 2>/dev/null || true
    return "$rc"
  fi
}

kinds=("$@")
[ ${#kinds[@]} -eq 0 ] && kinds=(sqlite postgres)
failed=0
for kind in "${kinds[@]}"; do
  run_one "$kind" || failed=1
done
if [ "$failed" -ne 0 ]; then
  echo "conformance: FAILED (reports and daemon log in target/conformance/)" >&2
  exit 1
fi
echo "conformance: OK (${kinds[*]})"
