#!/usr/bin/env bash
# Memory of the memory backend under many distinct clients: RSS of a release sessiond before,
# right after DURATION of wrk sending one request per new client address (X-Forwarded-For via a
# trusted 127.0.0.1), and after idle keys are evicted (quota 10/minute: a key is idle 12 s after
# its request; the eviction timer runs every 30 s).
#
#   cargo build --release -p sessiond && scripts/bench/ratelimit-memory.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${BENCH_SESSIOND_BIN:-${CARGO_TARGET_DIR:-target}/release/sessiond}"
DURATION="${DURATION:-60s}"
WORK="$(mktemp -d)"
trap 'kill "${PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$WORK/c.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
trusted_proxies = ["127.0.0.1/32"]
[database]
url = "sqlite://$WORK/s.db"
[storage.fs]
root = "$WORK/objects"
[jobs]
enabled = false
[log]
level = "warn"
[rate_limit]
enabled = true
TOML
"$BIN" --config "$WORK/c.toml" serve >"$WORK/log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$PID/status"; }
keys() { curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^sessiond_rate_limit_keys / {print $2}'; }
echo "idle:            RSS $(rss)"
export BENCH_CLIENTS="${BENCH_CLIENTS:-1000000}"
echo "flood:           $DURATION, addresses cycling through $BENCH_CLIENTS distinct clients"
wrk -t1 -c32 -d"$DURATION" -s scripts/bench/distinct-clients.lua "http://127.0.0.1:$port" | grep -E 'requests in|Requests/sec|Non-2xx'
echo "after the flood: RSS $(rss), keys at the last sweep during the flood: $(keys)"
sleep 31   # at least one more sweep: every key is idle 12 s after its last request
echo "after eviction:  RSS $(rss), keys: $(keys)"
