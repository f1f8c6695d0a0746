#!/usr/bin/env bash
# One measurement on a freshly seeded database, for A/B experiments (docs/PERFORMANCE.md): the
# validate (or generate) load of `scripts/bench/run`, plus what the whole machine spent per
# request and the writer's batches, optionally with a whole-machine profile.
#
#   scripts/bench/one.sh sqlite|postgres [perf]
#   BENCH_LOAD=validate|generate (default validate)   BENCH_DURATION=10s
#   BENCH_DAEMON_ENV="SESSIOND_DATABASE__POSTGRES_WRITE_PIPELINE=4 …"   daemon settings to try
#   BENCH_PRE_SQL="…"     SQL run on the seeded PostgreSQL database before the daemon starts
#   BENCH_SESSIOND=path   another build of the daemon (A/B of two builds; default target/release)
#
# Prints the wrk RESULT line, `cpu_us_per_req` (all processes, from /proc/stat) and
# `batches=N ops_per_batch=M` (the daemon's sessiond_audit_batch_ops). With `perf`, 7 s of
# `perf record -a -g` go to target/bench-one/perf.data (`perf report --sort comm`).
set -euo pipefail
cd "$(dirname "$0")/../.."
DB=${1:?usage: scripts/bench/one.sh sqlite|postgres [perf]}
PROFILE=${2:-}
LOAD=${BENCH_LOAD:-validate}
DUR=${BENCH_DURATION:-10s}
PG_ADMIN=${SESSIOND_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
OUT=$PWD/target/bench-one
mkdir -p "$OUT"

cargo build --release -q -p sessiond -p sessiond-bench --bins
BIN=$PWD/target/release
WORK=$(mktemp -d /tmp/sessiond-bench-one.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
# start_daemon, busy_ticks, cpu_us_per_req (and BENCH_SESSIOND)
source scripts/bench/daemon.sh

case $DB in
  sqlite) URL="sqlite://$WORK/bench.db" ;;
  postgres)
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS sessiond_bench_one WITH (FORCE)" -c "CREATE DATABASE sessiond_bench_one" >/dev/null
    URL="${PG_ADMIN%/*}/sessiond_bench_one" ;;
  *) echo "one.sh: sqlite or postgres, not $DB" >&2; exit 2 ;;
esac
"$BIN/seed" --database-url "$URL" --count "${BENCH_SESSIONS:-100000}" --sample 20000 --out "$WORK/uuids.txt" >/dev/null
if [ -n "${BENCH_PRE_SQL:-}" ]; then psql -q "$URL" -c "$BENCH_PRE_SQL"; fi
sync

# shellcheck disable=SC2086 # BENCH_DAEMON_ENV is a list of assignments
start_daemon "$WORK/daemon.log" SESSIOND_DATABASE__URL="$URL" SESSIOND_RATE_LIMIT__ENABLED=false ${BENCH_DAEMON_ENV:-}
PERF_PID=
if [ "$PROFILE" = perf ]; then
  (sleep 1 && exec perf record -q -a -g -F 499 -o "$OUT/perf.data" -- sleep 7 >/dev/null 2>&1) &
  PERF_PID=$!
fi
before=$(busy_ticks)
line=$(wrk -t1 -c32 -d"$DUR" --latency -s "scripts/bench/$LOAD.lua" "http://$ADDR" -- "$WORK/uuids.txt" | grep '^RESULT')
after=$(busy_ticks)
[ -n "$PERF_PID" ] && wait "$PERF_PID"
echo "$line"
rps=$(sed -n 's|.*req/s=\([0-9.]*\).*|\1|p' <<<"$line")
echo "cpu_us_per_req=$(cpu_us_per_req "$before" "$after" "$rps" "${DUR%s}")"
curl -s "http://$ADDR/metrics" | awk '/^sessiond_audit_batch_ops_sum/{s=$2} /^sessiond_audit_batch_ops_count/{c=$2}
  END{if (c > 0) printf "batches=%d ops_per_batch=%.1f\n", c, s / c}'
