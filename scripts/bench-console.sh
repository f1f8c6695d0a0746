#!/usr/bin/env bash
# Console timings on 1 M sessions (PERF.md: first frame < 300 ms, next page < 20 ms).
# Seeds a fresh database, runs the real `sessionctl` in an 80×24 tmux pane with
# SESSIONCTL_TRACE, pages forward N times, quits, and prints the trace.
#
#   scripts/bench-console.sh sqlite [sessions] [pages]
#   scripts/bench-console.sh postgres [sessions] [pages]
#
# Uses target/release/sessionctl and sessiond (which creates the schema) when they exist
# (cargo build --release -p sessionctl -p sessiond), else the debug binaries. Needs sqlite3 /
# psql and tmux.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-sqlite}
n=${2:-1000000}
pages=${3:-20}
bin=target/release/sessionctl
[ -x "$bin" ] || bin=target/debug/sessionctl
[ -x "$bin" ] || { echo "build sessionctl first (cargo build -p sessionctl)"; exit 1; }
# The schema is the daemon's to create (sessionctl never creates or migrates a database).
daemon=target/release/sessiond
[ -x "$daemon" ] || daemon=target/debug/sessiond
[ -x "$daemon" ] || { echo "build sessiond first (cargo build -p sessiond)"; exit 1; }
work=$(mktemp -d)
trap 'tmux -L bench-console kill-server 2>/dev/null || true; rm -rf "$work"' EXIT
now=$(($(date +%s) * 1000))
case "$kind" in
  sqlite)
    url="sqlite://$work/sessiond.db"
    SESSIOND_DATABASE__URL="$url" "$daemon" migrate >/dev/null
    sqlite3 "$work/sessiond.db" "PRAGMA cache_size=-400000;
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
      INSERT INTO user_sessions (id, status, created_at, last_seen_at, created_ip, last_ip)
      SELECT randomblob(16),
             CASE WHEN i % 50 = 0 THEN 'revoked' WHEN i % 7 = 0 THEN 'expired' ELSE 'active' END,
             $now - i * 1000, $now - i * 500, '10.0.' || (i % 200) || '.1', '10.0.' || (i % 200) || '.1'
      FROM n; ANALYZE;"
    ;;
  postgres)
    admin=${SESSIOND_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    db="sessiond_bench_$$"
    psql -q "$admin" -c "CREATE DATABASE $db"
    trap 'tmux -L bench-console kill-server 2>/dev/null || true; psql -q "$admin" -c "DROP DATABASE IF EXISTS '"$db"' WITH (FORCE)"; rm -rf "$work"' EXIT
    url="${admin%/*}/$db"
    SESSIOND_DATABASE__URL="$url" "$daemon" migrate >/dev/null
    psql -q "$url" -c "INSERT INTO user_sessions (id, status, created_at, last_seen_at, created_ip, last_ip)
      SELECT gen_random_uuid(),
             CASE WHEN i % 50 = 0 THEN 'revoked' WHEN i % 7 = 0 THEN 'expired' ELSE 'active' END,
             $now - i * 1000, $now - i * 500, '10.0.' || (i % 200) || '.1', '10.0.' || (i % 200) || '.1'
      FROM generate_series(1::bigint, $n) AS i" -c "VACUUM ANALYZE user_sessions"
    ;;
  *) echo "usage: $0 sqlite|postgres [sessions] [pages]"; exit 2 ;;
esac
wait_for() {
  for _ in $(seq 1 500); do
    if tmux -L bench-console capture-pane -p -t bench | grep -q "$1"; then return 0; fi
    sleep 0.02
  done
  echo "timed out waiting for: $1"; tmux -L bench-console capture-pane -p -t bench; exit 1
}
tmux -L bench-console new-session -d -x 80 -y 24 -s bench \
  "SESSIONCTL_TRACE=$work/trace $bin --database-url '$url' --no-mouse --read-only"
wait_for "page 1 "
for p in $(seq 2 $((pages + 1))); do
  tmux -L bench-console send-keys -t bench NPage
  wait_for "page $p "
done
tmux -L bench-console send-keys -t bench q
sleep 0.5
echo "binary: $bin, database: $kind, sessions: $n, pages: $pages"
awk '
  $1 == "page_query_ms" { q[++n] = $2 }
  $1 != "page_query_ms" { print $1, $2 }
  END {
    asort(q); s = 0; for (i = 1; i <= n; i++) s += q[i];
    printf "page_query_ms: n=%d median=%.2f p90=%.2f max=%.2f mean=%.2f\n", n, q[int((n + 1) / 2)], q[int(n * 0.9)], q[n], s / n
  }' "$work/trace"
