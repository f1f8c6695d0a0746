#!/usr/bin/env bash
# The cost of the rate limiter: validate-uuid req/s with limiting disabled, enabled on the memory
# backend and enabled on the Redis backend (quota raised out of the way: 1000000/second), in one
# run, on SQLite, release build. 1 wrk thread, 32 connections, DURATION seconds each.
#
#   cargo build --release -p sessiond && scripts/bench/ratelimit-cost.sh
#
# Needs wrk (apt-get install -y wrk) and, for the redis row, Redis on 127.0.0.1:6379.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${BENCH_SESSIOND_BIN:-${CARGO_TARGET_DIR:-target}/release/sessiond}"
DURATION="${DURATION:-10s}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
ROUNDS="${ROUNDS:-1}"
[ -x "$BIN" ] || { echo "build first: cargo build --release -p sessiond" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'kill "${PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_one() { # name, extra TOML lines for [rate_limit]
  local name="$1" rl="$2" port db
  port="$(free_port)"
  db="$WORK/$name.db"
  cat > "$WORK/$name.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[database]
url = "sqlite://$db"
[storage.fs]
root = "$WORK/objects"
[jobs]
enabled = false
[log]
level = "warn"
[rate_limit]
$rl
TOML
  "$BIN" --config "$WORK/$name.toml" serve >"$WORK/$name.log" 2>&1 &
  PID=$!
  local ready=
  for _ in $(seq 1 200); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.05
  done
  [ -n "$ready" ] || { echo "sessiond ($name) did not start:" >&2; cat "$WORK/$name.log" >&2; exit 1; }
  local id
  id="$(curl -fsS -X POST "http://127.0.0.1:$port/api/session/generate-uuid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')"
  # Check the headers are (or are not) there before measuring.
  local hdr
  hdr="$(curl -sS -o /dev/null -D - -X POST -H 'content-type: application/json' \
        -d "{\"uuid\":\"$id\"}" "http://127.0.0.1:$port/api/session/validate-uuid" | tr -d '\r' | grep -i '^ratelimit-limit' || true)"
  local out
  out="$(BENCH_UUID="$id" wrk -t1 -c32 -d"$DURATION" --latency -s scripts/bench/validate-uuid.lua "http://127.0.0.1:$port")"
  local rps non2xx p
  rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  non2xx="$(echo "$out" | awk '/Non-2xx/ {print $NF}')"
  p="$(echo "$out" | grep '^p50_ms')"
  printf '%-10s req/s=%-10s non2xx=%-6s %s  [%s]\n' "$name" "$rps" "${non2xx:-0}" "$p" "${hdr:-no RateLimit headers}"
  kill "$PID"; wait "$PID" 2>/dev/null || true
  PID=
}

for round in $(seq 1 "$ROUNDS"); do
  echo "# round $round ($(date -u +%FT%TZ), $(nproc) cores)"
  run_one disabled "enabled = false"
  run_one memory   "enabled = true
backend = \"memory\"
default = \"1000000/second\""
  run_one redis    "enabled = true
backend = \"redis\"
redis_url = \"$REDIS_URL\"
redis_key_prefix = \"sessiond-bench:$$:\"
default = \"1000000/second\""
done
