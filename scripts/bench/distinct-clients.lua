-- wrk script: GET /api/session/<not-a-uuid> (a cheap, rate-limited route) from a new client
-- address per request, through X-Forwarded-For (run the daemon with 127.0.0.1 as a trusted
-- proxy). Each wrk thread starts at its own offset (BENCH_OFFSET, default 0).
local n = tonumber(os.getenv("BENCH_OFFSET") or "0")
function request()
  n = n + 1
  local ip = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format("GET", "/api/session/x", { ["X-Forwarded-For"] = ip })
end
