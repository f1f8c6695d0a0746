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
DAEMON_PID=
cleanup() { [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

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
env -i PATH="$PATH" HOME="$HOME" SESSIOND_SERVER__LISTEN=127.0.0.1:0 SESSIOND_LOG__FORMAT=json \
  SESSIOND_LOG__LEVEL=warn,sessiond::server=info SESSIOND_JOBS__ENABLED=false SESSIOND_RATE_LIMIT__ENABLED=false \
  SESSIOND_STORAGE__FS__ROOT="$WORK/objects" SESSIOND_DATABASE__URL="$URL" ${BENCH_DAEMON_ENV:-} \
  "${BENCH_SESSIOND:-$BIN/sessiond}" 2>"$WORK/daemon.log" >/dev/null &
DAEMON_PID=$!
ADDR=
for _ in $(seq 1 200); do
  ADDR=$(grep -o '"listen":"[^"]*"' "$WORK/daemon.log" 2>/dev/null | head -n1 | cut -d'"' -f4 || true)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "one.sh: the daemon did not start:" >&2; cat "$WORK/daemon.log" >&2; exit 1; }

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
PERF_PID=
if [ "$PROFILE" = perf ]; then
  (sleep 1 && exec perf record -q -a -g -F 499 -o "$OUT/perf.data" -- sleep 7 >/dev/null 2>&1) &
  PERF_PID=$!
fi
before=$(busy)
line=$(wrk -t1 -c32 -d"$DUR" --latency -s "scripts/bench/$LOAD.lua" "http://$ADDR" -- "$WORK/uuids.txt" | grep '^RESULT')
after=$(busy)
[ -n "$PERF_PID" ] && wait "$PERF_PID"
echo "$line"
rps=$(sed -n 's|.*req/s=\([0-9.]*\).*|\1|p' <<<"$line")
awk -v r="$rps" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v d="${DUR%s}" \
  'BEGIN{printf "cpu_us_per_req=%.1f\n", t * 1e6 / hz / (r * d)}'
curl -s "http://$ADDR/metrics" | awk '/^sessiond_audit_batch_ops_sum/{s=$2} /^sessiond_audit_batch_ops_count/{c=$2}
  END{if (c > 0) printf "batches=%d ops_per_batch=%.1f\n", c, s / c}'
