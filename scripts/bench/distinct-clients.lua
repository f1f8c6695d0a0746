-- wrk script: GET /api/session/<not-a-uuid> (a cheap, rate-limited route) from a new client
-- address per request, through X-Forwarded-For (run the daemon with 127.0.0.1 as a trusted
-- proxy). Addresses cycle through BENCH_CLIENTS distinct ones (default 1 000 000, PERF.md's
-- figure); each wrk thread starts at its own offset (BENCH_OFFSET, default 0).
local n = tonumber(os.getenv("BENCH_OFFSET") or "0")
local clients = tonumber(os.getenv("BENCH_CLIENTS") or "1000000")
function request()
  n = n + 1
  local m = n % clients
  local ip = string.format("10.%d.%d.%d", math.floor(m / 65536) % 256, math.floor(m / 256) % 256, m % 256)
  return wrk.format("GET", "/api/session/x", { ["X-Forwarded-For"] = ip })
end
