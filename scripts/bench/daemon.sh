# Shared by the benchmark scripts (sourced): a daemon started for a measurement, and the CPU the
# whole machine spent per request. Needs BIN (release binaries) and WORK (a scratch directory);
# BENCH_SESSIOND runs another build of the daemon (an A/B of two builds).

start_daemon() { # log-file, env assignments...: sets DAEMON_PID and ADDR, adds the pid to PIDS
  local log=$1; shift
  env -i PATH="$PATH" HOME="$HOME" SESSIOND_SERVER__LISTEN=127.0.0.1:0 SESSIOND_LOG__FORMAT=json \
    SESSIOND_LOG__LEVEL=warn,sessiond::server=info SESSIOND_JOBS__ENABLED=false \
    SESSIOND_STORAGE__FS__ROOT="$WORK/objects" "$@" "${BENCH_SESSIOND:-$BIN/sessiond}" 2>"$log" >/dev/null &
  PIDS+=($!)
  DAEMON_PID=$!
  for _ in $(seq 1 200); do
    ADDR=$(grep -o '"listen":"[^"]*"' "$log" 2>/dev/null | head -n1 | cut -d'"' -f4 || true)
    [ -n "$ADDR" ] && return 0
    sleep 0.1
  done
  echo "bench: daemon did not start:" >&2; cat "$log" >&2; exit 1
}

stop_daemon() { kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; }

busy_ticks() { # CPU ticks the whole machine spent busy so far (/proc/stat: all but idle, iowait)
  awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat
}

cpu_us_per_req() { # ticks-before ticks-after req/s seconds: µs of machine CPU per request
  awk -v t=$(($2 - $1)) -v hz="$(getconf CLK_TCK)" -v r="$3" -v d="$4" 'BEGIN{printf "%.1f", t * 1e6 / hz / (r * d)}'
}
